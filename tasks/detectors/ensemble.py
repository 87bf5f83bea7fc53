"""Detectors on the driver-conditioned forecaster's ensemble forecast (tasks/forecast.py).

The same calibration and tests as lstm_calibrated and lstm_ewma (:mod:`tasks.detectors.counts`,
:mod:`tasks.detectors.ewma`): a past-only bias factor and negative-binomial dispersion from the forecast's
own residuals, trimmed of past outbreaks, read through Student's t; the EWMA of the day's signed z. What
differs: the forecast is the ensemble mean of a model that sees the target's recent days, today's driver and
the day of week; the calibration window is ``forecast_calibration_window_days`` (84: the forecast's residuals
are stable enough to use more of them); the EWMA's null sd is ``forecast_ewma_null`` (the larger of the AR(1)
formula and the EWMA's own robust sd, so a forecast that lags an epidemic wave for weeks does not alarm all
along); and, with ``forecast_spread``, the members' variance widens each day's predictive variance.
"""

from __future__ import annotations

import numpy as np

from tasks.detectors.counts import COLUMNS_KEY, _calibrated_cols, _predictive
from tasks.detectors.ewma import _ewma_cols
from tasks.detectors.schema import DetectorConfig, Series

ENSEMBLE_KEY = "ensemble_distribution"
"""Key of the ensemble forecast's predictive distribution in :attr:`Series.shared`."""


def ensemble_config(config: DetectorConfig) -> DetectorConfig:
    """``config`` with the forecast detectors' own calibration window and EWMA null."""
    return config.model_copy(
        update={
            "calibration_window_days": config.forecast_calibration_window_days,
            "ewma_null": config.forecast_ewma_null,
        }
    )


def ensemble_distribution(series: Series, config: DetectorConfig, name: str) -> dict[str, np.ndarray]:
    """The calibrated predictive distribution of the ensemble mean (shared by both detectors); ``config`` is the
    :func:`ensemble_config` one."""

    def make() -> dict[str, np.ndarray]:
        mean, spread = series.ensemble_for(name)
        extra = spread**2 if config.forecast_spread else None
        return _predictive(series.actual, mean, config, None, None, extra)

    return series.once(ENSEMBLE_KEY, make)


def forecast_calibrated(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """The forecaster's ensemble mean + the calibrated NB (one day at a time)."""
    cfg = ensemble_config(config)
    return series.once(
        COLUMNS_KEY.format("forecast_calibrated"),
        lambda: _calibrated_cols(series.actual, ensemble_distribution(series, cfg, "forecast_calibrated"), cfg),
    )


def forecast_ewma(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EWMA of forecast_calibrated's z, with the forecaster's EWMA null."""
    cfg = ensemble_config(config)
    return series.once(
        COLUMNS_KEY.format("forecast_ewma"),
        lambda: _ewma_cols(series.actual, ensemble_distribution(series, cfg, "forecast_ewma"), cfg),
    )
