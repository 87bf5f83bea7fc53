"""Behaviour: the study's method finds an injected surge and stays quiet on a clean series."""

from __future__ import annotations

import pytest

from tasks.config import PipelineConfig, apply_overrides
from tasks.extract import extract_hotspots
from tasks.predict import predict_roles
from tasks.scale import scale_series
from tasks.train import fit_model, make_windows
from tests.conftest import synthetic_pair

pytestmark = pytest.mark.slow
CONFIG = apply_overrides(PipelineConfig(), {"train.epochs": 30})


def run_method(frame):
    scaled, scalers = scale_series(frame, CONFIG.series)
    model, _ = fit_model(make_windows(scaled["driver_scaled"].to_numpy(), 2), CONFIG.train)
    report, _ = extract_hotspots(predict_roles(model, scaled, scalers, 2), CONFIG.extract.threshold_pct, 2)
    return report.set_index(report["date"].dt.strftime("%j").astype(int) - 1)


def test_injected_surge_days_are_hotspots_and_quiet_days_mostly_not() -> None:
    surge = (40, 41, 70)
    report = run_method(synthetic_pair(days=90, surge=surge))
    assert report.loc[list(surge), "is_hotspot"].all()
    # Days whose input window contains a surge day are disturbed too; judge only the others.
    disturbed = {d + k for d in surge for k in (0, 1, 2)}
    quiet = report.loc[~report.index.isin(disturbed), "is_hotspot"]
    assert quiet.mean() < 0.15, quiet[quiet].index.tolist()
