"""The reference study's rule, kept exactly: a hotspot iff |actual - predicted| / actual x 100 > 10 %."""

from __future__ import annotations

import numpy as np

from tasks.detectors.schema import DetectorConfig, Series, blank


def columns(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """The study's rule on the LSTM forecast, as ``(T,)`` output columns.

    deviation_pct = |actual - predicted| / actual x 100, with the raw forecast (negative values
    are kept: the study did not clip). At actual == 0 the ratio is undefined: score NaN (never
    inf), not a hotspot, note says why. The band [predicted / 1.1, predicted / 0.9] (for the
    default 10 %) is the set of actual values that are not hotspots; when predicted <= 0 every
    positive count is a hotspot and the band is NaN. There is no p-value; a hotspot is reported
    as severity "alarm" because the rule has a single level.
    """
    actual = series.actual
    predicted = series.forecast_for("seed")
    cols = blank(actual.shape[0])
    cols["expected"] = predicted
    ok = np.isfinite(actual) & np.isfinite(predicted)
    positive = ok & (actual > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = np.where(positive, 100.0 * np.abs(actual - predicted) / np.where(positive, actual, 1.0), np.nan)
    cols["score"] = deviation
    frac = config.seed_threshold_pct / 100.0
    band = np.isfinite(predicted) & (predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["lower"] = np.where(band, predicted / (1.0 + frac), np.nan)
        cols["upper"] = np.where(band, predicted / (1.0 - frac) if frac < 1 else np.inf, np.nan)
    hot = positive & (deviation > config.seed_threshold_pct)
    cols["is_hotspot"] = hot
    cols["severity"] = np.where(hot, "alarm", "none").astype(object)
    cols["direction"] = np.where(hot & (actual > predicted), "surge", np.where(hot, "drop", "none")).astype(object)
    notes = np.full(actual.shape[0], "", dtype=object)
    notes[~np.isfinite(actual)] = "no observed count"
    notes[np.isfinite(actual) & ~np.isfinite(predicted)] = f"no forecast for this {config.period}"
    notes[ok & (actual == 0)] = "0 cases observed: the relative deviation is undefined"
    cols["note"] = notes
    return cols
