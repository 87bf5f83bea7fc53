"""Behaviour: the study's method finds injected surges and stays quiet on a clean series."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.config import PipelineConfig
from tasks.extract import extract_hotspots
from tasks.predict import fit_and_predict
from tasks.scale import scale_series
from tests.conftest import synthetic_pair

pytestmark = pytest.mark.slow
CONFIG = PipelineConfig()
SURGE = (30, 55, 75)


def run_method(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The study end to end on a frame -> report indexed by day number."""
    scaled, scalers = scale_series(frame, CONFIG.series)
    train = CONFIG.train.model_copy(update={"seed": seed})
    predictions = fit_and_predict(scaled, scalers, train, CONFIG.series)
    report, _ = extract_hotspots(predictions, 10.0, train.look_back)
    return report.set_index(report["date"].dt.day_of_year - 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_injected_surges_are_hotspots_and_quiet_days_are_not(seed: int) -> None:
    report = run_method(synthetic_pair(surge=SURGE, seed=seed), seed)
    assert report.loc[list(SURGE), "is_hotspot"].all(), report.loc[list(SURGE)]
    # A surge day sits in the next look_back days' input windows, which disturbs them too.
    disturbed = {day + k for day in SURGE for k in (1, 2)}
    quiet = report.loc[~report.index.isin(disturbed | set(SURGE))]
    assert not quiet["is_hotspot"].any(), quiet[quiet["is_hotspot"]]


def test_clean_series_gives_no_hotspot() -> None:
    report = run_method(synthetic_pair(seed=3), seed=3)
    assert len(report) == 88
    assert not report["is_hotspot"].any()


def test_odd_regions_do_not_stop_the_others() -> None:
    """A region reporting for one day, one without any driver figure, and a normal one with a surge:
    every stage runs, the normal region's surge is found, the others are explained."""
    from tasks.detectors.schema import detector_config
    from tasks.extract import apply_verdicts, detect_all
    from tasks.forecast import forecast_table
    from tasks.report.table import build_report, region_summary

    normal = synthetic_pair(days=60, surge=(45,), seed=5, factor=2.5).assign(region="Normal")
    no_driver = synthetic_pair(days=60, seed=6).assign(region="NoDriver", asymptomatic=float("nan"))
    one_day = synthetic_pair(days=1, seed=7).assign(region="OneDay")
    frame = pd.concat([normal, no_driver, one_day], ignore_index=True)
    scaled, scalers = scale_series(frame, CONFIG.series)
    predictions = fit_and_predict(scaled, scalers, CONFIG.train.model_copy(update={"epochs": 10}), CONFIG.series)
    forecasts = forecast_table(scaled, CONFIG.forecast, CONFIG.train.seed)
    study, unscored = extract_hotspots(predictions, 10.0, 2)
    detections = detect_all(predictions, detector_config(CONFIG.detect, 10.0), forecasts)
    hotspots = apply_verdicts(study, detections, CONFIG.detect.decider, forecasts)
    revisions = pd.DataFrame({"region": [], "date": [], "column": []})
    report = build_report(hotspots, revisions, None, "confirmed", "m")
    regions = region_summary(report, unscored).set_index("region")

    assert regions.loc["Normal", "trained_on"] == "driver"
    assert regions.loc["NoDriver", "trained_on"] == "target"
    assert regions.loc["NoDriver", "model_note"] == (
        "trained on the target's own history: no driver value published (the forecaster too)"
    )
    assert regions.loc["OneDay", "trained_on"] == "none" and regions.loc["OneDay", "days_scored"] == 0
    assert unscored.loc[unscored["region"] == "OneDay", "reason"].str.startswith("region not modelled").all()
    surge_day = normal["date"].iloc[45]
    flagged = report[(report["region"] == "Normal") & report["is_hotspot"]]
    assert surge_day in set(flagged["date"]), flagged
