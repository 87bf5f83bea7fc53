"""Daily operation: incremental days, revisions, duplicate files, reruns and backfill."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import hotspot_pipeline
from tasks.config import PipelineConfig
from tasks.overrides import apply_overrides
from tasks.store import ArtifactStore
from tests.conftest import SHIPPED

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
# Daily mechanics, not detection quality, are tested here: a smaller forecaster keeps the many runs quick.
FAST = apply_overrides(
    PipelineConfig(), {"train.epochs": 3, "forecast.members": 2, "forecast.epochs": 5, "forecast.robust_epochs": 2}
)
SOURCE = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
HISTORY_DAYS = 100  # 2022-05-14 .. 2022-08-21


def write_rows(path: Path, rows: pd.DataFrame) -> Path:
    rows.to_csv(path, index=False)
    return path


def data_day(i: int) -> date:
    return date(2022, 5, 14) + timedelta(days=i)


def ran(result: dict) -> list[str]:
    return [stage for stage, status in result["stages"].items() if status == "ran" or status.startswith("trained")]


def test_five_daily_slices_update_incrementally(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    history = write_rows(tmp_path / "history.csv", SOURCE.iloc[:HISTORY_DAYS])
    first = hotspot_pipeline(
        config=FAST, input_path=str(history), store_dir=str(store.root), run_date=data_day(HISTORY_DAYS)
    )
    assert ran(first) == ["ingest", "validate", "scale", "train", "predict", "extract", "report"]

    for k in range(5):
        day = HISTORY_DAYS + k
        (store.incoming).mkdir(exist_ok=True)
        write_rows(store.incoming / f"day-{day}.csv", SOURCE.iloc[[day]])
        run_date = data_day(day + 1)
        result = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=run_date)
        # One new day: everything downstream of the data reruns; the model is still fresh (when_stale).
        assert ran(result) == ["ingest", "validate", "scale", "predict", "extract", "report"], result["stages"]
        assert result["stages"]["train"].startswith("reused model")
        report = pd.read_parquet(result["report"])
        assert report["date"].max() == pd.Timestamp(data_day(day))  # exactly the data so far
        assert len(report) == day + 1 - 2
        assert not any(store.incoming.glob("*.csv"))  # archived and removed

        before = Path(result["report"]).read_bytes()
        rerun = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=run_date)
        assert ran(rerun) == [], rerun["stages"]
        assert Path(rerun["report"]).read_bytes() == before

    ledger = store.ledger()
    assert ledger["origin"].tolist() == ["input"] + ["incoming"] * 5
    assert (ledger["status"] == "accepted").all()

    # A new run date without new data reuses the report, and its partition still holds the report itself.
    quiet = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=data_day(HISTORY_DAYS + 6))
    assert ran(quiet) == []
    assert_history_reads_as_a_hive_dataset(store, days=7)


def assert_history_reads_as_a_hive_dataset(store: ArtifactStore, days: int) -> None:
    """DuckDB and pyarrow.dataset read 07_report/run_date=*/report.parquet as one table, one partition per run
    date, each with the rows of that date's report; latest/ (a link beside the partitions) is not in it."""
    import glob

    import duckdb
    import pyarrow.dataset as ds

    layer = store.root / "07_report"
    expected = {day.isoformat(): len(pd.read_parquet(layer / f"run_date={day.isoformat()}" / "report.parquet"))
                for day, _ in store.manifests("report")}  # fmt: skip
    assert len(expected) == days
    query = f"SELECT run_date::VARCHAR, count(*) FROM read_parquet('{layer}/run_date=*/report.parquet', " \
            "hive_partitioning = true) GROUP BY ALL"  # fmt: skip
    assert dict(duckdb.sql(query).fetchall()) == expected
    # DuckDB's recursive glob does not follow the latest/ link, so it sees the same rows.
    recursive = f"SELECT count(*) FROM read_parquet('{layer}/**/report.parquet', hive_partitioning = true)"
    assert duckdb.sql(recursive).fetchall()[0][0] == sum(expected.values())
    dataset = ds.dataset(sorted(glob.glob(f"{layer}/run_date=*/report.parquet")), format="parquet",
                         partitioning="hive", partition_base_dir=str(layer))  # fmt: skip
    table = dataset.to_table(columns=["run_date", "is_hotspot"]).to_pandas()
    assert table.groupby("run_date").size().to_dict() == expected


def test_revision_is_applied_logged_and_marked_and_duplicate_file_is_a_no_op(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    history = write_rows(tmp_path / "history.csv", SOURCE.iloc[:60])
    hotspot_pipeline(config=FAST, input_path=str(history), store_dir=str(store.root), run_date=data_day(60))

    revised_day = SOURCE.iloc[[30]].copy()
    old_value = int(revised_day["new_confirmed_local"].iloc[0])
    revised_day["new_confirmed_local"] = str(old_value * 3)
    fix = write_rows(tmp_path / "fix.csv", revised_day)
    result = hotspot_pipeline(config=FAST, input_path=str(fix), store_dir=str(store.root), run_date=data_day(61))

    revisions = store.read_table("ingest", data_day(61), "revisions")
    assert revisions[["column", "old_value", "new_value"]].values.tolist() == [["confirmed", old_value, old_value * 3]]
    report = pd.read_parquet(result["report"]).set_index("date")
    day = pd.Timestamp(data_day(30))
    assert report.loc[day, "actual"] == old_value * 3
    assert report.loc[day, "revised"]
    assert report["revised"].sum() == 1

    again = hotspot_pipeline(config=FAST, input_path=str(fix), store_dir=str(store.root), run_date=data_day(61))
    assert ran(again) == []
    assert "already received (no-op)" in again["arrivals"][0]
    assert len(store.ledger()) == 2


def test_backfill_reports_use_only_data_up_to_each_date(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    days = [date(2022, 7, 1) + timedelta(days=i) for i in range(3)]
    for day in days:
        hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=day, backfill=True)
    reports = dict(store.manifests("report"))
    assert sorted(reports) == days
    for day in days:
        report = store.load_table(reports[day]["outputs"]["report"])
        assert report["date"].max() == pd.Timestamp(day)
    # latest points at the newest run date, even if an older date is backfilled afterwards
    hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=date(2022, 6, 20), backfill=True)
    assert pd.read_parquet(store.latest("report.parquet"))["date"].max() == pd.Timestamp(days[-1])
