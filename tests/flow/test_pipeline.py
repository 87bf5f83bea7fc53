"""The whole flow under a temporary Prefect API, on a temporary store."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import hotspot_pipeline
from tasks.config import PipelineConfig
from tasks.overrides import apply_overrides
from tasks.schemas import (
    CANONICAL_COLUMNS,
    DETECTION_COLUMNS,
    FORECAST_COLUMNS,
    HOTSPOT_COLUMNS,
    PREDICTION_COLUMNS,
    REPORT_TABLE_COLUMNS,
    SCALED_COLUMNS,
    UNSCORED_COLUMNS,
)
from tasks.store import LAYERS, MANIFEST, ArtifactStore

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

RUN_DATE = date(2026, 11, 27)
FAST = apply_overrides(PipelineConfig(), {"train.epochs": 3})

EXPECTED_SCHEMAS = {
    ("ingest", "canonical"): CANONICAL_COLUMNS,
    ("scale", "scaled"): SCALED_COLUMNS,
    ("predict", "predictions"): PREDICTION_COLUMNS,
    ("predict", "forecasts"): FORECAST_COLUMNS,
    ("extract", "hotspots"): HOTSPOT_COLUMNS,
    ("extract", "unscored"): UNSCORED_COLUMNS,
    ("extract", "detections"): DETECTION_COLUMNS,
    ("report", "report"): REPORT_TABLE_COLUMNS,
    ("report", "detections"): DETECTION_COLUMNS,
}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArtifactStore, dict]:
    root = tmp_path_factory.mktemp("store")
    result = hotspot_pipeline(config=FAST, store_dir=str(root), run_date=RUN_DATE)
    return ArtifactStore(root), result


def test_every_stage_writes_its_documented_artifacts(first_run: tuple[ArtifactStore, dict]) -> None:
    store, result = first_run
    for (layer, name), columns in EXPECTED_SCHEMAS.items():
        assert list(store.read_table(layer, RUN_DATE, name).columns) == columns, (layer, name)
    for layer in LAYERS:
        if layer not in ("raw", "backtest"):  # the backtest layer belongs to the backtest flow
            assert store.path(layer, RUN_DATE, MANIFEST).is_file(), layer
    model_id = store.read_json("train", RUN_DATE, "_manifest")["model_id"]
    folder = store.registry(model_id)
    for name in ("model.keras", "scaler.json", "model_card.json", "history.parquet"):
        assert (folder / name).is_file(), name
    history = pd.read_parquet(folder / "history.parquet")
    assert list(history.columns) == ["epoch", "region", "loss"] and history["region"].nunique() == 33
    scalers = json.loads((folder / "scaler.json").read_text())
    assert len(scalers) == 33 and set(scalers["CN"]) == {"target", "driver"}
    card = store.registered_models()[0]
    assert card["model_id"] == model_id
    assert card["train_config"]["epochs"] == 3
    assert card["region_windows"]["CN"] == 105  # 120 windows minus 15 that touch the 5 driver gaps
    assert card["region_windows"]["Beijing"] == 36  # provincial asymptomatic lists cover 68 of 122 days
    # Ningxia published no asymptomatic case in the period: a constant driver teaches nothing.
    assert card["trained_on"]["Ningxia"] == "target" and card["trained_on"]["CN"] == "driver"
    assert sum(role == "driver" for role in card["trained_on"].values()) == 32
    assert {"tensorflow-cpu", "keras"} <= card["versions"].keys()
    assert set(result["figures"]) == {"fit", "target", "loss", "detection", "top_regions"}
    for figure in result["figures"].values():
        assert Path(figure).stat().st_size > 10_000
    assert Path(result["report"]) == store.latest("report.parquet")
    assert result["stages"]["train"].startswith("trained")
    report = pd.read_parquet(result["report"])
    assert (report["model_id"] == model_id).all()
    assert report["is_new"].equals(report["is_hotspot"])  # first report: every hotspot is new
    assert not report["revised"].any()
    assert (store.root / "07_report" / "latest" / "detections.parquet").is_file()  # what `hotspot explain` reads


def test_the_decider_decides_and_the_study_verdict_is_kept(first_run: tuple[ArtifactStore, dict]) -> None:
    store, _ = first_run
    report = pd.read_parquet(store.latest("report.parquet")).query("region == 'CN'")
    detections = pd.read_parquet(store.latest("detections.parquet")).query("region == 'CN'")
    decider = FAST.detect.decider
    assert (report["detector"] == decider).all()
    scored = report["deviation_pct"].notna()
    assert (report.loc[scored, "study_hotspot"] == (report.loc[scored, "deviation_pct"] > 10)).all()
    chosen = detections[detections["detector"] == decider].set_index("date")
    assert (report.set_index("date")["is_hotspot"] == chosen.loc[report["date"], "is_hotspot"]).all()
    hot = report[report["is_hotspot"]]
    # A small fraction of the 120 days, surges and drops (two-sided), each listing its decider among the agreeing.
    assert 0 < len(hot) <= 12, len(hot)
    assert hot["direction"].isin(["surge", "drop"]).all() and hot["agreeing"].str.contains(decider).all()
    surge, drop = hot[hot["direction"] == "surge"], hot[hot["direction"] == "drop"]
    # Beyond the band, or on its edge (the band's edges are counts at the alarm level), or carried by the EWMA.
    assert ((surge["actual"] >= surge["upper"]) | surge["upper"].isna()).all()
    assert ((drop["actual"] <= drop["lower"]) | drop["lower"].isna()).all()
    assert report["study_hotspot"].sum() > 3 * len(hot)  # the study's rule flags most days


def test_shipped_data_is_scored_forward_in_time(first_run: tuple[ArtifactStore, dict]) -> None:
    store, _ = first_run
    everything = pd.read_parquet(store.latest("report.parquet"))
    report = everything[everything["region"] == "CN"]
    assert len(report) == 120  # 122 days minus the first look_back days
    assert report["date"].is_monotonic_increasing
    assert report["date"].iloc[0] == pd.Timestamp("2022-05-16")
    unscored = store.read_table("report", RUN_DATE, "unscored")
    assert len(unscored[unscored["region"] == "CN"]) == 2
    assert store.read_table("validate", RUN_DATE, "quarantine").empty


def test_the_forecaster_sees_the_driver_and_only_the_past(first_run: tuple[ArtifactStore, dict]) -> None:
    store, _ = first_run
    forecasts = store.read_table("predict", RUN_DATE, "forecasts")
    made = forecasts[forecasts["forecast"].notna()]
    assert len(made) > 0 and (made["fit_day"] <= made["date"]).all()  # a day's model was fitted before it
    assert (made["forecast"] >= 0).all() and (made["forecast_spread"] >= 0).all()
    national = forecasts[forecasts["region"] == "CN"]
    assert (national["forecast_on"] == "driver").all() and national["driver_effect"].notna().sum() > 60
    # The provinces' drivers are too short or constant: they use the target's own history, and say why.
    provinces = forecasts[forecasts["region"] != "CN"].drop_duplicates("region")
    assert (provinces["forecast_on"] == "target").all() and (provinces["forecast_note"] != "").all()
    report = pd.read_parquet(store.latest("report.parquet"))
    cn = report[report["region"] == "CN"]
    assert (cn["forecast_on"] == "driver").all() and set(cn["driver_anomaly"]) <= {"surge", "drop", "none", ""}


def test_provinces_run_beside_the_national_series(first_run: tuple[ArtifactStore, dict]) -> None:
    store, _ = first_run
    report = pd.read_parquet(store.latest("report.parquet"))
    regions = pd.read_parquet(store.latest("regions.parquet"))
    assert report["region"].nunique() == 33 and len(regions) == 33
    assert regions["hotspots"].is_monotonic_decreasing and regions["hotspots"].sum() == report["is_hotspot"].sum()
    ningxia = regions.set_index("region").loc["Ningxia"]
    assert ningxia["trained_on"] == "target" and "driver is constant" in ningxia["model_note"]
    assert (report.loc[report["region"] == "Ningxia", "trained_on"] == "target").all()
    # XPCC has no confirmed figure on 37 days: those days are unscored, with the reason.
    unscored = store.read_table("report", RUN_DATE, "unscored")
    xpcc = unscored[unscored["region"].str.startswith("XPCC")]
    assert (xpcc["reason"] == "no published figure for the target on this day").sum() == 37
    summary = (store.root / "07_report" / "latest" / "summary.md").read_text()
    assert "in **33** region(s)" in summary and "## Regions (most hotspots first)" in summary


def test_rerun_of_the_same_date_gives_the_same_report(first_run: tuple[ArtifactStore, dict]) -> None:
    store, _ = first_run
    before = pd.read_parquet(store.latest("report.parquet"))
    result = hotspot_pipeline(config=FAST, store_dir=str(store.root), run_date=RUN_DATE)
    assert all(status.startswith("skipped") for status in result["stages"].values()), result["stages"]
    pd.testing.assert_frame_equal(before, pd.read_parquet(store.latest("report.parquet")))
    # Forcing a retrain with the same seed gives the same model and the same report.
    forced = apply_overrides(FAST, {"retrain.policy": "always"})
    shutil.rmtree(store.root / LAYERS["train"] / "registry")
    result = hotspot_pipeline(config=forced, store_dir=str(store.root), run_date=RUN_DATE)
    assert result["stages"]["train"].startswith("trained")
    pd.testing.assert_frame_equal(before, pd.read_parquet(store.latest("report.parquet")))
    assert len(list((store.root / LAYERS["report"]).glob("run_date=*"))) == 1


def test_the_report_records_what_produced_it(first_run: tuple[ArtifactStore, dict]) -> None:
    from tasks.provenance import config_hash
    from tasks.store import read_metadata

    store, result = first_run
    meta = read_metadata(store.path("report", RUN_DATE, "report.parquet"))
    assert meta["run_date"] == RUN_DATE.isoformat() and meta["record"] == "daily"
    assert meta["flow_run_id"] and meta["flow_run_name"] and meta["deployment"] is None
    assert meta["config"] == FAST.model_dump(mode="json") and meta["config_hash"] == config_hash(FAST)
    assert meta["model_id"] == store.read_json("train", RUN_DATE, "_manifest")["model_id"]
    assert {"python", "prefect", "tensorflow-cpu", "keras", "pandas", "great-expectations"} <= set(meta["versions"])
    summary = result["summary"]
    assert "## What produced this report" in summary and f"config hash: `{config_hash(FAST)}`" in summary


def test_an_experiment_never_changes_the_daily_record(first_run: tuple[ArtifactStore, dict]) -> None:
    from tasks.store import read_metadata

    store, _ = first_run
    daily = store.partition("report", RUN_DATE)
    before = {f.name: f.read_bytes() for f in daily.iterdir()}
    latest = (store.root / LAYERS["report"] / "latest").readlink()
    other = apply_overrides(FAST, {"extract.threshold_pct": 25})
    result = hotspot_pipeline(config=other, store_dir=str(store.root), run_date=RUN_DATE, record="experiment",
                              experiment="threshold-25")  # fmt: skip
    assert result["experiment"] == "threshold-25" and "no alert is sent" in result["message"]
    assert {f.name: f.read_bytes() for f in daily.iterdir()} == before
    assert (store.root / LAYERS["report"] / "latest").readlink() == latest
    assert sorted(p.name for p in (store.root / LAYERS["report"]).iterdir()) == ["latest", f"run_date={RUN_DATE}"]

    trial = ArtifactStore(store.root, experiment="threshold-25")
    assert trial.base == store.root / "experiments" / "threshold-25"
    report = trial.partition("report", RUN_DATE) / "report.parquet"
    assert report.is_file() and Path(result["report"]) == trial.latest("report.parquet")
    assert read_metadata(report)["record"] == "experiment threshold-25"
    assert read_metadata(report)["config"]["extract"]["threshold_pct"] == 25
    assert store.experiments() == ["threshold-25"]
    assert not trial.alert_path.exists()  # experiments never alert


def test_bad_input_fails_the_flow_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,confirmed,asymptomatic\n2022-01-01,-1,2\n2022-01-02,x,3\n")
    state = hotspot_pipeline(
        config=FAST, input_path=str(bad), store_dir=str(tmp_path / "store"), run_date=RUN_DATE, return_state=True
    )
    assert state.is_failed()
    with pytest.raises(Exception, match="no valid rows"):
        state.result()
    quarantine = ArtifactStore(tmp_path / "store").read_table("validate", RUN_DATE, "quarantine")
    assert quarantine["source_row"].tolist() == [2, 3]


def test_paths_outside_the_allowed_folders_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOT_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    state = hotspot_pipeline(
        config=FAST, input_path="/etc/passwd", store_dir=str(tmp_path / "allowed" / "store"), return_state=True
    )
    assert state.is_failed()
    with pytest.raises(PermissionError, match="outside the allowed folders"):
        state.result()
    escape = str(tmp_path / "allowed" / ".." / "elsewhere")
    state = hotspot_pipeline(config=FAST, store_dir=escape, return_state=True)
    with pytest.raises(PermissionError, match="outside the allowed folders"):
        state.result()
    assert not (tmp_path / "elsewhere").exists()


def test_a_store_started_on_the_national_file_alone_gets_the_provinces(tmp_path: Path) -> None:
    """Stores created before the provinces were shipped receive them on their next run; a user's own store does not."""
    from datetime import UTC, datetime

    from tasks.store import SHIPPED_INPUT

    older = ArtifactStore(tmp_path / "older")
    older.receive(SHIPPED_INPUT, date(2026, 11, 1), "shipped", datetime.now(UTC), "accepted")
    one_region = apply_overrides(FAST, {"series.region": "CN", "train.epochs": 1})
    hotspot_pipeline(config=one_region, store_dir=str(older.root), run_date=RUN_DATE)
    assert older.ledger()["name"].tolist() == ["china_nhc_national_2022.csv", "china_nhc_provinces_2022.csv"]
    canonical = older.read_table("ingest", RUN_DATE, "canonical")
    assert canonical["region"].nunique() == 33
    assert set(older.read_table("scale", RUN_DATE, "scaled")["region"]) == {"CN"}  # series.region still selects

    own = ArtifactStore(tmp_path / "own")
    hotspot_pipeline(config=one_region, input_path=str(SHIPPED_INPUT), store_dir=str(own.root), run_date=RUN_DATE)
    hotspot_pipeline(config=one_region, store_dir=str(own.root), run_date=RUN_DATE)
    assert own.ledger()["origin"].tolist() == ["input"]
