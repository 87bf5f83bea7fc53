import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.store import (
    LAYERS,
    ArtifactStore,
    StaleArtifact,
    StoreBusy,
    allowed_roots,
    confine,
    fingerprint,
    sha256_file,
)

RUN = date(2026, 11, 27)


def test_partition_path_is_pinned(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    assert store.path("extract", date(2022, 9, 12), "hotspots.parquet") == (
        tmp_path / "06_extract" / "run_date=2022-09-12" / "hotspots.parquet"
    )
    assert store.latest("report.parquet") == tmp_path / "07_report" / "latest" / "report.parquet"


def test_layers_are_numbered_in_pipeline_order() -> None:
    assert list(LAYERS.values()) == [
        "00_raw",
        "01_ingest",
        "02_validate",
        "03_scale",
        "04_train",
        "05_predict",
        "06_extract",
        "07_report",
        "08_backtest",  # the backtest flow's layer, after the pipeline's
    ]


def test_unknown_layer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown layer"):
        ArtifactStore(tmp_path).partition("nope", date(2022, 1, 1))


def test_write_table_round_trip_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    frame = pd.DataFrame({"a": [1, 2, 3]})
    ref = store.write_table("scale", date(2022, 1, 1), "scaled", frame)
    assert ref.rows == 3
    assert ref.path == "03_scale/run_date=2022-01-01/scaled.parquet"  # relative to the root: a store can move
    assert ref.sha256 == sha256_file(store.resolve(ref))
    pd.testing.assert_frame_equal(store.load_table(ref.to_dict()), frame)
    assert [p.name for p in store.resolve(ref).parent.iterdir()] == ["scaled.parquet"]


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    target = store.path("report", date(2022, 1, 1), "summary.md")
    store.write_with(target, lambda p: p.write_text("old"))

    def broken(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.write_with(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["summary.md"]


def test_rerun_of_a_date_overwrites_only_that_date(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.write_table("extract", date(2022, 1, 1), "hotspots", pd.DataFrame({"a": [1]}))
    store.write_table("extract", date(2022, 1, 2), "hotspots", pd.DataFrame({"a": [2]}))
    store.write_table("extract", date(2022, 1, 2), "hotspots", pd.DataFrame({"a": [3]}))
    assert store.read_table("extract", date(2022, 1, 1), "hotspots")["a"].tolist() == [1]
    assert store.read_table("extract", date(2022, 1, 2), "hotspots")["a"].tolist() == [3]


def test_receive_archives_by_content_logs_arrivals_and_never_rewrites(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    source = tmp_path / "in.csv"
    source.write_text("date,confirmed\n")
    arrived = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    first, new = store.receive(source, date(2022, 1, 1), "input", arrived)
    assert new
    assert first.path == f"00_raw/run_date=2022-01-01/{first.sha256[:16]}-in.csv"
    mtime = store.resolve(first).stat().st_mtime_ns
    again, new = store.receive(source, date(2022, 1, 2), "incoming", arrived)
    assert (again, new) == (first, False)
    assert store.resolve(first).stat().st_mtime_ns == mtime
    other = tmp_path / "other.csv"
    other.write_text("x\n")
    store.receive(other, date(2022, 1, 2), "url", arrived, status="rejected: no columns")
    ledger = store.ledger()
    assert ledger[["seq", "name", "origin", "run_date", "status"]].values.tolist() == [
        [1, "in.csv", "input", "2022-01-01", "accepted"],
        [2, "other.csv", "url", "2022-01-02", "rejected: no columns"],
    ]
    assert ledger["arrived_at"].iloc[0] == "2026-11-27T02:00:00+00:00"


def test_reuse_finds_intact_outputs_with_the_same_fingerprint(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    day1, day2 = date(2022, 1, 1), date(2022, 1, 2)
    ref = store.write_table("scale", day1, "scaled", pd.DataFrame({"a": [1]})).to_dict()
    key = fingerprint(stage="scale", inputs=["abc"])
    store.write_manifest("scale", day1, {"fingerprint": key, "outputs": {"scaled": ref}})
    assert store.reuse("scale", day2, fingerprint(stage="scale", inputs=["abd"])) is None
    hit = store.reuse("scale", day2, key)
    assert hit is not None and hit["reused_from"] == "2022-01-01" and hit["outputs"]["scaled"] == ref
    assert store.read_json("scale", day2, "_manifest")["reused_from"] == "2022-01-01"
    # the referenced file changed since (its date was re-run): no longer a hit
    store.write_table("scale", day1, "scaled", pd.DataFrame({"a": [2]}))
    assert store.reuse("scale", date(2022, 1, 3), key) is None


def test_fingerprint_is_order_independent_for_keys_and_sensitive_to_values() -> None:
    assert fingerprint(a=1, b={"x": 1, "y": 2}) == fingerprint(b={"y": 2, "x": 1}, a=1)
    assert fingerprint(a=1) != fingerprint(a=2)


def test_refs_outside_the_store_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(ValueError, match="outside the store"):
        store.resolve({"path": str(tmp_path / "elsewhere.parquet")})
    with pytest.raises(ValueError, match="outside the store"):
        store.resolve({"path": "../elsewhere.parquet"})


@pytest.mark.parametrize("how", ["move", "copy"])
def test_absolute_refs_of_an_older_store_are_read_from_the_store_they_are_in(tmp_path: Path, how: str) -> None:
    # Stores written before refs became relative recorded absolute paths; after `mv` or `cp -a` they
    # must read (and reuse) their own files, never the original location's.
    old = ArtifactStore(tmp_path / "old")
    ref = old.write_table("scale", date(2022, 1, 1), "scaled", pd.DataFrame({"a": [1]})).to_dict()
    absolute = ref | {"path": str(old.resolve(ref))}
    key = fingerprint(stage="scale")
    old.write_manifest("scale", date(2022, 1, 1), {"fingerprint": key, "outputs": {"scaled": absolute}})
    new_root = tmp_path / "new"
    (shutil.move if how == "move" else shutil.copytree)(old.root, new_root)
    store = ArtifactStore(new_root)
    assert store.resolve(absolute) == new_root / ref["path"]
    hit = store.reuse("scale", date(2022, 1, 2), key)
    assert hit is not None and store.load_table(hit["outputs"]["scaled"])["a"].tolist() == [1]


def test_publish_latest_switches_the_whole_set_at_once(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = store.write_with(store.path("report", date(2022, 1, 1), "summary.md"), lambda p: p.write_text("x"))
    store.publish_latest({"summary.md": first, "other.md": first}, date(2022, 1, 1))
    second = store.write_with(store.path("report", date(2022, 1, 2), "summary.md"), lambda p: p.write_text("y"))
    published = store.publish_latest({"summary.md": second}, date(2022, 1, 2))
    latest = tmp_path / "07_report" / "latest"
    assert latest.is_symlink() and published["summary.md"].read_text() == "y"
    assert sorted(p.name for p in latest.iterdir()) == ["_manifest.json", "summary.md"]  # no file of the old set
    assert store.latest_run_date() == "2022-01-02"
    assert len(list((tmp_path / ".published").glob(".latest.*"))) == 1  # the old set is gone
    # The report history's folder holds the run-date partitions and the link only (Hive-style readers).
    assert sorted(p.name for p in (tmp_path / "07_report").iterdir()) == ["latest", "run_date=2022-01-01",
                                                                         "run_date=2022-01-02"]  # fmt: skip


def test_reads_through_a_reference_check_the_content_hash(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.write_table("report", date(2022, 1, 1), "report", pd.DataFrame({"a": [1]})).to_dict()
    store.write_table("report", date(2022, 1, 1), "report", pd.DataFrame({"a": [2]}))  # an interrupted re-run
    with pytest.raises(StaleArtifact, match="changed after its manifest was written"):
        store.load_table(ref)
    with pytest.raises(StaleArtifact, match="changed after its manifest was written"):
        store.load_table(ref, filters=[("a", "==", 1)])  # a slice is checked too (the file hashed in blocks)
    with pytest.raises(StaleArtifact, match="changed after its manifest was written"):
        store.copy_artifact(ref, "report", date(2022, 1, 2), "copy.parquet")
    assert not store.partition("report", date(2022, 1, 2)).exists() or not any(
        store.partition("report", date(2022, 1, 2)).iterdir()
    )  # nothing half-copied is left


def test_lock_serialises_runs_and_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tasks.store import ArtifactStore\n"
            "with ArtifactStore(sys.argv[1]).lock(0, 'run A'):\n"
            "    print('locked', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = pytest.raises(StoreBusy, match=r"another run is using the store .* \(run A, pid \d+\); waited 0.5 s")
        with busy, ArtifactStore(tmp_path).lock(0.5, "run B"):
            pass
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs in the holder
        holder.wait()
    with ArtifactStore(tmp_path).lock(5, "run C"):
        assert (tmp_path / ".lock").read_text().startswith("run C, pid ")


def test_confine_rejects_dotdot_and_symlink_escapes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "ok.csv").write_text("x")
    (tmp_path / "secret.csv").write_text("x")
    (root / "in" / "link.csv").symlink_to(tmp_path / "secret.csv")
    assert confine(root / "in" / "ok.csv", [root]) == (root / "in" / "ok.csv").resolve()
    for escape in (root / "in" / ".." / ".." / "secret.csv", root / "in" / "link.csv", Path("/etc/passwd")):
        with pytest.raises(PermissionError, match="outside the allowed folders"):
            confine(escape, [root])


def test_allowed_roots_come_from_the_project_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOTSPOT_ALLOWED_ROOTS", f"{tmp_path}{os.pathsep}{tmp_path / 'b'}")
    assert allowed_roots()[1:] == [tmp_path.resolve(), (tmp_path / "b").resolve()]
    assert allowed_roots()[0] == Path(__file__).resolve().parents[2]


def parts_frame(lo: int, hi: int) -> pd.DataFrame:
    """Rows lo..hi-1 of a small long table with the column kinds of the detections (dates, strings, NaN, bools)."""
    k = pd.RangeIndex(lo, hi)
    return pd.DataFrame(
        {
            "date": pd.to_datetime("2022-05-14") + pd.to_timedelta(k % 5, unit="D"),
            "region": pd.Series([f"R{i // 5}" for i in k], dtype="str"),
            "score": np.where(k % 3 == 0, np.nan, k * 0.5),
            "is_hotspot": np.asarray(k % 4 == 0),
            "note": pd.Series(["" if i % 2 else f"note {i}" for i in k], dtype="str"),
        }
    ).astype({"date": "datetime64[us]"})


def test_table_parts_reads_back_as_the_parts_concatenated(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    parts = [parts_frame(0, 7), parts_frame(7, 7), parts_frame(7, 20)]
    with store.table_parts("extract", RUN, "detections", parts_frame(0, 0)) as out:
        for part in parts:
            out.write(part)
    whole = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(store.load_table(out.ref), whole, check_exact=True)
    assert out.ref.rows == 20 and out.parts == 2  # the empty part adds no row group
    import pyarrow.parquet as pq

    assert pq.ParquetFile(store.resolve(out.ref)).num_row_groups == 2
    kept = store.load_table(out.ref, filters=[("region", "==", "R1")])
    pd.testing.assert_frame_equal(kept, whole[whole["region"] == "R1"].reset_index(drop=True), check_exact=True)
    assert not [p for p in store.partition("extract", RUN).iterdir() if p.name.startswith(".")]


def test_table_parts_without_a_part_writes_the_empty_table(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with store.table_parts("predict", RUN, "forecasts", parts_frame(0, 0)) as out:
        pass
    read = store.load_table(out.ref)
    assert read.empty and list(read.columns) == list(parts_frame(0, 0).columns) and out.ref.rows == 0


def test_table_parts_that_fail_leave_the_previous_file_and_no_temp_file(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    before = store.write_table("extract", RUN, "detections", parts_frame(0, 3))
    with (
        pytest.raises(RuntimeError, match="chunk 2 failed"),
        store.table_parts("extract", RUN, "detections", parts_frame(0, 0)) as out,
    ):
        out.write(parts_frame(0, 5))
        raise RuntimeError("chunk 2 failed")
    pd.testing.assert_frame_equal(store.load_table(before), parts_frame(0, 3))
    assert not [p for p in store.partition("extract", RUN).iterdir() if p.name.startswith(".")]


def test_table_parts_refuse_a_part_with_other_columns(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with (
        pytest.raises(ValueError, match="part 2 has columns"),
        store.table_parts("extract", RUN, "detections", parts_frame(0, 0)) as out,
    ):
        out.write(parts_frame(0, 5))
        out.write(parts_frame(5, 9).drop(columns="note"))


def test_copy_artifact_is_byte_for_byte_and_hash_checked(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.write_table("extract", RUN, "detections", parts_frame(0, 9))
    copy = store.copy_artifact(ref, "report", RUN, "detections.parquet")
    assert store.resolve(copy).read_bytes() == store.resolve(ref).read_bytes()
    assert copy.sha256 == ref.sha256 and copy.rows == 9 and copy.path.startswith("07_report/")
