"""Improved Farrington outbreak detection (Noufaily et al. 2013), numpy/scipy port.

This module re-implements the behaviour of R's ``surveillance::farringtonFlexible``
(checked against surveillance 1.20.3 on R 4.2.2) for one count series or for many
series that share one time axis.  It is pure: no IO, no clock, no global state.

For every evaluated period ``k`` the method

1. picks reference periods: the same period 1..b years back (by calendar date
   when dates are given, else ``k - freq * j``), a window of +-w periods around
   each, and, when ``no_periods > 1``, the periods between the windows split into
   ``no_periods - 1`` seasonal blocks;
2. drops the most recent ``past_weeks_not_included`` periods and missing counts;
3. fits a quasi-Poisson log-linear GLM (intercept, optional linear trend, optional
   seasonal factor) by IRLS, down-weights outlying reference values with Anscombe
   residuals and refits, keeps the trend only if it is significant, b >= 3 and
   the prediction does not exceed the largest reference count;
4. turns the prediction into an upper threshold (delta method on a power scale,
   or a negative binomial quantile) and raises an alarm when the count exceeds
   it, unless fewer than ``limit54[0]`` cases were seen in the last
   ``limit54[1]`` periods.

All GLM fits of all evaluated periods (and all series) are solved together: the
design is "one mean per seasonal level plus one common slope", so each IRLS step
reduces to weighted sums per level (contiguous segments, np.add.reduceat) for
the whole batch: no per-period Python loop and no linear-algebra call.  The
iteration schedule (starting values, convergence rule, 25 iterations, the floor
of the fitted mean at machine epsilon) follows R's ``glm.fit`` so the results
agree with R to rounding error, also in degenerate cases such as all-zero
reference values.  Only numpy and scipy.special are imported.

Indices in this module are 0-based; R's documentation and output are 1-based.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from tasks.detectors.farrington_fit import (
    _CHUNK_CELLS,
    _EPS,
    FarringtonSettings,
    _Design,
    _fit_flexible,
    _threshold_delta,
    _threshold_noufaily,
)
from tasks.detectors.schema import DetectorConfig, Series, blank


@dataclass(frozen=True)
class FarringtonResult:
    """Scores of the evaluated periods.

    Every array has shape ``(K,)`` for :func:`farrington_flexible` and ``(N, K)``
    for :func:`farrington_flexible_many` (N series, K evaluated periods).  Fields
    marked "R" hold exactly what farringtonFlexible returns (NaN where R has NA).
    """

    index: np.ndarray  # (K,) int: 0-based positions evaluated
    expected: np.ndarray  # R control$expected: mean, NaN under the limit54 guard
    upper: np.ndarray  # R upperbound: threshold, NaN under the limit54 guard
    alarm: np.ndarray  # R alarms (bool); False where R gives NA (unscorable)
    score: np.ndarray  # R control$score: (y - fit) / (upper - fit), fit on R's scale
    p_value: np.ndarray  # R control$pvalue: P(Y >= y) under the fitted distribution
    phi: np.ndarray  # R control$phiVector: overdispersion, >= 1
    trend_kept: np.ndarray  # R control$trend == 1 (bool)
    trend_coef: np.ndarray  # R control$trendVector: slope per period on the log scale, NaN if dropped
    mu0: np.ndarray  # R control$mu0Vector (see REPORT.md for its quirk under "delta")
    expected_model: np.ndarray  # model mean, also where the guard blanks `expected`
    upper_model: np.ndarray  # threshold, also where the guard blanks `upper`
    enough_cases: np.ndarray  # bool: limit54 guard passed (False also if a count in it is NaN)
    n_reference: np.ndarray  # int: reference values in the final fit (0 if unscorable)
    reason: np.ndarray  # object: None, or why the period could not be scored
    settings: FarringtonSettings = field(repr=False, default_factory=FarringtonSettings)


# --------------------------------------------------------------------------------------
# Reference periods and the layout of the fitted rows
# --------------------------------------------------------------------------------------


def default_eval_index(n_periods: int, settings: FarringtonSettings) -> np.ndarray:
    """R's default ``range``: from ``freq*b + w`` (0-based) to the end. Shape (K,)."""
    start = settings.freq * settings.b + settings.w
    return np.arange(start, n_periods, dtype=np.int64)


def _weekday_sun0(days: np.ndarray) -> np.ndarray:
    # R's format(date, "%w"): Sunday = 0.  Day 0 of the epoch (1970-01-01) was a Thursday.
    return (days + 4) % 7


def _years_back(dates: np.ndarray, years: int) -> np.ndarray:
    """Same month and day ``years`` earlier; 29 Feb becomes 1 Mar (as R's seq by "-1 year")."""
    month_start = dates.astype("datetime64[M]")
    day_of_month = (dates - month_start.astype("datetime64[D]")).astype(np.int64)
    # Adding the day offset to the first of the month rolls 29 Feb over exactly as
    # R's POSIXlt normalisation does.
    earlier = (month_start - np.timedelta64(12 * years, "M")).astype("datetime64[D]")
    return earlier + day_of_month.astype("timedelta64[D]")


def reference_points(
    eval_index: np.ndarray,
    settings: FarringtonSettings,
    n_periods: int,
    dates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the b reference periods of each evaluated period.

    Returns ``(refs (K, b) int, ok (K,) bool)``; ``refs[:, j-1]`` is j years back.
    ``ok`` is False when a reference period is not in the series (R stops then).
    Without dates the reference is ``k - freq*j``; with dates it is the same
    calendar day j years back, moved to the nearest same weekday for weekly data.
    """
    k = np.asarray(eval_index, dtype=np.int64)
    j = np.arange(1, settings.b + 1, dtype=np.int64)
    if dates is None:
        refs = k[:, None] - settings.freq * j[None, :]
        return refs, np.all(refs >= 0, axis=1)
    day = dates[k]
    refs = np.empty((k.size, settings.b), dtype=np.int64)
    ok = np.ones(k.size, dtype=bool)
    for col, years in enumerate(j):
        target = _years_back(day, int(years))
        if settings.freq == 52:
            # Nearest date with the weekday of the evaluated date: R compares the
            # same-weekday date in that week with the one a week away.
            t_days = target.astype(np.int64)
            shift = _weekday_sun0(t_days) - _weekday_sun0(day.astype(np.int64))
            a = t_days - shift
            b = a + np.where(a > t_days, -7, 7)
            t_days = np.where(np.abs(a - t_days) > np.abs(b - t_days), b, a)
            target = t_days.astype("datetime64[D]")
        pos = np.searchsorted(dates, target)
        found = pos < dates.size
        found[found] = dates[pos[found]] == target[found]
        refs[:, col] = np.where(found, pos, -1)
        ok &= found
    return refs, ok


def window_layout(rel_refs: tuple[int, ...], settings: FarringtonSettings) -> tuple[np.ndarray, np.ndarray]:
    """Rows used by the fit, relative to the evaluated period, and their seasonal level.

    ``rel_refs``: offsets (negative) of the b reference periods, most recent first.
    Returns ``(rel (M,) int ascending, level (M,) int in 1..no_periods)``; the level
    of every reference window (and of the prediction) is ``no_periods``, the gaps
    between windows get levels 1..no_periods-1 in time order.  Raises ValueError
    when a gap is too short to hold no_periods-1 non-empty blocks.
    """
    w, p = settings.w, settings.no_periods
    lowest = rel_refs[-1] - w
    level = np.zeros(-lowest + 1, dtype=np.int64)  # 0 = not used; index = rel - lowest

    def put(first: int, last: int, value: int) -> None:
        level[first - lowest : last - lowest + 1] = value

    # Same order as R, so later assignments win where ranges overlap.
    put(-w, 0, p)
    previous = 0
    for ref in rel_refs:
        put(ref - w, ref + w, p)
        if p != 1:
            gap = previous - 2 * w - 1 - ref
            if gap < p - 1:
                # R stops when gap < p - (2w+1) and otherwise writes overlapping,
                # partly reversed blocks; neither is a usable model, so refuse both.
                raise ValueError(f"gap of {gap} periods between windows cannot hold {p - 1} seasonal blocks")
            size, rest = divmod(gap, p - 1)
            sizes = np.full(p - 1, size, dtype=np.int64)
            sizes[:rest] += 1  # the remainder goes to the earliest blocks
            start = ref + w + 1
            for block, length in enumerate(sizes, start=1):
                put(start, start + int(length) - 1, block)
                start += int(length)
        previous = ref
    # The most recent periods are left out so an emerging outbreak does not
    # inflate its own baseline.
    keep = level > 0
    keep[max(0, -settings.excluded - lowest) :] = False
    rel = np.nonzero(keep)[0] + lowest
    return rel.astype(np.int64), level[keep]


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def _as_dates(dates: object) -> np.ndarray:
    arr = np.asarray(dates)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    return np.asarray([str(d)[:10] for d in arr.ravel()], dtype="datetime64[D]")


def _guard(counts: np.ndarray, k: np.ndarray, settings: FarringtonSettings) -> tuple[np.ndarray, np.ndarray]:
    """limit54: (enough (N, K) bool, known (N, K) bool). Counts (N, T)."""
    cases, periods = settings.limit54
    N = counts.shape[0]
    finite = np.isfinite(counts)
    csum = np.concatenate([np.zeros((N, 1)), np.cumsum(np.where(finite, counts, 0.0), axis=1)], axis=1)
    cnan = np.concatenate([np.zeros((N, 1)), np.cumsum(~finite, axis=1)], axis=1)
    lo = np.maximum(k - int(periods) + 1, 0)  # R drops an index 0; earlier starts are refused upstream
    total = csum[:, k + 1] - csum[:, lo]
    known = (cnan[:, k + 1] - cnan[:, lo]) == 0
    return known & (total >= cases), known


def farrington_flexible(
    counts: np.ndarray,
    settings: FarringtonSettings | None = None,
    *,
    dates: object | None = None,
    eval_index: np.ndarray | None = None,
) -> FarringtonResult:
    """Score the periods ``eval_index`` of one series.

    counts: (T,) float, NaN = missing (left out of the fit, as R's glm drops NA).
    dates: optional (T,) dates, strictly increasing; enables R's calendar-based
    reference periods (epochAsDate = TRUE).  Without dates, references are
    ``k - freq*j``.  eval_index: (K,) 0-based positions; default R's range.
    Returns a :class:`FarringtonResult` of (K,) arrays.
    """
    res = farrington_flexible_many(
        np.asarray(counts, dtype=float)[None, :], settings, dates=dates, eval_index=eval_index
    )
    return FarringtonResult(
        **{
            name: (getattr(res, name) if name in ("index", "settings") else getattr(res, name)[0])
            for name in res.__dataclass_fields__
        }
    )


def farrington_flexible_many(
    counts: np.ndarray,
    settings: FarringtonSettings | None = None,
    *,
    dates: object | None = None,
    eval_index: np.ndarray | None = None,
) -> FarringtonResult:
    """Score N series that share one time axis. counts: (N, T); result arrays (N, K)."""
    settings = settings or FarringtonSettings()
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    N, T = counts.shape
    if np.any(counts[np.isfinite(counts)] < 0):
        raise ValueError("counts must be >= 0 (R's quasi-Poisson family refuses negative values)")
    if np.any(np.isinf(counts)):
        raise ValueError("counts must be finite or NaN")
    date_arr = None
    if dates is not None:
        if settings.freq not in (12, 52, 365):
            raise ValueError("with dates, freq must be 12, 52 or 365 (as in R)")
        date_arr = _as_dates(dates)
        if date_arr.shape != (T,) or np.any(np.diff(date_arr.astype(np.int64)) <= 0):
            raise ValueError("dates must have one strictly increasing date per period")
    k_all = default_eval_index(T, settings) if eval_index is None else np.asarray(eval_index, dtype=np.int64)
    if k_all.size and (k_all.min() < 0 or k_all.max() >= T):
        raise ValueError("eval_index out of range")
    K = k_all.size

    out = {
        name: np.full((N, K), np.nan)
        for name in (
            "expected",
            "upper",
            "score",
            "p_value",
            "phi",
            "trend_coef",
            "mu0",
            "expected_model",
            "upper_model",
        )
    }
    alarm = np.zeros((N, K), dtype=bool)
    trend_kept = np.zeros((N, K), dtype=bool)
    n_reference = np.zeros((N, K), dtype=np.int64)
    reason = np.full((N, K), None, dtype=object)
    enough, known = _guard(counts, k_all, settings)

    refs, ok = reference_points(k_all, settings, T, date_arr)
    reason[:, ~ok] = "not enough history: a reference period is outside the series"
    w = settings.w
    # R silently drops an index of 0 (1-based) but stops on negative indices.
    lowest_abs = np.where(ok, refs[:, -1] - w, 0)
    too_early = ok & (
        (lowest_abs < -1) | (k_all - settings.excluded < -1) | (k_all - int(settings.limit54[1]) + 1 < -1)
    )
    reason[:, too_early] = "not enough history: the oldest window starts before the series"
    ok &= ~too_early

    # Periods that share reference offsets share the row layout; fit them together.
    groups: dict[tuple[tuple[int, ...], bool], list[int]] = {}
    for col in np.nonzero(ok)[0]:
        key = (tuple(int(r) for r in refs[col] - k_all[col]), bool(lowest_abs[col] == -1))
        groups.setdefault(key, []).append(int(col))
    days = None if date_arr is None else date_arr.astype(np.int64)
    step = float(days[1] - days[0]) if days is not None and T > 1 else 1.0
    regular = days is None or bool(np.all(np.diff(days) == step))

    for (rel_refs, truncated), cols in groups.items():
        try:
            rel, level = window_layout(rel_refs, settings)
        except ValueError as exc:
            reason[:, cols] = f"cannot build seasonal blocks: {exc}"
            continue
        if truncated:
            rel, level = rel[1:], level[1:]  # the row at R index 0
        order = np.argsort(level, kind="stable")  # group rows by level (see _Design)
        rel, level = rel[order], level[order]
        cols_arr = np.asarray(cols)
        # Time of each row relative to the evaluated period, in periods (R: date
        # difference / first date step).  With regular dates it is the offset.
        if regular:
            t_sets = [(rel.astype(float), cols_arr)]
        else:
            t_all = (days[k_all[cols_arr][:, None] + rel[None, :]] - days[k_all[cols_arr]][:, None]) / step
            uniq, inverse = np.unique(t_all, axis=0, return_inverse=True)
            t_sets = [(uniq[u], cols_arr[inverse.ravel() == u]) for u in range(uniq.shape[0])]
        for t_rel, set_cols in t_sets:
            # Centring time is a reparametrisation; it keeps the slope sums well conditioned.
            centre = float(t_rel.mean())
            design = _Design.build(level, t_rel - centre, settings.no_periods)
            # Problems = (series, period) pairs, in chunks that stay cache-sized.
            per_chunk = max(1, _CHUNK_CELLS // max(rel.size, 1))
            pairs_n = np.repeat(np.arange(N), set_cols.size)
            pairs_c = np.tile(set_cols, N)
            for start in range(0, pairs_n.size, per_chunk):
                sl = slice(start, start + per_chunk)
                _score_chunk(
                    counts,
                    days,
                    step,
                    k_all,
                    pairs_n[sl],
                    pairs_c[sl],
                    rel,
                    design,
                    centre,
                    settings,
                    out,
                    alarm,
                    trend_kept,
                    n_reference,
                    reason,
                    enough,
                    known,
                )

    return FarringtonResult(
        index=k_all,
        alarm=alarm,
        trend_kept=trend_kept,
        enough_cases=enough & known,
        n_reference=n_reference,
        reason=reason,
        settings=settings,
        **out,
    )


def _score_chunk(
    counts: np.ndarray,
    days: np.ndarray | None,
    step: float,
    k_all: np.ndarray,
    sn: np.ndarray,
    sc: np.ndarray,
    rel: np.ndarray,
    design: _Design,
    centre: float,
    settings: FarringtonSettings,
    out: dict[str, np.ndarray],
    alarm: np.ndarray,
    trend_kept: np.ndarray,
    n_reference: np.ndarray,
    reason: np.ndarray,
    enough: np.ndarray,
    known: np.ndarray,
) -> None:
    """Fit and score the problems (series sn[i], period k_all[sc[i]]); writes into the outputs."""
    k = k_all[sc]
    P = sn.size
    pos = k[:, None] + rel[None, :]  # (P, M)
    raw = counts[sn[:, None], pos]
    present = np.isfinite(raw)
    has_data = present.any(axis=1)
    if not has_data.all():
        reason[sn[~has_data], sc[~has_data]] = "no reference values"
        sn, sc, k = sn[has_data], sc[has_data], k[has_data]
        pos, raw, present = pos[has_data], raw[has_data], present[has_data]
        P = sn.size
        if P == 0:
            return
    y = np.where(present, raw, 0.0)
    t0 = np.full(P, -centre)  # the evaluated period on the design's time scale
    if days is not None and settings.r_quirks:
        # R (with dates) measures the fitted times from the first row of the
        # window layout but the prediction time from the first row that has a
        # count.  When the oldest reference value is missing the prediction is
        # therefore made that many periods too early (this only matters with a
        # trend).  Mirrored unless r_quirks is off.
        # Rows are ordered by level, so find the oldest rows by their offsets.
        oldest = k + rel.min()
        first = k + np.min(np.where(present, rel[None, :], np.iinfo(np.int64).max), axis=1)
        first = np.where(present.any(axis=1), first, oldest)
        t0 = t0 + (days[oldest] - days[first]) / step
    y_now = counts[sn, k]
    lvl = design.n_levels - 1  # the prediction is made for the level of the windows

    problem = np.full(P, "", dtype=object)

    trend0 = np.full(P, settings.trend)
    fit, phi, failed = _fit_flexible(y, present, design, trend0, settings)
    if settings.trend:
        with_slope = fit.trend & ~failed
        eta0 = fit.beta[:, lvl] + fit.theta * t0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fitted = np.maximum(np.exp(eta0), _EPS)
            se_theta = np.sqrt(fit.disp_se / fit.stt)
            p_trend = 2 * special.stdtr(np.maximum(fit.n_ok - fit.rank, 1), -np.abs(fit.theta / se_theta))
        ymax = np.max(np.where(present, y, -np.inf), axis=1)
        undecidable = with_slope & np.isnan(p_trend) & (fit.n_ok - fit.rank <= 0)
        problem[undecidable & (problem == "")] = "no residual degrees of freedom"
        keep = with_slope & (settings.b >= 3) & (p_trend < settings.p_threshold_trend) & (fitted <= ymax)
        refit = np.nonzero(fit.trend & ~keep & ~failed & ~undecidable)[0]
        if refit.size:
            fit2, phi2, failed2 = _fit_flexible(
                y[refit], present[refit], design, np.zeros(refit.size, dtype=bool), settings
            )
            fit.put(refit, fit2)
            phi[refit] = phi2
            failed[refit] = failed2  # R would stop here; reported as not converged
        kept = fit.trend & keep
    else:
        kept = np.zeros(P, dtype=bool)

    problem[fit.broken & (problem == "")] = "degenerate fit: R's glm would stop with an error"
    problem[failed & (problem == "")] = "GLM did not converge with nor without trend"
    problem[np.isnan(phi) & (problem == "")] = "no residual degrees of freedom"
    no_level = fit.s0[:, lvl] <= 0
    problem[no_level & (problem == "")] = "no reference values in the windows' seasonal level"

    eta0 = fit.beta[:, lvl] + fit.theta * t0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        var_u = 1.0 / fit.s0[:, lvl] + np.where(fit.trend, (t0 - fit.tbar[:, lvl]) ** 2 / fit.stt, 0.0)
        # predict.glm takes the dispersion from summary(): unfloored, and after
        # reweighting the omega-based one (see _fit_flexible).
        se_eta = np.sqrt(fit.disp_se * var_u)
    good = problem == ""
    e0, se0, ph, yk = eta0[good], se_eta[good], phi[good], y_now[good]

    if settings.threshold_method == "delta":
        with np.errstate(over="ignore"):
            mu0 = np.maximum(np.exp(e0), _EPS)
        se_resp = se0 * mu0
        upper, pv = _threshold_delta(mu0, se_resp, ph, yk, settings)
        fit_scale = mu0  # R's score uses the prediction on its own scale
        expected = mu0
        with np.errstate(over="ignore"):
            mu0_r = np.exp(mu0 + se_resp * special.ndtri(1 - settings.alpha))
    else:
        upper, pv = _threshold_noufaily(e0, se0, ph, yk, settings)
        fit_scale = e0
        with np.errstate(over="ignore"):
            expected = np.exp(e0)
            if settings.threshold_method == "nbPlugin":
                mu0_r = np.exp(e0)
            else:
                mu0_r = np.exp(e0 + se0 * special.ndtri(1 - settings.alpha))
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(np.isnan(upper), np.nan, (yk - fit_scale) / (upper - fit_scale))

    rn, rc = sn[good], sc[good]
    guard_ok = enough[rn, rc]
    guard_known = known[rn, rc]
    show = guard_ok & guard_known
    expected_r = np.where(show & ~np.isnan(upper), expected, np.nan)
    out["expected"][rn, rc] = expected_r
    out["upper"][rn, rc] = np.where(show, upper, np.nan)
    out["expected_model"][rn, rc] = expected
    out["upper_model"][rn, rc] = upper
    out["score"][rn, rc] = score
    out["p_value"][rn, rc] = pv
    out["phi"][rn, rc] = ph
    out["mu0"][rn, rc] = mu0_r
    kept_g = kept[good]
    out["trend_coef"][rn, rc] = np.where(kept_g, fit.theta[good], np.nan)
    trend_kept[rn, rc] = kept_g
    with np.errstate(invalid="ignore"):
        alarm[rn, rc] = show & ~np.isnan(score) & (score > 1) & (yk != 0)
    n_reference[rn, rc] = fit.n_ok[good]
    bad = ~good
    reason[sn[bad], sc[bad]] = problem[bad]


# -- the detector ---------------------------------------------------------------------------------


def settings_for(config: DetectorConfig) -> FarringtonSettings:
    """The port's settings from the pipeline's ``detect.farrington`` (alarm level: ``detect.alpha_alarm``)."""
    far = config.farrington
    return FarringtonSettings(
        b=far.b,
        w=far.w,
        reweight=far.reweight,
        weights_threshold=far.weights_threshold,
        alpha=config.alpha_alarm,
        trend=far.trend,
        p_threshold_trend=far.p_threshold_trend,
        limit54=(far.limit_cases, far.limit_periods),
        pow_trans=far.pow_trans,
        no_periods=far.no_periods,
        past_weeks_not_included=far.past_periods_not_included,
        threshold_method=far.threshold_method,
        freq=52 if config.period == "week" else 365,
    )


def columns(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """The improved Farrington method on one series, as ``(T,)`` output columns.

    One-sided, as the method is: an alarm is a count above the threshold (``upper``) of the fitted
    negative-binomial (or delta-method) baseline, a warning one whose p-value is below ``alpha_warning``.
    The baseline of a period is the same time b years back (with a window of w periods, and a seasonal
    factor over the rest of the year), so a period without b years of history is not scored, and the note
    says so. The small-count guard (``limit_cases`` in ``limit_periods``) blocks alerts, noted per period.
    """
    actual = series.actual
    n = actual.shape[0]
    cols = blank(n)
    settings = settings_for(config)
    needed = settings.freq * settings.b + settings.w
    if n <= needed:
        cols["note"] = np.full(n, f"needs {settings.b} year(s) of history ({needed} {config.period}s) before it "
                                  f"can score", dtype=object)  # fmt: skip
        return cols
    dates = series.data["date"].to_numpy().astype("datetime64[D]")
    result = farrington_flexible(actual, settings, dates=dates, eval_index=np.arange(n))
    p_value = result.p_value
    alarm_model = np.isfinite(result.score) & (result.score > 1) & (actual > 0)
    warning_model = ~alarm_model & np.isfinite(p_value) & (p_value < config.alpha_warning) & (actual > 0)
    blocked = (alarm_model | warning_model) & ~result.enough_cases
    severity = np.where(alarm_model, "alarm", np.where(warning_model, "warning", "none"))
    severity = np.where(blocked, "none", severity)
    levels = {"alarm"} if config.hotspot_level == "alarm" else {"alarm", "warning"}
    counted = config.counted_direction in ("surge", "both") and config.test_sides != "drop"
    notes = np.full(n, "", dtype=object)
    for i in np.flatnonzero(result.reason != None):  # noqa: E711 - an object array of str or None
        notes[i] = str(result.reason[i])
    notes[~np.isfinite(actual) & (notes == "")] = "no observed count"
    for i in np.flatnonzero(blocked):
        kind = "an alarm" if alarm_model[i] else "a warning"
        notes[i] = (
            f"small-count guard suppressed {kind}: fewer than {settings.limit54[0]:g} cases in the last "
            f"{settings.limit54[1]} {config.period}s"
        )
    cols.update(
        expected=result.expected_model,
        upper=result.upper_model,
        score=np.where(np.isfinite(actual), result.score, np.nan),
        p_value=p_value,
        p_surge=p_value,
        direction=np.where(severity != "none", "surge", "none").astype(object),
        severity=severity.astype(object),
        is_hotspot=np.isin(severity, list(levels)) & counted,
        guard_blocked=blocked,
        note=notes,
    )
    return cols
