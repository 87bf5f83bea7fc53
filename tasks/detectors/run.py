"""Run detectors of the registry on one series: the single way every caller runs a detector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks.detectors.registry import spec
from tasks.detectors.schema import OUTPUT_COLUMNS, Calibration, DetectorConfig, Series, long_frame, validate_frame


def run_detectors(
    frame: pd.DataFrame,
    names: Sequence[str],
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
    ensemble: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Run the named detectors on one series; long format, one row per (detector, date).

    Args:
        frame: ``(T, 3)`` date, actual, driver (see tasks.detectors.schema).
        names: registry names, run in this order.
        forecast: ``(T,)`` LSTM forecast; required by the detectors whose spec says ``needs_forecast``.
        config: detector settings.
        calibration: older (actual, forecast) pairs for the LSTM-based detectors only.
        ensemble: the forecaster's ``(T,)`` mean and spread; required by the forecast_* detectors.

    Returns:
        ``(len(names) x T, len(OUTPUT_COLUMNS))`` frame, rows grouped by detector in ``names`` order and
        by date inside each group. The series is validated once, and what several detectors share (a
        predictive distribution) is computed once.
    """
    return run_on_series(Series(validate_frame(frame), forecast, calibration, ensemble), names, config)


def run_on_series(series: Series, names: Sequence[str], config: DetectorConfig) -> pd.DataFrame:
    """:func:`run_detectors` on a series already built from a validated frame (whose shared values may already
    hold what its detectors need, see :func:`tasks.detectors.batch.prefill`)."""
    specs = [spec(name) for name in names]
    if not specs:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    return long_frame(series.data, [(item.name, item.load()(series, config)) for item in specs])


def detect(
    name: str,
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
    ensemble: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One detector's rows for one series (:func:`run_detectors` with one name)."""
    return run_detectors(frame, [name], forecast, config, calibration=calibration, ensemble=ensemble)
