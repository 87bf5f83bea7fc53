"""Hotspot detectors: one interface, one output schema, pure numpy/pandas/scipy.

Every detector takes the same inputs and returns one row per date of one series:

* ``frame``: columns ``date`` (consecutive days, ascending), ``actual`` (float counts of the
  target, NaN = no published figure) and ``driver`` (float, NaN allowed). Missing days must be
  rows with NaN, never absent rows, so that "the previous 7 days" means 7 calendar days.
* ``forecast``: ``(T,)`` float array of expected target counts aligned with ``frame`` (the LSTM
  output, or None for detectors that build their own expectation).
* ``config``: a :class:`DetectorConfig`.

Output columns (:data:`OUTPUT_COLUMNS`), one row per date:

=============  ==========================================================================
``date``       the day scored
``detector``   registry name
``actual``     observed count (NaN when not published)
``expected``   the detector's expectation for the day (forecast, baseline mean, ...)
``lower``      lower edge of the band whose crossing makes a hotspot (NaN for one-sided rules)
``upper``      upper edge of that band
``score``      the detector's statistic; its meaning per detector is in :data:`SCORE_KINDS`.
               Larger = more surprising on the high side for every detector except ``seed``,
               whose score is the unsigned relative deviation of the study.
``p_value``    p-value of the alert decision where the detector has one (calibrated
               detectors), else NaN
``p_surge``    one-sided P(Y >= actual) under the predictive distribution (calibrated only)
``p_drop``     one-sided P(Y <= actual) under the predictive distribution (calibrated only)
``direction``  "surge" / "drop" for a warning or alarm, else "none"
``severity``   "alarm" / "warning" / "none" (ESSENCE-like red / yellow by default)
``is_hotspot`` bool; False on every day that could not be scored
``guard_blocked`` bool; True when the small-count guard suppressed a warning or alarm
``note``       "" or a plain-language reason: why the day could not be scored, why an alert
               was suppressed, or that a negative forecast was clipped
=============  ==========================================================================

Days that cannot be scored (too little history, a gap in the window, no forecast, no observed
count) keep NaN statistics, severity "none", ``is_hotspot=False`` and a ``note``; no value is
ever filled in.

Detectors (:data:`DETECTORS`): ``seed`` (the study's 10 % rule, kept for comparison),
``ears_c1``/``ears_c2``/``ears_c3`` (CDC EARS, Hutwagner et al. 2003), ``naive_calibrated``
(7-day mean forecast + calibrated count distribution), ``lstm_calibrated`` (the LSTM
forecast + the same calibrated count distribution), and ``naive_ewma`` / ``lstm_ewma`` (an
ESSENCE-style EWMA over recent days of those two detectors' calibrated z). See
:func:`calibrated_scores` for the design of the calibrated distribution and :func:`ewma_scores`
for the EWMA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field
from scipy import stats

from tasks.config import DETECTOR_NAMES, DetectConfig

OUTPUT_COLUMNS: list[str] = [
    "date",
    "detector",
    "actual",
    "expected",
    "lower",
    "upper",
    "score",
    "p_value",
    "p_surge",
    "p_drop",
    "direction",
    "severity",
    "is_hotspot",
    "guard_blocked",
    "note",
]

SCORE_KINDS: dict[str, str] = {
    "seed": "deviation_pct = |actual - predicted| / actual x 100 (unsigned; NaN at 0 cases)",
    "ears_c1": "C1 z-statistic (actual - mean) / max(sd, min_sigma) over the 7 days before",
    "ears_c2": "C2 z-statistic as C1 with the baseline shifted back by the guard band",
    "ears_c3": "C3 = sum over today and the 2 previous days of max(0, C2 - 1)",
    "naive_calibrated": "signed z = Phi^-1(1 - mid-p upper tail) under the calibrated NB; > 0 = surge",
    "lstm_calibrated": "signed z = Phi^-1(1 - mid-p upper tail) under the calibrated NB; > 0 = surge",
    "naive_ewma": "EWMA of naive_calibrated's z, divided by its null sd (N(0, 1) without outbreak); > 0 = surge",
    "lstm_ewma": "EWMA of lstm_calibrated's z, divided by its null sd (N(0, 1) without outbreak); > 0 = surge",
}

_TEXT_DTYPE = pd.Series(["seed"]).dtype
"""The dtype of a pandas column built from a string scalar or strings (``str`` in pandas 3, object before)."""

Calibration = tuple[np.ndarray, np.ndarray]
"""Older (actual, forecast) pairs, each ``(P,)``, from before the frame's first day.

They are treated as days that precede the series (oldest first) and enter the rolling
dispersion window like any past day, so that the first days of a short series can already be
scored. They must not overlap the frame's dates (that would be look-ahead)."""


class DetectorConfig(DetectConfig):
    """Every tunable of the detectors: the pipeline's :class:`~tasks.config.DetectConfig` plus the study's threshold.

    In the pipeline the threshold comes from ``extract.threshold_pct`` (see :func:`detector_config`),
    so the study's rule has one setting, not two.
    """

    seed_threshold_pct: float = Field(
        default=10.0,
        description="Reference study rule: hotspot iff |actual - predicted| / actual x 100 exceeds this (strictly).",
        ge=0,
    )


def detector_config(detect: DetectConfig, threshold_pct: float) -> DetectorConfig:
    """The detectors' settings for a pipeline run: ``detect`` plus the study threshold ``extract.threshold_pct``."""
    return DetectorConfig(**detect.model_dump(), seed_threshold_pct=threshold_pct)


class Detector(Protocol):
    """The one detector interface: ``(frame, forecast, config) -> (T rows of OUTPUT_COLUMNS)``."""

    def __call__(
        self,
        frame: pd.DataFrame,
        forecast: np.ndarray | None,
        config: DetectorConfig,
        *,
        calibration: Calibration | None = None,
    ) -> pd.DataFrame: ...


# ---------------------------------------------------------------------------------------------
# input checks and output assembly


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` (date, actual, driver) and return a copy with float columns.

    Raises ValueError when a column is absent, when dates are not strictly consecutive days
    (missing days must be NaN rows, otherwise window lengths would silently change), or when a
    count is negative.
    """
    missing = {"date", "actual", "driver"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame lacks column(s): {sorted(missing)}")
    out = frame[["date", "actual", "driver"]].reset_index(drop=True).copy()
    out["date"] = pd.to_datetime(out["date"])
    if len(out) > 1:
        steps = out["date"].diff().iloc[1:]
        if not (steps == pd.Timedelta(days=1)).all():
            raise ValueError("dates must be consecutive days in ascending order; encode missing days as NaN rows")
    for column in ("actual", "driver"):
        out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
        if (out[column] < 0).any():
            raise ValueError(f"{column} has negative counts")
    return out


def _as_forecast(forecast: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if forecast is None:
        raise ValueError(f"detector {name!r} needs a forecast array")
    values = np.asarray(forecast, dtype="float64").reshape(-1)
    if values.shape != (n,):
        raise ValueError(f"forecast has {values.shape[0]} values for {n} dates")
    return values


def _blank(n: int) -> dict[str, np.ndarray]:
    """Per-column arrays for T days, all 'not scored'."""
    nan = np.full(n, np.nan)
    return {
        "expected": nan.copy(),
        "lower": nan.copy(),
        "upper": nan.copy(),
        "score": nan.copy(),
        "p_value": nan.copy(),
        "p_surge": nan.copy(),
        "p_drop": nan.copy(),
        "direction": np.full(n, "none", dtype=object),
        "severity": np.full(n, "none", dtype=object),
        "is_hotspot": np.zeros(n, dtype=bool),
        "guard_blocked": np.zeros(n, dtype=bool),
        "note": np.full(n, "", dtype=object),
    }


def _finish(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Final ``(T,)`` columns of one detector: whatever it computed, an unscored day never carries an alert."""
    unscored = ~np.isfinite(np.asarray(cols["score"], dtype="float64"))
    out = dict(cols)
    for key in ("direction", "severity"):
        values = np.array(cols[key], dtype=object)  # a copy: the detector's arrays stay untouched
        values[unscored] = "none"
        out[key] = values
    out["is_hotspot"] = np.asarray(cols["is_hotspot"]).astype(bool) & ~unscored
    out["guard_blocked"] = np.asarray(cols["guard_blocked"]).astype(bool)
    return out


def _long_frame(data: pd.DataFrame, parts: list[tuple[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """``(len(parts) x T, len(OUTPUT_COLUMNS))`` frame from each detector's ``(T,)`` columns, built in one go.

    One DataFrame construction instead of one per detector plus a concat: pandas' per-column overhead
    dominated the detectors' run time. Same columns and dtypes as concatenating per-detector frames.
    """
    finished = [(name, _finish(cols)) for name, cols in parts]
    n, k = len(data), len(finished)
    columns: dict[str, Any] = {
        "date": np.tile(data["date"].to_numpy(), k),
        # The dtype pandas infers for a column of strings, also when T = 0 (an empty object array would stay object).
        "detector": pd.array(np.repeat(np.array([name for name, _ in finished], dtype=object), n), dtype=_TEXT_DTYPE),
        "actual": np.tile(data["actual"].to_numpy(), k),
    }
    for key in OUTPUT_COLUMNS[3:]:
        columns[key] = np.concatenate([cols[key] for _, cols in finished])
    return pd.DataFrame(columns)


def _assemble(frame: pd.DataFrame, name: str, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """One detector's ``(T, len(OUTPUT_COLUMNS))`` frame from its ``(T,)`` columns."""
    return _long_frame(frame, [(name, cols)])


def _join_notes(*parts: np.ndarray) -> np.ndarray:
    """Element-wise '; '-join of non-empty note strings."""
    n = len(parts[0])
    if any(len(part) != n for part in parts):
        raise ValueError("note arrays differ in length")
    columns = [np.asarray(part, dtype=object) for part in parts]
    # Most days have no note at all: join only on the days where some part is non-empty.
    noted = np.zeros(n, dtype=bool)
    for column in columns:
        noted |= column.astype(bool)
    joined = np.full(n, "", dtype=object)
    for i in np.flatnonzero(noted):
        joined[i] = "; ".join(item for item in (column[i] for column in columns) if item)
    return joined


# ---------------------------------------------------------------------------------------------
# seed: the reference study's rule


def seed(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """The study's rule, exactly: hotspot iff deviation_pct > threshold (10 %).

    deviation_pct = |actual - predicted| / actual x 100, with the raw forecast (negative values
    are kept: the study did not clip). At actual == 0 the ratio is undefined: score NaN (never
    inf), not a hotspot, note says why. The band [predicted / 1.1, predicted / 0.9] (for the
    default 10 %) is the set of actual values that are not hotspots; when predicted <= 0 every
    positive count is a hotspot and the band is NaN. There is no p-value; a hotspot is reported
    as severity "alarm" because the rule has a single level.
    """
    data = validate_frame(frame)
    return _assemble(data, "seed", _seed_cols(data["actual"].to_numpy(), forecast, config))


def _seed_cols(actual: np.ndarray, forecast: np.ndarray | None, config: DetectorConfig) -> dict[str, np.ndarray]:
    """:func:`seed`'s ``(T,)`` output columns for validated ``(T,)`` counts."""
    predicted = _as_forecast(forecast, actual.shape[0], "seed")
    cols = _blank(actual.shape[0])
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
    notes[np.isfinite(actual) & ~np.isfinite(predicted)] = "no forecast for this day"
    notes[ok & (actual == 0)] = "0 cases observed: the relative deviation is undefined"
    cols["note"] = notes
    return cols


# ---------------------------------------------------------------------------------------------
# EARS C1 / C2 / C3


def _lagged_windows(values: np.ndarray, window: int, lag: int) -> np.ndarray:
    """``(T,)`` -> ``(T, window)``: row t holds values[t-lag-window : t-lag] (NaN before the start)."""
    padded = np.concatenate([np.full(window + lag, np.nan), values])
    return sliding_window_view(padded, window)[: values.shape[0]]


def _ears_statistic(actual: np.ndarray, config: DetectorConfig, lag: int) -> dict[str, np.ndarray]:
    """C statistic for every day with a complete baseline ``lag`` days back.

    Returns arrays ``(T,)``: mean, sigma (floored), stat, and note (why a day is not scored).
    """
    n = actual.shape[0]
    windows = _lagged_windows(actual, config.baseline_days, lag)
    complete = np.isfinite(windows).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(complete, np.nanmean(np.where(complete[:, None], windows, 0.0), axis=1), np.nan)
        # Sample sd (ddof=1), as in the CDC definition and R's sd().
        sd = np.where(complete, np.std(np.where(complete[:, None], windows, 0.0), axis=1, ddof=1), np.nan)
    sigma = np.maximum(sd, config.ears_min_sigma)
    # The floor may be 0; a zero sigma leaves C undefined, which is reported rather than guessed.
    sigma = np.where(sigma > 0, sigma, np.nan)
    stat = (actual - mean) / sigma
    notes = np.full(n, "", dtype=object)
    first = config.baseline_days + lag
    history = np.arange(n) < first
    guard_text = f" + {lag}-day guard band" if lag else ""
    notes[history] = f"fewer than {first} earlier days for the {config.baseline_days}-day baseline{guard_text}"
    gaps = ~history & ~complete
    if gaps.any():
        counts = (~np.isfinite(windows)).sum(axis=1)
        for i in np.flatnonzero(gaps):
            notes[i] = f"baseline has {counts[i]} missing day(s)"
    no_actual = ~np.isfinite(actual) & (notes == "")
    notes[no_actual] = "no observed count"
    no_sigma = complete & ~np.isfinite(sigma) & (notes == "")
    notes[no_sigma] = "baseline sd is 0 and ears_min_sigma is 0: C is undefined"
    return {"mean": mean, "sigma": sigma, "stat": stat, "note": notes}


def _ears_c12(frame: pd.DataFrame, config: DetectorConfig, name: str, lag: int, threshold: float) -> pd.DataFrame:
    data = validate_frame(frame)
    return _assemble(data, name, _ears_c12_cols(data["actual"].to_numpy(), config, lag, threshold))


def _ears_c12_cols(actual: np.ndarray, config: DetectorConfig, lag: int, threshold: float) -> dict[str, np.ndarray]:
    """EARS C1 (lag 0) or C2 (lag = guard band) ``(T,)`` output columns for validated ``(T,)`` counts."""
    ears = _ears_statistic(actual, config, lag)
    cols = _blank(actual.shape[0])
    cols["expected"] = ears["mean"]
    cols["upper"] = ears["mean"] + threshold * ears["sigma"]
    cols["score"] = ears["stat"]
    hot = np.isfinite(ears["stat"]) & (ears["stat"] > threshold)
    cols["is_hotspot"] = hot
    cols["severity"] = np.where(hot, "alarm", "none").astype(object)
    cols["direction"] = np.where(hot, "surge", "none").astype(object)
    cols["note"] = ears["note"]
    return cols


def ears_c1(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """EARS C1: C1_t = (y_t - mean(y_{t-7..t-1})) / max(sd, min_sigma); alarm iff C1 > 3.

    One-sided (EARS only looks for excess), so ``lower`` is NaN and ``direction`` is "surge" or
    "none". ``upper`` = mean + threshold x sigma. Any missing day in the baseline -> not scored.
    The forecast is ignored.
    """
    return _ears_c12(frame, config, "ears_c1", 0, config.ears_c1_threshold)


def ears_c2(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """EARS C2: as C1 with the 7-day baseline ending ``guard_band_days`` (2) before the day.

    The baseline for day t is days t-9 .. t-3, so an outbreak's first two days do not yet raise
    the baseline of the day being tested. Alarm iff C2 > 3.
    """
    return _ears_c12(frame, config, "ears_c2", config.guard_band_days, config.ears_c2_threshold)


def ears_c3(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """EARS C3 (classic CDC form): C3_t = sum over d in {t-2, t-1, t} of max(0, C2_d - 1); alarm iff C3 > 2.

    Needs C2 on all three days (else not scored). ``upper`` is the count above which today's
    value makes C3 exceed the threshold given the two previous days, i.e. mean + sigma x
    (1 + threshold - carry), where carry is the two previous days' part. When the carry alone
    exceeds the threshold C3 alarms whatever today's count; ``upper`` is then NaN and the note
    says so. (R surveillance::earsC builds its C3 bound differently; this follows the CDC
    definition stated in the issue.)
    """
    data = validate_frame(frame)
    return _assemble(data, "ears_c3", _ears_c3_cols(data["actual"].to_numpy(), config))


def _ears_c3_cols(actual: np.ndarray, config: DetectorConfig) -> dict[str, np.ndarray]:
    """:func:`ears_c3`'s ``(T,)`` output columns for validated ``(T,)`` counts."""
    threshold = config.ears_c3_threshold
    c2 = _ears_statistic(actual, config, config.guard_band_days)
    part = np.maximum(0.0, c2["stat"] - 1.0)
    # Sliced to T: for a series shorter than the shift the padding alone would be longer than the series.
    prev1 = np.concatenate([[np.nan], part[:-1]])[: part.size]
    prev2 = np.concatenate([[np.nan, np.nan], part[:-2]])[: part.size]
    stat = part + prev1 + prev2
    carry = prev1 + prev2
    cols = _blank(actual.shape[0])
    cols["expected"] = c2["mean"]
    carried = np.isfinite(carry) & (carry > threshold)
    cols["upper"] = np.where(carried, np.nan, c2["mean"] + c2["sigma"] * (1.0 + threshold - carry))
    cols["score"] = stat
    hot = np.isfinite(stat) & (stat > threshold)
    cols["is_hotspot"] = hot
    cols["severity"] = np.where(hot, "alarm", "none").astype(object)
    cols["direction"] = np.where(hot, "surge", "none").astype(object)
    notes = c2["note"].copy()
    first = config.baseline_days + config.guard_band_days + 2
    short = np.arange(actual.shape[0]) < first
    notes[short] = f"fewer than {first} earlier days (C3 needs C2 on this day and the 2 days before)"
    earlier_missing = (notes == "") & ~np.isfinite(carry)
    notes[earlier_missing] = "C2 missing on one of the two previous days"
    notes[hot & carried] = "C3 exceeds the threshold through the two previous days alone"
    cols["note"] = notes
    return cols


# ---------------------------------------------------------------------------------------------
# calibrated count distribution (shared by naive_calibrated and lstm_calibrated)


def _truncated_normal_variance(z: float) -> float:
    """Variance of N(0, 1) restricted to |x| <= z: corrects the variance of trimmed residuals."""
    inside = 2.0 * stats.norm.cdf(z) - 1.0
    return float(1.0 - 2.0 * z * stats.norm.pdf(z) / inside)


def forecast_level(clipped: np.ndarray, days: int) -> np.ndarray:
    """``(T,)`` -> ``(T,)`` variance level: max(today's forecast, its mean over the last ``days`` days).

    The mean includes today; missing forecasts inside the window are skipped; NaN where today's
    forecast is missing. ``days <= 1`` returns the forecast itself.
    """
    values = np.asarray(clipped, dtype="float64")
    if days <= 1:
        return values.copy()
    windows = _lagged_windows(values, days, 0)
    both = np.concatenate([windows, values[:, None]], axis=1)[:, 1:]  # last `days` values incl. today
    finite = np.isfinite(both)
    total = np.where(finite, both, 0.0).sum(axis=1)
    smooth = total / np.maximum(finite.sum(axis=1), 1)
    return np.where(np.isfinite(values), np.maximum(smooth, values), np.nan)


def estimate_calibration(
    actual: np.ndarray,
    forecast: np.ndarray,
    config: DetectorConfig,
    calibration: Calibration | None = None,
) -> dict[str, np.ndarray]:
    """Past-only bias factor and NB2 dispersion for every day, from forecast residuals.

    Model: Y_t has mean m_t = max(c_t x max(f_t, 0), mu_floor) and variance v_t + phi_t v_t^2 (NB2 form),
    where f_t is the forecast and v_t = max(c_t x L_t, mu_floor) with L_t the larger of the clipped
    forecast and its mean over the last ``variance_level_days`` days (:func:`forecast_level`). Why not
    the day's forecast alone: a noisy forecast (one driven by yesterday's counts or by the driver) that
    is low by chance would also get a too-narrow interval and raise false surges. Why not the smoothed
    level alone: a forecast that spikes high by chance would then get a too-narrow interval and raise
    false drops. Taking the larger keeps both cases conservative (measured on simulated clean series:
    alarm rate 0.5-1.0 % for a nominal 1 %). With ``variance_level_days = 1`` this is the plain NB2.

    For day t, (c_t, phi_t) come only from the pairs (y_s, f_s) of the ``calibration_window_days``
    days s < t (plus ``calibration`` pairs treated as older days):

    1. c = sum(y_s) / sum(max(f_s, 0)) (clipped to [0.25, 4]) if ``bias_correction``, else 1.
    2. phi = max(0, (d sum (y_s - m_s)^2 / kappa - sum v_s) / sum v_s^2): the method of moments for
       E[(y - m)^2] = v + phi v^2, pooled so that days with larger counts (whose relative error is
       better measured) weigh more, and stable when some v_s are tiny; d = k / (k - 1) for the
       degree of freedom used by c (k residuals).
    3. Residuals with |(y_s - m_s) / sqrt(v_s + phi v_s^2)| > ``outlier_z`` are left out and steps
       1-2 repeated ``trim_iterations`` times; kappa (variance of a standard normal truncated
       at +-outlier_z, 0.926 at 2.58) undoes the shrinkage that leaving out the tails causes.
       A round that would keep fewer than ``min_calibration_days`` (or half the usable) days is
       not applied. This is the Farrington/Noufaily idea of down-weighting past outbreaks,
       in moment form.

    Args:
        actual: ``(T,)`` observed counts (NaN = missing).
        forecast: ``(T,)`` forecast counts (NaN = none; negative values are clipped at 0).
        config: uses calibration_window_days, min_calibration_days, outlier_z, trim_iterations,
            bias_correction, mu_floor.
        calibration: optional older ``(P,)`` pairs, see :data:`Calibration`.

    Returns:
        ``(T,)`` arrays: ``scale`` (c), ``dispersion`` (phi; NaN where fewer than
        min_calibration_days usable residuals), ``level`` (L, the unscaled variance level),
        ``n_used`` (residuals kept), ``n_usable``.
    """
    y = np.asarray(actual, dtype="float64")
    f = np.asarray(forecast, dtype="float64")
    n = y.shape[0]
    prior_y, prior_f = (np.empty(0), np.empty(0))
    if calibration is not None:
        prior_y = np.asarray(calibration[0], dtype="float64").reshape(-1)
        prior_f = np.asarray(calibration[1], dtype="float64").reshape(-1)
        if prior_y.shape != prior_f.shape:
            raise ValueError("calibration actual and forecast must have the same length")
    all_y = np.concatenate([prior_y, y])
    all_f = np.maximum(np.concatenate([prior_f, f]), 0.0)
    all_level = forecast_level(all_f, config.variance_level_days)
    window = config.calibration_window_days
    yw = _lagged_windows(all_y, window, 0)[prior_y.shape[0] :]
    fw = _lagged_windows(all_f, window, 0)[prior_y.shape[0] :]
    lw = _lagged_windows(all_level, window, 0)[prior_y.shape[0] :]
    usable = np.isfinite(yw) & np.isfinite(fw) & np.isfinite(lw)
    n_usable = usable.sum(axis=1)
    yz = np.where(usable, yw, 0.0)
    fz = np.where(usable, fw, 0.0)
    lz = np.where(usable, lw, 0.0)
    keep = usable.copy()
    kappa_trim = _truncated_normal_variance(config.outlier_z)
    scale = np.ones(n)
    phi = np.zeros(n)

    def fit(mask: np.ndarray, kappas: tuple[float, ...]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
        """c, one phi per kappa, m and v (``(T,)`` / ``(T, window)``) for the kept ``mask``; only phi uses kappa."""
        sum_y = np.where(mask, yz, 0.0).sum(axis=1)
        sum_f = np.where(mask, fz, 0.0).sum(axis=1)
        if config.bias_correction:
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.where(sum_f > 0, sum_y / np.where(sum_f > 0, sum_f, 1.0), 1.0)
            c = np.clip(c, 0.25, 4.0)
        else:
            c = np.ones(n)
        m = np.maximum(c[:, None] * fz, config.mu_floor)
        v = np.maximum(c[:, None] * lz, config.mu_floor)
        resid2 = np.where(mask, (yz - m) ** 2, 0.0)
        k = mask.sum(axis=1)
        # Fitting c uses up one degree of freedom: scale the squared residuals by k / (k - 1), as in a sample variance.
        dof = np.where(k > 1, k / np.maximum(k - 1, 1), 1.0) if config.bias_correction else 1.0
        scaled = dof * resid2.sum(axis=1)
        v_sum = np.where(mask, v, 0.0).sum(axis=1)
        den = np.where(mask, v**2, 0.0).sum(axis=1)
        phis = []
        for kappa in kappas:
            num = scaled / kappa - v_sum
            with np.errstate(divide="ignore", invalid="ignore"):
                phis.append(np.where(den > 0, np.maximum(num / np.where(den > 0, den, 1.0), 0.0), 0.0))
        return c, phis, m, v

    scale, (phi,), m, v = fit(keep, (1.0,))
    floor_keep = np.maximum(config.min_calibration_days, np.ceil(n_usable / 2.0))
    truncated = np.zeros(n, dtype=bool)
    for _ in range(config.trim_iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (yz - m) / np.sqrt(v + phi[:, None] * v**2)
        proposal = usable & (np.abs(z) <= config.outlier_z)
        accept = proposal.sum(axis=1) >= floor_keep
        keep = np.where(accept[:, None], proposal, keep)
        # Once the |z| <= outlier_z rule is applied, the kept residuals are a truncated sample whether or
        # not anything was cut this time (a window with no extreme value is itself a selection), so kappa
        # applies to every such row; applying it only where something was cut biases phi down by ~5-10 %.
        truncated |= accept
        # One fit for both kappas: c, m and v do not depend on kappa, so only phi differs between the rows.
        scale, (p1, p0), m, v = fit(keep, (kappa_trim, 1.0))
        phi = np.where(truncated, p1, p0)
    enough = n_usable >= config.min_calibration_days
    return {
        "scale": np.where(enough, scale, np.nan),
        "dispersion": np.where(enough, phi, np.nan),
        "level": all_level[prior_y.shape[0] :],
        "n_used": keep.sum(axis=1),
        "n_usable": n_usable,
    }


def _nb_method(method: str, k: np.ndarray, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``method`` (sf, cdf, pmf, ppf) of NB2(mean, phi) at ``k``, Poisson where phi < 1e-9; all ``(N,)``, finite.

    Calls the unfrozen scipy distributions on the Poisson and the NB entries only: the same scipy code (so the
    same values) as frozen distributions, without building them (~0.4 ms each) or evaluating both laws everywhere.
    """
    poisson_like = phi < 1e-9
    out = np.empty(k.shape)
    if poisson_like.any():
        out[poisson_like] = getattr(stats.poisson, method)(k[poisson_like], mean[poisson_like])
    negative_binomial = ~poisson_like
    if negative_binomial.any():
        size = 1.0 / phi[negative_binomial]
        prob = size / (size + mean[negative_binomial])
        out[negative_binomial] = getattr(stats.nbinom, method)(k[negative_binomial], size, prob)
    return out


def nb_tails(actual: np.ndarray, mean: np.ndarray, phi: np.ndarray) -> dict[str, np.ndarray]:
    """Exact discrete tail probabilities of ``actual`` under NB2(mean, phi); phi = 0 is Poisson.

    Returns ``(T,)`` arrays: ``p_surge`` = P(Y >= y), ``p_drop`` = P(Y <= y) (each includes
    P(Y = y), so they are conservative and add to 1 + P(Y = y)), and ``z``, a signed score from
    the mid-p value (P(Y > y) + P(Y = y) / 2 on the upper side): z > 0 for surges, < 0 for drops,
    comparable across count levels and free of the discreteness step. NaN inputs give NaN.
    """
    y, mu, ph = np.broadcast_arrays(*(np.asarray(a, dtype="float64") for a in (actual, mean, phi)))
    ok = np.isfinite(y) & np.isfinite(mu) & np.isfinite(ph)
    yy, mu, ph = y[ok], mu[ok], ph[ok]
    m = yy.shape[0]
    lo = np.floor(yy)
    integer = yy == lo
    # One scipy call per method: both sf points, then both cdf points, stacked ((2 m,) each).
    sf = _nb_method("sf", np.concatenate([np.ceil(yy) - 1.0, lo]), np.tile(mu, 2), np.tile(ph, 2))
    cdf = _nb_method("cdf", np.concatenate([lo, np.where(integer, lo - 1.0, lo)]), np.tile(mu, 2), np.tile(ph, 2))
    point = np.where(integer, _nb_method("pmf", lo, mu, ph), 0.0)
    upper_mid = sf[m:] + 0.5 * point
    lower_mid = cdf[m:] + 0.5 * point
    tiny = 1e-300
    z = np.where(
        upper_mid <= lower_mid,
        stats.norm.isf(np.maximum(upper_mid, tiny)),
        stats.norm.ppf(np.maximum(lower_mid, tiny)),
    )
    out = {key: np.full(y.shape, np.nan) for key in ("p_surge", "p_drop", "z")}
    out["p_surge"][ok] = sf[:m]
    out["p_drop"][ok] = cdf[:m]
    out["z"][ok] = z
    return out


def nb_quantile(q: float | np.ndarray, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``(T,)`` q-quantiles of NB2(mean, phi) (Poisson where phi ~ 0); NaN where inputs are NaN."""
    qq, mu, ph = np.broadcast_arrays(*(np.asarray(a, dtype="float64") for a in (q, mean, phi)))
    ok = np.isfinite(mu) & np.isfinite(ph)
    out = np.full(ok.shape, np.nan)
    out[ok] = _nb_method("ppf", qq[ok], mu[ok], ph[ok])
    return out


def _nb_quantiles(levels: list[np.ndarray], mean: np.ndarray, phi: np.ndarray) -> list[np.ndarray]:
    """:func:`nb_quantile` at several ``(T,)`` levels with one scipy call per law; one ``(T,)`` array per level."""
    n = mean.shape[0]
    values = nb_quantile(np.concatenate(levels), np.tile(mean, len(levels)), np.tile(phi, len(levels)))
    return [values[i * n : (i + 1) * n] for i in range(len(levels))]


def _student_tail(p: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Map a plug-in tail probability to its Student-t counterpart: t_dof.sf(Phi^-1(1 - p)).

    Identity for dof = inf; larger (more conservative) for small p and few residuals.
    """
    with np.errstate(invalid="ignore"):
        z = stats.norm.isf(np.clip(p, 1e-300, 1.0))
        return np.where(np.isfinite(p), np.where(np.isinf(dof), p, stats.t.sf(z, np.where(np.isinf(dof), 1.0, dof))), p)


def _student_tail_inverse(tail: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_student_tail`: the plug-in tail level whose corrected value is ``tail``."""
    finite_dof = np.where(np.isinf(dof), 1.0, dof)
    return np.where(np.isinf(dof), tail, stats.norm.sf(stats.t.isf(tail, finite_dof)))


def _student_z(z: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Re-express a plug-in z as the normal z with the same Student-t tail probability (sign kept)."""
    finite_dof = np.where(np.isinf(dof), 1.0, dof)
    with np.errstate(invalid="ignore"):
        corrected = np.sign(z) * stats.norm.isf(stats.t.sf(np.abs(z), finite_dof))
    return np.where(np.isinf(dof), z, corrected)


def predictive_distribution(
    data: pd.DataFrame,
    forecast: np.ndarray,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
    forecast_notes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The calibrated NB predictive distribution of every day and the day's tail probabilities.

    Args:
        data: validated frame (date, actual, driver). forecast: ``(T,)`` expected counts.
        calibration, forecast_notes: see :func:`calibrated_scores`.

    Returns:
        ``(T,)`` arrays: ``mean`` and ``phi`` (NB2 of the predictive), ``dof`` (Student degrees of
        freedom, inf without ``predictive_correction``), ``p_surge``, ``p_drop``, ``z`` (signed,
        Student-corrected mid-p z, > 0 surge), ``reason`` (why a day cannot be scored, "" if it can)
        and ``clip_note`` (a negative forecast was clipped).
    """
    return _predictive(data["actual"].to_numpy(), forecast, config, calibration, forecast_notes)


def _predictive(
    actual: np.ndarray,
    forecast: np.ndarray,
    config: DetectorConfig,
    calibration: Calibration | None,
    forecast_notes: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """:func:`predictive_distribution` on validated ``(T,)`` counts."""
    f = np.asarray(forecast, dtype="float64")
    n = actual.shape[0]
    cal = estimate_calibration(actual, f, config, calibration)
    clipped = np.where(np.isfinite(f), np.maximum(f, 0.0), np.nan)
    mean = np.maximum(cal["scale"] * clipped, config.mu_floor)
    mean = np.where(np.isfinite(clipped) & np.isfinite(cal["scale"]), mean, np.nan)
    n_used = cal["n_used"].astype("float64")
    level = np.maximum(cal["scale"] * cal["level"], config.mu_floor)
    variance = level + cal["dispersion"] * level**2
    if config.predictive_correction:
        # Predictive, not plug-in: the bias factor is estimated from n_used days, which adds about
        # Var/n_used to the variance of a new count; the variance itself is estimated from n_used
        # residuals, so standardised residuals follow Student's t rather than N(0, 1).
        if config.bias_correction:
            variance = variance * (1.0 + 1.0 / np.maximum(n_used, 1.0))
        dof = np.maximum(n_used - (2.0 if config.bias_correction else 1.0), 1.0)
    else:
        dof = np.full(n, np.inf)
    # The NB2 with this mean and variance; a variance below the mean (possible when the smoothed level
    # is under today's forecast) falls back to Poisson, the least-dispersed count law.
    phi = np.maximum((variance - mean) / mean**2, 0.0)
    tails = nb_tails(actual, mean, phi)

    # Why a day could not be scored, most basic reason first.
    reason = np.full(n, "", dtype=object)
    if forecast_notes is not None:
        reason = np.where(~np.isfinite(f), np.asarray(forecast_notes, dtype=object), reason)
    reason = np.where(~np.isfinite(f) & (reason == ""), "no forecast for this day", reason)
    # Notes are formatted only for the days that get them (string formatting for every day was a visible cost).
    for i in np.flatnonzero((reason == "") & ~np.isfinite(cal["dispersion"])):
        reason[i] = (
            f"only {cal['n_usable'][i]} past residual(s) in the last {config.calibration_window_days} days "
            f"(< {config.min_calibration_days}) to calibrate"
        )
    reason = np.where((reason == "") & ~np.isfinite(actual), "no observed count", reason)
    clip_note = np.full(n, "", dtype=object)
    for i in np.flatnonzero(np.isfinite(f) & (f < 0)):
        clip_note[i] = f"forecast {f[i]:.3g} clipped to 0 for the count distribution"
    # Both tails in one (2 T,) call: the per-call overhead of scipy.stats dominates at this size.
    p_surge, p_drop = np.split(_student_tail(np.concatenate([tails["p_surge"], tails["p_drop"]]), np.tile(dof, 2)), 2)
    return {
        "mean": mean,
        "phi": phi,
        "dof": dof,
        "p_surge": p_surge,
        "p_drop": p_drop,
        "z": _student_z(tails["z"], dof),
        "reason": reason,
        "clip_note": clip_note,
    }


def small_count_guard(
    actual: np.ndarray, excess: np.ndarray, severity: np.ndarray, config: DetectorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Which alerts the small-count guard suppresses -> (blocked ``(T,)`` bool, note ``(T,)`` str).

    An alert (severity != "none") is suppressed when the last ``guard_window_days`` (today
    included) hold fewer than ``guard_min_cases`` observed cases (limit54-like), or when
    ``|excess|`` (cases above or below the expectation) is below ``guard_min_excess``.
    """
    n = actual.shape[0]
    recent = _lagged_windows(actual, config.guard_window_days - 1, 0) if config.guard_window_days > 1 else None
    window_cases = np.where(np.isfinite(actual), actual, 0.0)
    if recent is not None:
        window_cases = window_cases + np.nansum(recent, axis=1)
    few_cases = window_cases < config.guard_min_cases
    small_excess = np.abs(excess) < config.guard_min_excess
    blocked = (severity != "none") & (few_cases | small_excess)
    notes = np.full(n, "", dtype=object)
    for i in np.flatnonzero(blocked):
        reasons = []
        if few_cases[i]:
            reasons.append(
                f"{window_cases[i]:g} cases in the last {config.guard_window_days} days (< {config.guard_min_cases:g})"
            )
        if small_excess[i]:
            reasons.append(f"|actual - expected| = {abs(excess[i]):.1f} (< {config.guard_min_excess:g})")
        notes[i] = f"small-count guard suppressed a{'n' if severity[i] == 'alarm' else ''} {severity[i]}: " + (
            " and ".join(reasons)
        )
    return blocked, notes


def _test_levels(
    p_surge: np.ndarray, p_drop: np.ndarray, config: DetectorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-sided p-values -> (p_value, side, severity), each ``(T,)``, per ``config.sides`` and the alphas."""
    n = p_surge.shape[0]
    if config.sides in ("each", "two-sided"):
        factor = 2.0 if config.sides == "two-sided" else 1.0
        p_value = np.minimum(1.0, factor * np.minimum(p_surge, p_drop))
        side = np.where(p_surge <= p_drop, "surge", "drop")
    elif config.sides == "surge":
        p_value, side = p_surge, np.full(n, "surge")
    else:
        p_value, side = p_drop, np.full(n, "drop")
    severity = np.where(
        p_value < config.alpha_alarm, "alarm", np.where(p_value < config.alpha_warning, "warning", "none")
    )
    severity = np.where(np.isfinite(p_value), severity, "none")
    return p_value, side, severity


def _hotspots(severity: np.ndarray, side: np.ndarray, config: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Alerts at ``hotspot_level`` whose direction ``hotspot_direction`` counts -> (hotspot ``(T,)``, note ``(T,)``).

    An alert in the other direction stays reported (severity, direction) and gets a note saying why it
    is not a hotspot.
    """
    levels = {"alarm"} if config.hotspot_level == "alarm" else {"alarm", "warning"}
    alert = np.isin(severity, list(levels))
    counted = np.ones_like(alert) if config.hotspot_direction == "both" else side == config.hotspot_direction
    hot = alert & counted
    note = np.where(
        alert & ~counted,
        f"a {'drop' if config.hotspot_direction == 'surge' else 'surge'}: reported, not counted as a hotspot "
        f"(hotspot_direction = {config.hotspot_direction})",
        "",
    ).astype(object)
    return hot, note


def _band_tail(config: DetectorConfig) -> float:
    """One-sided tail probability at each edge of the reported band (alpha of ``hotspot_level``, halved if
    ``sides`` is two-sided): a count outside the band is an alert of that level (up to discreteness)."""
    alpha = config.alpha_alarm if config.hotspot_level == "alarm" else config.alpha_warning
    return alpha / 2 if config.sides == "two-sided" else alpha


def calibrated_scores(
    frame: pd.DataFrame,
    forecast: np.ndarray,
    config: DetectorConfig,
    name: str,
    *,
    calibration: Calibration | None = None,
    forecast_notes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Score each day against a calibrated negative-binomial predictive distribution.

    Design (why each piece):

    * Distribution: negative binomial with mean m and variance v + phi v^2, where v is the
      forecast level (max of the day's forecast and its 7-day mean; see
      :func:`estimate_calibration`). Counts are integers and their forecast errors grow roughly in
      proportion to the level (reporting batches, clusters), which the phi v^2 term captures; at
      small counts it reduces to Poisson, so 0-5 case days get honest discrete probabilities
      instead of a huge relative error. Tail probabilities are exact discrete NB tails (no normal
      approximation) and conservative (P(Y >= y) includes y).
    * Estimation uncertainty (``predictive_correction``): the window is short, so the variance
      gets a (1 + 1/n) factor for the estimated bias factor and tail probabilities are read
      through Student's t with n - 2 degrees of freedom (n = residuals used), as a t prediction
      interval does. Without it the 28-day plug-in interval covered ~93 % for a nominal 95 %.
    * Mean: the forecast clipped at 0 (an LSTM can output negative or fractional counts; a
      negative count has no meaning for a count distribution, and the note records the clip),
      times a past-only bias factor, floored at ``mu_floor``.
    * Dispersion: method of moments on the residuals of the previous ``calibration_window_days``
      days only (no look-ahead), with Farrington-style leaving-out of outlying residuals so a
      past outbreak does not blind the detector for a month. See :func:`estimate_calibration`.
    * Test: surges and drops are tested separately. ``sides="each"`` (default): each side
      one-sided at alpha, p_value = min(p_surge, p_drop) with the direction of the smaller; alarm
      if p < alpha_alarm, warning if p < alpha_warning (ESSENCE red/yellow, which are one-sided).
      "two-sided": each side at alpha/2, p_value = min(1, 2 min(p_surge, p_drop)). "surge" /
      "drop" test that side only. Which directions count as hotspots is ``hotspot_direction``
      (surges by default; drop alerts stay reported).
    * Small-count guard: no warning/alarm unless the last ``guard_window_days`` (today included)
      hold at least ``guard_min_cases`` observed cases (daily analogue of Farrington's limit54)
      and |actual - expected| >= ``guard_min_excess`` cases. The statistic is still reported;
      ``guard_blocked`` and the note say the alert was suppressed.
    * Band: lower/upper are the central (1 - alpha) predictive interval for the alpha of
      ``hotspot_level`` (99 % by default), so, up to discreteness, a day outside the band is a
      hotspot unless the guard blocks it.

    Args:
        frame: see module docstring. forecast: ``(T,)`` expected counts.
        name: detector name written into the output.
        calibration: optional older (actual, forecast) pairs, see :data:`Calibration`.
        forecast_notes: optional ``(T,)`` strings explaining why the forecast is NaN.

    Returns:
        ``(T, len(OUTPUT_COLUMNS))`` frame; ``score`` is the signed mid-p z (> 0 surge).
    """
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    f = _as_forecast(forecast, len(data), name)
    dist = _predictive(actual, f, config, calibration, forecast_notes)
    return _assemble(data, name, _calibrated_cols(actual, dist, config))


def _calibrated_cols(actual: np.ndarray, dist: dict[str, np.ndarray], config: DetectorConfig) -> dict[str, np.ndarray]:
    """:func:`calibrated_scores`' ``(T,)`` output columns from validated counts and their :func:`_predictive`."""
    n = actual.shape[0]
    mean, phi, dof = dist["mean"], dist["phi"], dist["dof"]
    p_value, side, severity = _test_levels(dist["p_surge"], dist["p_drop"], config)
    blocked, guard_note = small_count_guard(actual, actual - mean, severity, config)
    severity = np.where(blocked, "none", severity)
    hot, direction_note = _hotspots(severity, side, config)

    # The NB tail level whose Student-corrected p-value equals the band's tail, so the band matches the test.
    raw_tail = _student_tail_inverse(np.full(n, _band_tail(config)), dof)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    if config.sides == "surge":
        (upper,) = _nb_quantiles([1.0 - raw_tail], mean, phi)
    elif config.sides == "drop":
        (lower,) = _nb_quantiles([raw_tail], mean, phi)
    else:
        lower, upper = _nb_quantiles([raw_tail, 1.0 - raw_tail], mean, phi)

    cols = _blank(n)
    cols.update(
        expected=mean,
        lower=lower,
        upper=upper,
        score=dist["z"],
        p_value=p_value,
        p_surge=dist["p_surge"],
        p_drop=dist["p_drop"],
        direction=np.where(severity != "none", side, "none").astype(object),
        severity=severity.astype(object),
        is_hotspot=hot,
        guard_blocked=blocked,
        note=_join_notes(dist["reason"], dist["clip_note"], guard_note, direction_note),
    )
    return cols


def naive_forecast(actual: np.ndarray, window: int = 7, guard: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(T,)`` -> ``(T,)`` mean of the ``window`` days ending ``guard`` days before each day.

    NaN (with a note in the second ``(T,)`` array) when that window is incomplete or has a gap.
    """
    y = np.asarray(actual, dtype="float64")
    windows = _lagged_windows(y, window, guard)
    complete = np.isfinite(windows).all(axis=1)
    mean = np.where(complete, np.where(complete[:, None], windows, 0.0).mean(axis=1), np.nan)
    notes = np.full(y.shape[0], "", dtype=object)
    first = window + guard
    for i in np.flatnonzero(~complete):
        if i < first:
            notes[i] = f"fewer than {first} earlier days for the {window}-day mean forecast"
        else:
            notes[i] = (
                f"{int((~np.isfinite(windows[i])).sum())} missing day(s) in the {window}-day mean forecast window"
            )
    return mean, notes


def naive_calibrated(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """Mean of the previous ``baseline_days`` (7) days as forecast + calibrated NB (see :func:`calibrated_scores`).

    The forecast argument is ignored; ``calibration`` pairs (if given) must be residuals of
    the same naive forecaster. This is the no-model baseline the LSTM must beat.
    """
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    return _assemble(
        data, "naive_calibrated", _calibrated_cols(actual, _naive_predictive(actual, config, calibration), config)
    )


def lstm_calibrated(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """The LSTM's one-step forecast (``(T,)`` counts, NaN where it has no window) + calibrated NB.

    Negative or fractional forecasts are accepted: negatives are clipped at 0 for the
    distribution (noted per day), fractions are fine for a mean. Dispersion and bias come from
    this series' own past residuals (and optional older ``calibration`` pairs, e.g. residuals of
    a held-out period); see :func:`calibrated_scores` for the full design.
    """
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    dist = _lstm_predictive(actual, forecast, config, calibration, "lstm_calibrated")
    return _assemble(data, "lstm_calibrated", _calibrated_cols(actual, dist, config))


def _naive_predictive(
    actual: np.ndarray, config: DetectorConfig, calibration: Calibration | None
) -> dict[str, np.ndarray]:
    """:func:`_predictive` of the naive mean forecast (shared by naive_calibrated and naive_ewma)."""
    mean, notes = naive_forecast(actual, config.baseline_days, config.naive_guard_days)
    return _predictive(actual, mean, config, calibration, notes)


def _lstm_predictive(
    actual: np.ndarray, forecast: np.ndarray | None, config: DetectorConfig, calibration: Calibration | None, name: str
) -> dict[str, np.ndarray]:
    """:func:`_predictive` of the LSTM forecast (shared by lstm_calibrated and lstm_ewma); ``name`` for errors."""
    return _predictive(actual, _as_forecast(forecast, actual.shape[0], name), config, calibration, None)


def past_autocorrelation(z: np.ndarray, window: int, min_pairs: int, clip_z: float) -> np.ndarray:
    """``(T,)`` lag-1 autocorrelation of z over the ``window`` days before each day, clipped to [0, 0.9].

    Uses pairs (z_s-1, z_s) with both days before t and finite; z is winsorised at +-``clip_z`` so
    that a past outbreak does not pass for persistence, and taken as mean 0 (it is standardised).
    0 where fewer than ``min_pairs`` pairs exist. Negative values are set to 0: assuming
    independence then errs towards fewer alarms, never more.
    """
    zc = np.clip(np.asarray(z, dtype="float64"), -clip_z, clip_z)
    prev = np.concatenate([[np.nan], zc[:-1]])
    both = np.isfinite(zc) & np.isfinite(prev)
    cross = _rolling_past_sum(np.where(both, zc * prev, 0.0), window)
    square = _rolling_past_sum(np.where(both, 0.5 * (zc**2 + prev**2), 0.0), window)
    pairs = _rolling_past_sum(both.astype("float64"), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((pairs >= min_pairs) & (square > 0), cross / np.where(square > 0, square, 1.0), 0.0)
    return np.clip(rho, 0.0, 0.9)


def _rolling_past_sum(values: np.ndarray, window: int) -> np.ndarray:
    """``(T,)`` -> ``(T,)`` sum of values[t-window : t] (days before t only); NaN counts as 0."""
    csum = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(values), values, 0.0))])
    idx = np.arange(values.shape[0])
    return csum[idx] - csum[np.maximum(idx - window, 0)]


def ewma_statistic(z: np.ndarray, lam: float, rho: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """EWMA of standardised scores, restarted after every unscored day; all arrays ``(T,)``.

    E_t = lam z_t + (1 - lam) E_t-1 from the first scored day of each run (E = 0 before it).
    If the z are N(0, 1) with lag-1 autocorrelation rho (AR(1); rho = 0: independent),
    Var(E_t) = lam / (2 - lam) x (1 - (1 - lam)^(2 n)) x (1 + rho (1 - lam)) / (1 - rho (1 - lam)) after
    n terms (the AR(1) factor is exact as n grows), so ``stat`` = E_t / sd_t is about N(0, 1) under
    no outbreak. ``carry`` = (1 - lam) E_t-1 is what the previous days contribute; NaN where z is NaN.

    Returns: ``stat``, ``carry``, ``sd`` and ``n`` (terms since the restart).
    """
    z = np.asarray(z, dtype="float64")
    r = np.zeros(z.shape) if rho is None else np.asarray(rho, dtype="float64")
    stat = np.full(z.shape, np.nan)
    carry = np.full(z.shape, np.nan)
    sd = np.full(z.shape, np.nan)
    terms = np.zeros(z.shape, dtype="int64")
    level, count = 0.0, 0
    # Python floats in the loop: numpy scalar arithmetic is ~10x slower and IEEE double results are the same.
    r_values = r.tolist()
    for t, value in enumerate(z.tolist()):
        if not math.isfinite(value):
            # An unscored day breaks the run: the next day starts afresh rather than leaning on stale days.
            level, count = 0.0, 0
            continue
        carried = (1.0 - lam) * level
        level = lam * value + carried
        count += 1
        persistence = (1.0 + r_values[t] * (1.0 - lam)) / (1.0 - r_values[t] * (1.0 - lam))
        spread = math.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * count)) * persistence)
        carry[t], sd[t], stat[t], terms[t] = carried, spread, level / spread, count
    return {"stat": stat, "carry": carry, "sd": sd, "n": terms}


def _discounted_excess(excess: np.ndarray, z: np.ndarray, lam: float) -> np.ndarray:
    """``(T,)`` sum over the current EWMA run of (1 - lam)^j x excess_t-j, in cases (the guard's measure)."""
    out = np.full(excess.shape, np.nan)
    total = 0.0
    values, scores = excess.tolist(), np.asarray(z).tolist()  # Python floats: same IEEE results, faster loop
    for t in range(len(values)):
        if not math.isfinite(scores[t]):
            total = 0.0
            continue
        total = values[t] + (1.0 - lam) * total
        out[t] = total
    return out


def ewma_scores(
    frame: pd.DataFrame,
    forecast: np.ndarray,
    config: DetectorConfig,
    name: str,
    *,
    calibration: Calibration | None = None,
    forecast_notes: np.ndarray | None = None,
) -> pd.DataFrame:
    """EWMA over recent days of the calibrated detector's signed z (ESSENCE-style EWMA, on calibrated residuals).

    Why: outbreaks last several days and raise the count on each of them; a single-day test at 1 %
    misses the ones whose daily excess is moderate. ESSENCE smooths with weight 0.4 for gradual
    events (``ewma_lambda``). Here the smoothing is applied to the calibrated NB z of each day (see
    :func:`calibrated_scores`), not to raw counts, so small and large counts are on the same scale and
    the statistic has a known null distribution: ``score`` = E_t / sd_t (see :func:`ewma_statistic`),
    N(0, 1) when days are independent; one-sided p-values are normal tails of ``score`` and the
    two-sided test, alert levels, ``sides`` and ``hotspot_level`` work exactly as for the calibrated
    detector. The small-count guard uses the discounted excess in cases over the same days (sum of
    (1 - lambda)^j x (actual - expected) j days back), and the 7-day case count.

    ``expected`` is today's calibrated expectation; ``lower``/``upper`` are the counts today would
    need for the EWMA to cross the band's level given the previous days (so after a run of high days
    ``upper`` can fall below ``expected``); NaN with a note when the previous days alone cross it, and
    NaN without one when the previous days pull so far the other way that no plausible count reaches it.
    """
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    f = _as_forecast(forecast, len(data), name)
    dist = _predictive(actual, f, config, calibration, forecast_notes)
    return _assemble(data, name, _ewma_cols(actual, dist, config))


def _ewma_cols(actual: np.ndarray, dist: dict[str, np.ndarray], config: DetectorConfig) -> dict[str, np.ndarray]:
    """:func:`ewma_scores`' ``(T,)`` output columns from validated counts and their :func:`_predictive`."""
    n = actual.shape[0]
    lam = config.ewma_lambda
    # Forecast errors of a lagging forecaster persist during epidemic waves; the EWMA's null sd must allow for
    # that, or a wave that the forecast follows a day late looks like an outbreak. Past-only, like the NB fit.
    rho = past_autocorrelation(dist["z"], config.calibration_window_days, config.min_calibration_days, config.outlier_z)
    ewma = ewma_statistic(dist["z"], lam, rho)
    stat = ewma["stat"]
    p_surge, p_drop = stats.norm.sf(stat), stats.norm.cdf(stat)
    p_value, side, severity = _test_levels(p_surge, p_drop, config)
    excess = _discounted_excess(actual - dist["mean"], dist["z"], lam)
    blocked, guard_note = small_count_guard(actual, excess, severity, config)
    severity = np.where(blocked, "none", severity)
    hot, direction_note = _hotspots(severity, side, config)

    # Today's z that puts the EWMA exactly on the band's level, then the count with that z (approximately:
    # the NB quantile at the matching Student-corrected tail; counts are discrete).
    level = stats.norm.isf(_band_tail(config))
    bounds = {"upper": np.full(n, np.nan), "lower": np.full(n, np.nan)}
    edge_notes = []
    levels: dict[str, np.ndarray] = {}  # edge -> (T,) NB level, NaN where the edge is not reported
    for edge, sign in (("upper", 1.0), ("lower", -1.0)):
        if (edge == "upper" and config.sides == "drop") or (edge == "lower" and config.sides == "surge"):
            continue
        with np.errstate(invalid="ignore"):
            z_edge = (sign * level * ewma["sd"] - ewma["carry"]) / lam
            tail = stats.norm.sf(sign * z_edge)  # corrected tail beyond the edge, on the edge's side
        scored = np.isfinite(tail) & np.isfinite(stat)
        beyond = scored & (tail > 0.5)  # the previous days alone put the EWMA past this edge
        # The previous days pull the EWMA so far the other way that no plausible count today reaches the edge.
        unreachable = scored & (tail < 1e-12)
        raw = np.clip(_student_tail_inverse(np.clip(tail, 1e-12, 0.5), dist["dof"]), 1e-12, 0.5)
        q = 1.0 - raw if edge == "upper" else raw
        # NaN levels are not computed by scipy; those days get NaN anyway.
        levels[edge] = np.where(beyond | unreachable | ~scored, np.nan, q)
        kind = "surge" if edge == "upper" else "drop"
        # Only the carried case needs words (the day alerts whatever its count); an unreachable edge is just NaN.
        edge_notes.append(
            np.where(beyond, f"the previous days alone put the EWMA past the {kind} level", "").astype(object)
        )
    # One quantile call for both edges: scipy's per-call overhead, not the arithmetic, is the cost here.
    for edge, values in zip(levels, _nb_quantiles(list(levels.values()), dist["mean"], dist["phi"]), strict=True):
        bounds[edge] = np.where(np.isfinite(levels[edge]), values, np.nan)

    cols = _blank(n)
    cols.update(
        expected=dist["mean"],
        lower=bounds["lower"],
        upper=bounds["upper"],
        score=stat,
        p_value=p_value,
        p_surge=p_surge,
        p_drop=p_drop,
        direction=np.where(severity != "none", side, "none").astype(object),
        severity=severity.astype(object),
        is_hotspot=hot,
        guard_blocked=blocked,
        note=_join_notes(dist["reason"], dist["clip_note"], *edge_notes, guard_note, direction_note),
    )
    return cols


def naive_ewma(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """EWMA (:func:`ewma_scores`) of :func:`naive_calibrated`'s z: the no-model baseline of :func:`lstm_ewma`."""
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    return _assemble(data, "naive_ewma", _ewma_cols(actual, _naive_predictive(actual, config, calibration), config))


def lstm_ewma(
    frame: pd.DataFrame,
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """EWMA (:func:`ewma_scores`) of :func:`lstm_calibrated`'s z: the LSTM forecast, calibrated, over recent days."""
    data = validate_frame(frame)
    actual = data["actual"].to_numpy()
    dist = _lstm_predictive(actual, forecast, config, calibration, "lstm_ewma")
    return _assemble(data, "lstm_ewma", _ewma_cols(actual, dist, config))


DETECTORS: dict[str, Detector] = {
    "seed": seed,
    "ears_c1": ears_c1,
    "ears_c2": ears_c2,
    "ears_c3": ears_c3,
    "naive_calibrated": naive_calibrated,
    "lstm_calibrated": lstm_calibrated,
    "naive_ewma": naive_ewma,
    "lstm_ewma": lstm_ewma,
}
if tuple(DETECTORS) != DETECTOR_NAMES:  # the config's Literal and this registry must name the same detectors
    raise RuntimeError(f"detector registry {tuple(DETECTORS)} != tasks.config.DETECTOR_NAMES {DETECTOR_NAMES}")


def run_detectors(
    frame: pd.DataFrame,
    names: Sequence[str],
    forecast: np.ndarray | None,
    config: DetectorConfig,
    *,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """Run the named detectors on one series; long format, one row per (detector, date).

    Args:
        frame: ``(T, 3)`` date, actual, driver (see module docstring).
        names: registry keys of :data:`DETECTORS`, run in this order.
        forecast: ``(T,)`` LSTM forecast; required by ``seed``, ``lstm_calibrated`` and ``lstm_ewma``.
        config: detector settings.
        calibration: older (actual, forecast) pairs for ``lstm_calibrated`` and ``lstm_ewma`` only.

    Returns:
        ``(len(names) x T, len(OUTPUT_COLUMNS))`` frame, rows grouped by detector in ``names``
        order and by date inside each group.
    """
    unknown = [name for name in names if name not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector(s) {unknown}; known: {sorted(DETECTORS)}")
    # Same rows as calling each DETECTORS entry and concatenating, but the frame is validated once, each
    # predictive distribution is fitted once for its _calibrated and _ewma detectors, and one frame is built.
    data = validate_frame(frame)
    if not names:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    actual = data["actual"].to_numpy()
    dists: dict[str, dict[str, np.ndarray]] = {}  # "naive" / "lstm" -> _predictive, for this call only
    parts = []
    for name in names:
        if name == "seed":
            cols = _seed_cols(actual, forecast, config)
        elif name == "ears_c1":
            cols = _ears_c12_cols(actual, config, 0, config.ears_c1_threshold)
        elif name == "ears_c2":
            cols = _ears_c12_cols(actual, config, config.guard_band_days, config.ears_c2_threshold)
        elif name == "ears_c3":
            cols = _ears_c3_cols(actual, config)
        else:
            kind = "naive" if name.startswith("naive_") else "lstm"
            if kind not in dists:
                # Older pairs belong to the LSTM's residuals; the naive detectors never get them here.
                dists[kind] = (
                    _naive_predictive(actual, config, None)
                    if kind == "naive"
                    else _lstm_predictive(actual, forecast, config, calibration, name)
                )
            cols = (_calibrated_cols if name.endswith("_calibrated") else _ewma_cols)(actual, dists[kind], config)
        parts.append((name, cols))
    return _long_frame(data, parts)


# ---------------------------------------------------------------------------------------------
# explanation


def _num(value: Any) -> float | None:
    value = float(value) if value is not None and not pd.isna(value) else None
    return value


def _endpoint_values(
    values: np.ndarray, dates: pd.Series, start: int, end: int
) -> tuple[int | None, int | None, list[str]]:
    """First and last observed index in [start, end] and the dates missing in between."""
    observed = [i for i in range(start, end + 1) if np.isfinite(values[i])]
    missing = [dates.iloc[i].date().isoformat() for i in range(start, end + 1) if not np.isfinite(values[i])]
    if len(observed) < 2:
        return None, None, missing
    return observed[0], observed[-1], missing


def _movement(change: float, base: float, flat_pct: float, min_abs: float) -> str:
    pct = 100.0 * change / max(base, 1.0)
    if abs(pct) < flat_pct or abs(change) < min_abs:
        return "flat"
    return "up" if change > 0 else "down"


def explain(
    day_rows: pd.DataFrame,
    frame: pd.DataFrame,
    date: Any,
    *,
    window_days: int = 3,
    flat_pct: float = 10.0,
    min_abs_change: float = 3.0,
    primary: str | None = None,
) -> dict[str, Any]:
    """Explain one day: actual vs expected, band, p-value/score, agreement, and the driver's behaviour.

    Args:
        day_rows: output rows of :func:`run_detectors` (all days or just this one).
        frame: the series (date, actual, driver) the rows were computed on.
        date: the day to explain (anything ``pd.Timestamp`` accepts).
        window_days: span of the target-vs-driver comparison (change from t - window_days to t).
        flat_pct, min_abs_change: a series "moved" when its change is at least flat_pct percent
            (of max(start, 1)) and at least min_abs_change cases.
        primary: detector for the headline (the one that decides hotspots); default as below.

    Returns:
        dict with ``date``, ``actual``, ``detectors`` (one dict per detector row), ``agreeing``
        (detectors that flag the day), ``n_scored``, ``primary`` (detector used for the
        headline: ``primary`` if given, else lstm_calibrated, else naive_calibrated, else the first
        flagging one, else the first row), ``direction`` (majority of flagging detectors; "mixed" on a tie),
        ``target_change`` and ``driver_change`` (dicts or None), ``driver_behaviour`` (a short
        label) and ``text`` (one plain-language paragraph).
        A missing driver value at an end of the window is replaced by the nearest observed day
        inside the window, and the dates used are reported; nothing is interpolated.
    """
    day = pd.Timestamp(date)
    data = validate_frame(frame)
    rows = day_rows[pd.to_datetime(day_rows["date"]) == day]
    if rows.empty:
        raise ValueError(f"no detector rows for {day.date()}")
    positions = np.flatnonzero(data["date"].to_numpy() == np.datetime64(day))
    if positions.size == 0:
        raise ValueError(f"{day.date()} is not in the frame")
    t = int(positions[0])
    detectors = []
    for _, row in rows.iterrows():
        detectors.append(
            {
                "detector": row["detector"],
                "expected": _num(row["expected"]),
                "lower": _num(row["lower"]),
                "upper": _num(row["upper"]),
                "score": _num(row["score"]),
                "p_value": _num(row["p_value"]),
                "direction": row["direction"],
                "severity": row["severity"],
                "is_hotspot": bool(row["is_hotspot"]),
                "note": row["note"],
            }
        )
    agreeing = [d["detector"] for d in detectors if d["is_hotspot"]]
    scored = [d for d in detectors if d["score"] is not None]
    by_name = {d["detector"]: d for d in detectors}
    if primary is not None and primary not in by_name:
        raise ValueError(f"no rows of detector {primary!r} for {day.date()}")
    preferred = (primary,) if primary is not None else ("lstm_calibrated", "naive_calibrated")
    chosen = next(
        (by_name[n] for n in preferred if n in by_name),
        next((d for d in detectors if d["is_hotspot"]), detectors[0]),
    )
    directions = [d["direction"] for d in detectors if d["is_hotspot"] and d["direction"] != "none"]
    if directions:
        # Majority of the flagging detectors; a tie between surge and drop is reported as "mixed".
        top = max(directions.count("surge"), directions.count("drop"))
        winners = sorted({d for d in directions if directions.count(d) == top})
        direction = winners[0] if len(winners) == 1 else "mixed"
    else:
        direction = chosen["direction"]

    actual = data["actual"].to_numpy()
    driver = data["driver"].to_numpy()
    start = max(0, t - window_days)
    changes: dict[str, dict[str, Any] | None] = {}
    moves: dict[str, str | None] = {}
    for label, values in (("target", actual), ("driver", driver)):
        first, last, missing = _endpoint_values(values, data["date"], start, t)
        if first is None or last is None:
            changes[label], moves[label] = None, None
            continue
        change = float(values[last] - values[first])
        changes[label] = {
            "from_date": data["date"].iloc[first].date().isoformat(),
            "to_date": data["date"].iloc[last].date().isoformat(),
            "from": float(values[first]),
            "to": float(values[last]),
            "change": change,
            "pct": 100.0 * change / max(float(values[first]), 1.0),
            "missing_dates": missing,
        }
        moves[label] = _movement(change, float(values[first]), flat_pct, min_abs_change)

    tm, dm = moves["target"], moves["driver"]
    if dm is None:
        behaviour = "driver not available"
    elif tm == "up":
        behaviour = {"up": "driver also rising", "down": "driver falling while target rose"}.get(
            dm, "target moved alone"
        )
    elif tm == "down":
        behaviour = {"down": "driver also falling", "up": "driver rising while target fell"}.get(
            dm, "target moved alone"
        )
    elif tm == "flat":
        behaviour = {"up": "driver rising, target flat", "down": "driver falling, target flat"}.get(
            dm, "target and driver both flat"
        )
    else:
        behaviour = "target change not available"

    text = _explain_text(day, actual[t], chosen, direction, agreeing, scored, changes, behaviour, window_days)
    return {
        "date": day.date().isoformat(),
        "actual": _num(actual[t]),
        "detectors": detectors,
        "agreeing": agreeing,
        "n_scored": len(scored),
        "primary": chosen["detector"],
        "direction": direction,
        "target_change": changes["target"],
        "driver_change": changes["driver"],
        "driver_behaviour": behaviour,
        "text": text,
    }


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _explain_text(
    day: pd.Timestamp,
    actual: float,
    primary: dict[str, Any],
    direction: str,
    agreeing: list[str],
    scored: list[dict[str, Any]],
    changes: dict[str, dict[str, Any] | None],
    behaviour: str,
    window_days: int,
) -> str:
    parts = []
    when = day.date().isoformat()
    if not np.isfinite(actual):
        parts.append(f"No count was published for {when}, so the day could not be judged.")
    else:
        one = actual == 1
        line = f"On {when} there {'was' if one else 'were'} {_fmt(float(actual))} case{'' if one else 's'}"
        if primary["expected"] is not None:
            line += f" against an expected {_fmt(primary['expected'], 1)} ({primary['detector']}"
            given = " given the previous days" if primary["detector"].endswith("_ewma") else ""
            if primary["lower"] is not None and primary["upper"] is not None:
                line += f", plausible range {_fmt(primary['lower'])} to {_fmt(primary['upper'])}{given}"
            elif primary["upper"] is not None:
                line += f", alert level above {_fmt(primary['upper'], 1)}{given}"
            line += ")"
        parts.append(line + ".")
        if primary["p_value"] is not None:
            if primary["severity"] != "none":
                level = "an alarm" if primary["severity"] == "alarm" else "a warning"
                model = (
                    "Weighing this day with the previous ones (EWMA of the calibrated count model's z)"
                    if primary["detector"].endswith("_ewma")
                    else "Under the calibrated count model"
                )
                parts.append(
                    f"{model} this is a {primary['direction']} with p = "
                    f"{primary['p_value']:.2g} ({primary['detector']}'s test): {level}."
                )
            else:
                parts.append(f"That is within normal variation (p = {primary['p_value']:.2g}).")
        elif primary["score"] is not None:
            parts.append(f"The {primary['detector']} score is {primary['score']:.2f}.")
        if primary["note"]:
            parts.append(f"Note: {primary['note']}.")
    if scored:
        if agreeing:
            parts.append(
                f"{len(agreeing)} of {len(scored)} detectors that could score this day flag it "
                f"({', '.join(agreeing)}); the flagged direction is {direction}."
            )
        else:
            parts.append(f"None of the {len(scored)} detectors that could score this day flags it.")
    target, driver = changes["target"], changes["driver"]
    if target is not None:
        sentence = (
            f"Over the last {window_days} days the target went from {_fmt(target['from'])} to {_fmt(target['to'])} "
            f"({target['pct']:+.0f} %)"
        )
        if driver is not None:
            sentence += (
                f" while the driver went from {_fmt(driver['from'])} to {_fmt(driver['to'])} ({driver['pct']:+.0f} %"
                f", {driver['from_date']} to {driver['to_date']})"
            )
        parts.append(sentence + ".")
    reading = {
        "driver also rising": "the driver also rose, so the rise may reflect wider transmission rather than a "
        "target-specific event",
        "driver also falling": "the driver fell as well, so the fall looks like a general decline",
        "target moved alone": "the driver did not move, so the change is specific to the target series (a local "
        "cluster, or a reporting artefact worth checking)",
        "driver falling while target rose": "the driver fell while the target rose, which the driver does not explain",
        "driver rising while target fell": "the driver rose while the target fell, which the driver does not explain",
        "driver not available": "the driver was not published on enough days of this window to compare",
        "driver rising, target flat": "the driver rose while the target stayed flat; if the driver leads, the "
        "target may follow in the next days",
        "driver falling, target flat": "the driver fell while the target stayed flat",
        "target and driver both flat": "neither the target nor the driver moved much over the window",
        "target change not available": "the target was not published on enough days of this window to compare",
    }[behaviour]
    parts.append(reading[0].upper() + reading[1:] + ".")
    if driver is not None and driver["missing_dates"]:
        parts.append(f"Driver figures missing on {', '.join(driver['missing_dates'])} (not filled in).")
    return " ".join(parts)
