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
