"""Many series at once: the calibrated count models of a chunk of regions in one vectorised pass.

The calibrated predictive distribution (:func:`tasks.detectors.counts._predictive`) and the calibrated detectors'
columns (:func:`tasks.detectors.counts._calibrated_cols`) are element-wise per day once their past windows are
formed, and every window is formed by :func:`tasks.detectors.schema.lagged_windows`, which reads a day before a
series' start as NaN (not published). So series laid end to end, each preceded by ``gap`` NaN days (at least the
longest window), give every day exactly the windows, and so exactly the values, it has alone: one pass over the
whole chunk replaces one pass per region, and the per-call overhead of scipy's distributions, not arithmetic, was
the cost of the detectors.

:func:`prefill` computes these products for many :class:`~tasks.detectors.schema.Series` and stores each in its
series' shared values under the key its detector asks for, so the detectors (run per series, as always) reuse them.
The EWMA detectors go the same way (their recursions restart at a NaN day), except the past autocorrelation of
z, whose running sums (:func:`tasks.detectors.schema.rolling_past_sum`) would round differently over a longer
array: it is taken per series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tasks.detectors.counts import COLUMNS_KEY, LSTM_KEY, NAIVE_KEY, _calibrated_cols, _predictive, naive_forecast
from tasks.detectors.ensemble import ENSEMBLE_KEY, ensemble_config
from tasks.detectors.ewma import _ewma_cols, ewma_autocorrelation
from tasks.detectors.schema import DetectorConfig, Series


def gap_days(config: DetectorConfig) -> int:
    """NaN days put before each series: more than any window the calibrated models read with ``config`` (the
    forecast detectors' own config carries their longer calibration window, see :func:`ensemble_config`)."""
    windows = (
        config.calibration_window_days, config.variance_level_days, config.guard_window_days,
        config.baseline_days + config.naive_guard_days,
    )  # fmt: skip
    return max(windows) + 1


def _laid_end_to_end(arrays: Sequence[np.ndarray], gap: int, fill: Any) -> tuple[np.ndarray, list[slice]]:
    """(T_i,) arrays -> one array with ``gap`` ``fill`` values before each, and the slice of each in it."""
    dtype = object if any(a.dtype == object for a in arrays) else "float64"
    pieces, slices, start = [], [], 0
    for values in arrays:
        pieces += [np.full(gap, fill, dtype=dtype), np.asarray(values, dtype=dtype)]
        start += gap
        slices.append(slice(start, start + values.shape[0]))
        start += values.shape[0]
    return (np.concatenate(pieces) if pieces else np.zeros(0)), slices


def _split(columns: dict[str, np.ndarray], slices: list[slice]) -> list[dict[str, np.ndarray]]:
    """One dict of (T,) arrays over the laid-out series -> one dict per series (copies, so none holds the rest)."""
    return [{key: values[part].copy() for key, values in columns.items()} for part in slices]


def batch_predictive(
    actuals: Sequence[np.ndarray],
    forecasts: Sequence[np.ndarray],
    config: DetectorConfig,
    notes: Sequence[np.ndarray] | None = None,
    extras: Sequence[np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """:func:`_predictive` (no older calibration pairs) of each (T_i,) series, computed in one pass; equal to
    calling it on each series alone."""
    gap = gap_days(config)
    actual, slices = _laid_end_to_end(actuals, gap, np.nan)
    forecast, _ = _laid_end_to_end(forecasts, gap, np.nan)
    note = None if notes is None else _laid_end_to_end(notes, gap, "")[0]
    extra = None if extras is None else _laid_end_to_end(extras, gap, np.nan)[0]
    return _split(_predictive(actual, forecast, config, None, note, extra), slices)


def batch_calibrated_cols(
    actuals: Sequence[np.ndarray], distributions: Sequence[dict[str, np.ndarray]], config: DetectorConfig
) -> list[dict[str, np.ndarray]]:
    """:func:`_calibrated_cols` of each series and its distribution, computed in one pass."""
    gap = gap_days(config)
    actual, slices = _laid_end_to_end(actuals, gap, np.nan)
    return _split(_calibrated_cols(actual, _laid_distribution(distributions, gap), config), slices)


def batch_ewma_cols(
    actuals: Sequence[np.ndarray], distributions: Sequence[dict[str, np.ndarray]], config: DetectorConfig
) -> list[dict[str, np.ndarray]]:
    """:func:`_ewma_cols` of each series and its distribution, computed in one pass. The past autocorrelation is
    taken per series first: its running sums would round differently over the laid-out array; everything else
    restarts at a NaN day (the EWMA and its discounted excess) or reads windows (its empirical sd)."""
    gap = gap_days(config)
    actual, slices = _laid_end_to_end(actuals, gap, np.nan)
    laid = _laid_distribution(distributions, gap)
    rho, _ = _laid_end_to_end([ewma_autocorrelation(d, config) for d in distributions], gap, 0.0)
    return _split(_ewma_cols(actual, laid, config, rho), slices)


def _laid_distribution(distributions: Sequence[dict[str, np.ndarray]], gap: int) -> dict[str, np.ndarray]:
    """Per-series distributions (dicts of (T_i,) arrays) laid end to end like their series."""
    text = ("reason", "clip_note")
    return {
        key: _laid_end_to_end([d[key] for d in distributions], gap, "" if key in text else np.nan)[0]
        for key in distributions[0]
    }


def _fill(
    series: Sequence[Series], key: str, compute: Callable[[Sequence[Series]], list[dict[str, np.ndarray]]]
) -> None:
    """Store ``compute(those series)`` under ``key`` in every series that does not hold it yet."""
    todo = [item for item in series if key not in item.shared]
    if todo:
        for item, value in zip(todo, compute(todo), strict=True):
            item.shared[key] = value


def prefill(series: Sequence[Series], names: Sequence[str], config: DetectorConfig) -> None:
    """Compute, for all ``series`` at once, the distributions and calibrated columns that the detectors ``names``
    will ask for, and keep them in each series' shared values (where :meth:`Series.once` finds them).

    Series without an LSTM forecast (or without an ensemble) are left to their detectors, which raise the usual
    error when they need one."""
    if not series:
        return
    wanted = set(names)
    if wanted & {"naive_calibrated", "naive_ewma"}:

        def naive(todo: Sequence[Series]) -> list[dict[str, np.ndarray]]:
            pairs = [naive_forecast(s.actual, config.baseline_days, config.naive_guard_days, config.period)
                     for s in todo]  # fmt: skip
            return batch_predictive([s.actual for s in todo], [m for m, _ in pairs], config, [n for _, n in pairs])

        _fill(series, NAIVE_KEY, naive)
    with_forecast = [s for s in series if s.forecast is not None and len(s.forecast) == len(s.data)]
    if wanted & {"lstm_calibrated", "lstm_ewma"} and with_forecast:
        _fill(with_forecast, LSTM_KEY, lambda todo: batch_predictive(
            [s.actual for s in todo], [np.asarray(s.forecast, dtype="float64") for s in todo], config))  # fmt: skip
    with_ensemble = [
        s for s in series if s.ensemble is not None and all(len(part) == len(s.data) for part in s.ensemble)
    ]
    ensemble = ensemble_config(config)
    if wanted & {"forecast_calibrated", "forecast_ewma"} and with_ensemble:

        def distributions(todo: Sequence[Series]) -> list[dict[str, np.ndarray]]:
            means = [np.asarray(s.ensemble[0], dtype="float64") for s in todo]  # type: ignore[index]
            spreads = [np.asarray(s.ensemble[1], dtype="float64") for s in todo]  # type: ignore[index]
            extras = [spread**2 for spread in spreads] if ensemble.forecast_spread else None
            return batch_predictive([s.actual for s in todo], means, ensemble, None, extras)

        _fill(with_ensemble, ENSEMBLE_KEY, distributions)
    for name, key, chosen, cfg, columns in (
        ("naive_calibrated", NAIVE_KEY, series, config, batch_calibrated_cols),
        ("lstm_calibrated", LSTM_KEY, with_forecast, config, batch_calibrated_cols),
        ("forecast_calibrated", ENSEMBLE_KEY, with_ensemble, ensemble, batch_calibrated_cols),
        ("naive_ewma", NAIVE_KEY, series, config, batch_ewma_cols),
        ("lstm_ewma", LSTM_KEY, with_forecast, config, batch_ewma_cols),
        ("forecast_ewma", ENSEMBLE_KEY, with_ensemble, ensemble, batch_ewma_cols),
    ):
        ready = [s for s in chosen if key in s.shared]
        if name in wanted and ready:
            _fill(ready, COLUMNS_KEY.format(name), lambda todo, key=key, cfg=cfg, columns=columns: columns(
                [s.actual for s in todo], [s.shared[key] for s in todo], cfg))  # fmt: skip
