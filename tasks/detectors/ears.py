"""CDC EARS C1, C2 and C3 (Hutwagner et al. 2003; R surveillance::earsC), one-sided: surges only."""

from __future__ import annotations

import numpy as np

from tasks.detectors.schema import DetectorConfig, Series, blank, lagged_windows


def _ears_statistic(actual: np.ndarray, config: DetectorConfig, lag: int) -> dict[str, np.ndarray]:
    """C statistic for every day with a complete baseline ``lag`` days back.

    Returns arrays ``(T,)``: mean, sigma (floored), stat, and note (why a day is not scored).
    """
    n = actual.shape[0]
    windows = lagged_windows(actual, config.baseline_days, lag)
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
    guard_text = f" + {lag}-{config.period} guard band" if lag else ""
    unit = config.period
    notes[history] = f"fewer than {first} earlier {unit}s for the {config.baseline_days}-{unit} baseline{guard_text}"
    gaps = ~history & ~complete
    if gaps.any():
        counts = (~np.isfinite(windows)).sum(axis=1)
        for i in np.flatnonzero(gaps):
            notes[i] = f"baseline has {counts[i]} missing {config.period}(s)"
    no_actual = ~np.isfinite(actual) & (notes == "")
    notes[no_actual] = "no observed count"
    no_sigma = complete & ~np.isfinite(sigma) & (notes == "")
    notes[no_sigma] = "baseline sd is 0 and ears_min_sigma is 0: C is undefined"
    return {"mean": mean, "sigma": sigma, "stat": stat, "note": notes}


def _ears_c12_cols(actual: np.ndarray, config: DetectorConfig, lag: int, threshold: float) -> dict[str, np.ndarray]:
    """EARS C1 (lag 0) or C2 (lag = guard band) ``(T,)`` output columns for validated ``(T,)`` counts."""
    ears = _ears_statistic(actual, config, lag)
    cols = blank(actual.shape[0])
    cols["expected"] = ears["mean"]
    cols["upper"] = ears["mean"] + threshold * ears["sigma"]
    cols["score"] = ears["stat"]
    hot = np.isfinite(ears["stat"]) & (ears["stat"] > threshold)
    cols["is_hotspot"] = hot
    cols["severity"] = np.where(hot, "alarm", "none").astype(object)
    cols["direction"] = np.where(hot, "surge", "none").astype(object)
    cols["note"] = ears["note"]
    return cols


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
    cols = blank(actual.shape[0])
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
    notes[short] = (
        f"fewer than {first} earlier {config.period}s (C3 needs C2 on this {config.period} and the 2 {config.period}s "
        "before)"
    )
    earlier_missing = (notes == "") & ~np.isfinite(carry)
    notes[earlier_missing] = f"C2 missing on one of the two previous {config.period}s"
    notes[hot & carried] = f"C3 exceeds the threshold through the two previous {config.period}s alone"
    cols["note"] = notes
    return cols


def c1(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EARS C1: C1_t = (y_t - mean(y_{t-7..t-1})) / max(sd, min_sigma); alarm iff C1 > 3.

    One-sided (EARS only looks for excess), so ``lower`` is NaN and ``direction`` is "surge" or
    "none". ``upper`` = mean + threshold x sigma. Any missing day in the baseline -> not scored.
    """
    return _ears_c12_cols(series.actual, config, 0, config.ears_c1_threshold)


def c2(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EARS C2: as C1 with the 7-day baseline ending ``guard_band_days`` (2) before the day.

    The baseline for day t is days t-9 .. t-3, so an outbreak's first two days do not yet raise
    the baseline of the day being tested. Alarm iff C2 > 3.
    """
    return _ears_c12_cols(series.actual, config, config.guard_band_days, config.ears_c2_threshold)


def c3(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """EARS C3 (classic CDC form): C3_t = sum over d in {t-2, t-1, t} of max(0, C2_d - 1); alarm iff C3 > 2.

    Needs C2 on all three days (else not scored). ``upper`` is the count above which today's
    value makes C3 exceed the threshold given the two previous days, i.e. mean + sigma x
    (1 + threshold - carry), where carry is the two previous days' part. When the carry alone
    exceeds the threshold C3 alarms whatever today's count; ``upper`` is then NaN and the note
    says so. (R surveillance::earsC builds its C3 bound differently; this follows the CDC definition.)
    """
    return _ears_c3_cols(series.actual, config)
