"""The incoming/ folder and the store under attack or misuse (issue 11): nothing lost, nothing let in.

- symbolic links, folders and files resolving outside the store are refused unread and set aside;
- files that cannot be read, for whatever reason, are archived as rejected, named, and never block a later run;
- a daily update whose region cell is empty never revises the national series;
- a copied or moved store keeps working and reuses its outputs.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import hotspot_pipeline
from tasks.config import PipelineConfig
from tasks.overrides import apply_overrides
from tasks.store import ArtifactStore, sha256_file
from tests.conftest import SHIPPED

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
FAST = apply_overrides(PipelineConfig(), {"train.epochs": 2, "series.region": "CN"})
RUN_DATE = date(2022, 9, 13)


def statuses(result: dict) -> dict[str, str]:
    return result["stages"]


def first_run(store: ArtifactStore) -> dict:
    return hotspot_pipeline(config=FAST, input_path=str(SHIPPED), store_dir=str(store.root), run_date=RUN_DATE)


def test_poison_files_and_links_in_incoming_are_set_aside_and_never_block(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    first_run(store)
    secret = tmp_path / "outside" / "token.txt"
    secret.parent.mkdir()
    secret.write_text("date,confirmed,asymptomatic\n2022-09-12,1,1\n")
    incoming = store.incoming
    incoming.mkdir(exist_ok=True)
    (incoming / "token.csv").symlink_to(secret)
    (incoming / "folder").mkdir()
    (incoming / "dupes.csv").write_text("date,confirmed,asymptomatic,confirmed\n2022-09-12,1,1,2\n")
    long_name = "d" * 236 + ".csv"  # 240 characters: archived as hash + 120 characters, the ledger keeps it all
    (incoming / long_name).write_text("date,confirmed,asymptomatic\n2022-09-12,190,727\n")

    result = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=RUN_DATE)
    notes = "\n".join(result["arrivals"])
    assert "incoming token.csv: refused, a symbolic link" in notes
    assert "incoming folder: refused, a folder" in notes
    assert "incoming dupes.csv: rejected: dupes.csv: columns 2, 4 have the same name 'confirmed'" in notes
    assert f"incoming {long_name}: accepted, 1 rows" in notes
    assert sorted(p.name for p in incoming.iterdir()) == [".refused"]
    assert sorted(p.name.split("-", 1)[1] for p in (incoming / ".refused").iterdir()) == ["folder", "token.csv"]
    assert (incoming / ".refused").joinpath(next(p.name for p in (incoming / ".refused").iterdir() if "token" in
                                                 p.name)).is_symlink()  # fmt: skip
    # The link's target was never read into the store.
    ledger = store.ledger()
    assert sha256_file(secret) not in set(ledger["sha256"])
    assert not [p for p in (store.root / "00_raw").rglob("*") if p.is_file() and p.read_bytes() == secret.read_bytes()]
    rejected = ledger[ledger["status"].str.startswith("rejected")]
    assert rejected["name"].tolist() == ["dupes.csv"]
    assert long_name in set(ledger["name"])
    archived = ledger.loc[ledger["name"] == long_name, "archived"].iloc[0]
    assert len(Path(archived).name) == 16 + 1 + 120
    report = pd.read_parquet(result["report"])
    assert report.loc[report["date"] == "2022-09-12", "actual"].tolist() == [190]  # the revision arrived

    again = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=RUN_DATE)
    assert again["arrivals"] == [] and all(s.startswith("skipped") for s in statuses(again).values())


def test_a_blank_region_cell_never_revises_the_national_series(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    before = pd.read_parquet(first_run(store)["report"])
    store.incoming.mkdir(exist_ok=True)
    (store.incoming / "update.csv").write_text("date,region,confirmed,asymptomatic\n2022-09-12,,7,0\n")
    result = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=RUN_DATE)
    after = pd.read_parquet(result["report"])
    day = after["date"] == "2022-09-12"
    assert after.loc[day, "actual"].tolist() == before.loc[before["date"] == "2022-09-12", "actual"].tolist()
    assert not after["revised"].any()
    quarantine = pd.read_parquet(store.path("validate", RUN_DATE, "quarantine.parquet"))
    assert quarantine["reason"].tolist() == ["ingest error: region: empty cell"]


@pytest.mark.parametrize("how", ["mv", "cp -a"])
def test_a_moved_or_copied_store_keeps_working_and_reuses_its_outputs(tmp_path: Path, how: str) -> None:
    original = ArtifactStore(tmp_path / "store")
    report = Path(first_run(original)["report"]).read_bytes()
    moved = tmp_path / "elsewhere" / "store"
    moved.parent.mkdir()
    if how == "mv":
        shutil.move(original.root, moved)
    else:
        shutil.copytree(original.root, moved, symlinks=True)
    result = hotspot_pipeline(config=FAST, store_dir=str(moved), run_date=RUN_DATE)
    assert all(status.startswith("skipped") for status in statuses(result).values()), statuses(result)
    assert Path(result["report"]).read_bytes() == report
    assert Path(result["report"]).is_relative_to(moved)
    # Reading an older partition through its manifest works too (what `hotspot report --date` does).
    store = ArtifactStore(moved)
    manifest = dict(store.manifests("report"))[RUN_DATE]
    assert store.load_table(manifest["outputs"]["report"]).shape[0] == 120
