"""EWMA detectors: an ESSENCE-style EWMA over recent days of a calibrated detector's signed z.

Why: outbreaks last several days and raise the count on each of them; a single-day test at 1 %
misses the ones whose daily excess is moderate. ESSENCE smooths with weight 0.4 for gradual
events (``ewma_lambda``). Here the smoothing is applied to the calibrated NB z of each day (see
:mod:`tasks.detectors.counts`), not to raw counts, so small and large counts are on the same scale
and the statistic has a known null distribution: ``score`` = E_t / sd_t (see :func:`ewma_statistic`),
N(0, 1) when days are independent; one-sided p-values are normal tails of ``score`` and the two-sided
test, alert levels, ``sides`` and ``hotspot_level`` work exactly as for the calibrated detectors. The
small-count guard uses the discounted excess in cases over the same days (sum of (1 - lambda)^j x
(actual - expected) j days back), and the 7-day case count.

``expected`` is today's calibrated expectation; ``lower``/``upper`` are the counts today would
need for the EWMA to cross the band's level given the previous days (so after a run of high days
``upper`` can fall below ``expected``); NaN with a note when the previous days alone cross it, and
NaN without one when the previous days pull so far the other way that no plausible count reaches it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from tasks.detectors.counts import (
    COLUMNS_KEY,
    _band_tail,
    _hotspots,
    _nb_quantiles,
    _student_tail_inverse,
    _test_levels,
    lstm_distribution,
    naive_distribution,
    small_count_guard,
)
from tasks.detectors.schema import DetectorConfig, Series, blank, join_notes, lagged_windows, rolling_past_sum


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
    cross = rolling_past_sum(np.where(both, zc * prev, 0.0), window)
    square = rolling_past_sum(np.where(both, 0.5 * (zc**2 + prev**2), 0.0), window)
    pairs = rolling_past_sum(both.astype("float64"), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((pairs >= min_pairs) & (square > 0), cross / np.where(square > 0, square, 1.0), 0.0)
    return np.clip(rho, 0.0, 0.9)


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


def empirical_ewma_sd(ewma: dict[str, np.ndarray], window: int, min_days: int) -> dict[str, np.ndarray]:
    """``ewma`` with its null sd raised to the robust sd (1.4826 MAD) of the raw EWMA over the ``window`` days
    before each day, where that is larger (>= ``min_days`` values): forecast errors that persist longer than
    an AR(1) allows (a smooth forecast lagging an epidemic wave) widen the null as they are seen. Past-only."""
    raw = ewma["stat"] * ewma["sd"]
    past = lagged_windows(raw, window, 0)  # (T, window), the days before t
    enough = np.isfinite(past).sum(axis=1) >= min_days
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at the start
        centre = np.nanmedian(past, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(past - centre[:, None]), axis=1)
    sd = np.where(enough & np.isfinite(spread), np.fmax(ewma["sd"], spread), ewma["sd"])
    return ewma | {"stat": raw / sd, "sd": sd}


def ewma_autocorrelation(dist: dict[str, np.ndarray], config: DetectorConfig) -> np.ndarray:
    """``(T,)`` the past lag-1 autocorrelation of a distribution's z that the EWMA's null sd allows for."""
    window, least = config.calibration_window_days, config.min_calibration_days
    return past_autocorrelation(dist["z"], window, least, config.outlier_z)


def _ewma_cols(
    actual: np.ndarray, dist: dict[str, np.ndarray], config: DetectorConfig, rho: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The EWMA detectors' ``(T,)`` output columns from validated counts and their predictive distribution
    (``rho``: :func:`ewma_autocorrelation` of it, if already computed)."""
    n = actual.shape[0]
    lam = config.ewma_lambda
    # Forecast errors of a lagging forecaster persist during epidemic waves; the EWMA's null sd must allow for
    # that, or a wave that the forecast follows a day late looks like an outbreak. Past-only, like the NB fit.
    rho = ewma_autocorrelation(dist, config) if rho is None else rho
    ewma = ewma_statistic(dist["z"], lam, rho)
    if config.ewma_null == "ar1_or_empirical":
        ewma = empirical_ewma_sd(ewma, config.calibration_window_days, config.min_calibration_days)
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
        if (edge == "upper" and config.test_sides == "drop") or (edge == "lower" and config.test_sides == "surge"):
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
            np.where(beyond, f"the previous {config.period}s alone put the EWMA past the {kind} level", "").astype(
                object
            )
        )
    # One quantile call for both edges: scipy's per-call overhead, not the arithmetic, is the cost here.
    for edge, values in zip(levels, _nb_quantiles(list(levels.values()), dist["mean"], dist["phi"]), strict=True):
        bounds[edge] = np.where(np.isfinite(levels[edge]), values, np.nan)

    cols = blank(n)
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
        note=join_notes(dist["reason"], dist["clip_note"], *edge_notes, guard_note, direction_note),
    )
    return cols


def naive_ewma(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EWMA of naive_calibrated's z: the no-model baseline of lstm_ewma."""
    return series.once(
        COLUMNS_KEY.format("naive_ewma"), lambda: _ewma_cols(series.actual, naive_distribution(series, config), config)
    )


def lstm_ewma(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EWMA of lstm_calibrated's z: the LSTM forecast, calibrated, over recent days."""
    return series.once(
        COLUMNS_KEY.format("lstm_ewma"),
        lambda: _ewma_cols(series.actual, lstm_distribution(series, config, "lstm_ewma"), config),
    )
