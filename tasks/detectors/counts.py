"""Calibrated count models: a forecast turned into a calibrated negative-binomial predictive distribution.

Used by ``naive_calibrated`` (the 7-day mean as forecast) and ``lstm_calibrated`` (the LSTM's), and
as the per-day z of the EWMA detectors (:mod:`tasks.detectors.ewma`). Design of the distribution,
the test and the band:

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
* Test: surges and drops are tested separately (``test_sides``, which ``direction`` implies).
  "two-sided" (direction both, the default): each side at alpha/2, p_value = min(1, 2 min(p_surge,
  p_drop)) with the direction of the smaller; "each" (direction surge or drop): each side one-sided
  at alpha (ESSENCE red/yellow, which are one-sided); alarm if p < alpha_alarm, warning if p <
  alpha_warning. "surge" / "drop" test that side only. Which directions count as hotspots is
  ``counted_direction`` (``direction``).
* Small-count guard: no warning/alarm unless the last ``guard_window_days`` (today included)
  hold at least ``guard_min_cases`` observed cases (daily analogue of Farrington's limit54)
  and |actual - expected| >= ``guard_min_excess`` cases. The statistic is still reported;
  ``guard_blocked`` and the note say the alert was suppressed.
* Band: lower/upper are the central (1 - alpha) predictive interval for the alpha of
  ``hotspot_level`` (99 % by default), so, up to discreteness, a day outside the band is a
  hotspot unless the guard blocks it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from tasks.detectors.schema import Calibration, DetectorConfig, Series, as_forecast, blank, join_notes, lagged_windows

NAIVE_KEY, LSTM_KEY = "naive", "lstm"
"""Keys of the naive and the LSTM forecast's predictive distributions in :attr:`Series.shared`."""
COLUMNS_KEY = "{}_columns"
"""Key of a calibrated detector's columns in :attr:`Series.shared` (``naive_calibrated_columns``, ...), so that
they can be computed for many series at once beforehand (tasks/detectors/batch.py)."""


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
    windows = lagged_windows(values, days, 0)
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
    extra_variance: np.ndarray | None = None,
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
        extra_variance: optional ``(T,)`` known part of each day's forecast variance in counts (e.g. the
            ensemble spread squared); it enters as E[(y - m)^2] = v + phi v^2 + c^2 e, so phi is net of it.

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
    extra = np.zeros(all_y.shape)
    if extra_variance is not None:
        extra[prior_y.shape[0] :] = np.nan_to_num(np.asarray(extra_variance, dtype="float64"), nan=0.0)
    window = config.calibration_window_days
    yw = lagged_windows(all_y, window, 0)[prior_y.shape[0] :]
    fw = lagged_windows(all_f, window, 0)[prior_y.shape[0] :]
    lw = lagged_windows(all_level, window, 0)[prior_y.shape[0] :]
    ez = np.nan_to_num(lagged_windows(extra, window, 0)[prior_y.shape[0] :], nan=0.0)
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
        e_sum = np.where(mask, c[:, None] ** 2 * ez, 0.0).sum(axis=1)
        den = np.where(mask, v**2, 0.0).sum(axis=1)
        phis = []
        for kappa in kappas:
            num = scaled / kappa - v_sum - e_sum
            with np.errstate(divide="ignore", invalid="ignore"):
                phis.append(np.where(den > 0, np.maximum(num / np.where(den > 0, den, 1.0), 0.0), 0.0))
        return c, phis, m, v

    scale, (phi,), m, v = fit(keep, (1.0,))
    floor_keep = np.maximum(config.min_calibration_days, np.ceil(n_usable / 2.0))
    truncated = np.zeros(n, dtype=bool)
    for _ in range(config.trim_iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (yz - m) / np.sqrt(v + phi[:, None] * v**2 + scale[:, None] ** 2 * ez)
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


def _predictive(
    actual: np.ndarray,
    forecast: np.ndarray,
    config: DetectorConfig,
    calibration: Calibration | None,
    forecast_notes: np.ndarray | None,
    extra_variance: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The calibrated NB predictive distribution of every day, and the tail probabilities of its count
    (``extra_variance`` (T,): a known part of each day's forecast variance, see :func:`estimate_calibration`).

    Returns ``(T,)`` arrays: ``mean`` and ``phi`` (NB2), ``dof`` (Student degrees of freedom, inf without
    ``predictive_correction``), ``p_surge``, ``p_drop``, ``z`` (signed, Student-corrected mid-p z, > 0 surge),
    ``reason`` (why a day cannot be scored, "" if it can) and ``clip_note`` (a negative forecast was clipped).
    """
    f = np.asarray(forecast, dtype="float64")
    n = actual.shape[0]
    cal = estimate_calibration(actual, f, config, calibration, extra_variance)
    clipped = np.where(np.isfinite(f), np.maximum(f, 0.0), np.nan)
    mean = np.maximum(cal["scale"] * clipped, config.mu_floor)
    mean = np.where(np.isfinite(clipped) & np.isfinite(cal["scale"]), mean, np.nan)
    n_used = cal["n_used"].astype("float64")
    level = np.maximum(cal["scale"] * cal["level"], config.mu_floor)
    variance = level + cal["dispersion"] * level**2
    if extra_variance is not None:
        variance = variance + cal["scale"] ** 2 * np.nan_to_num(np.asarray(extra_variance, dtype="float64"), nan=0.0)
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
    reason = np.where(~np.isfinite(f) & (reason == ""), f"no forecast for this {config.period}", reason)
    # Notes are formatted only for the days that get them (string formatting for every day was a visible cost).
    for i in np.flatnonzero((reason == "") & ~np.isfinite(cal["dispersion"])):
        reason[i] = (
            f"only {cal['n_usable'][i]} past residual(s) in the last {config.calibration_window_days} {config.period}s "
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
    recent = lagged_windows(actual, config.guard_window_days - 1, 0) if config.guard_window_days > 1 else None
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
                f"{window_cases[i]:g} cases in the last {config.guard_window_days} {config.period}s "
                f"(< {config.guard_min_cases:g})"
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
    """One-sided p-values -> (p_value, side, severity), each ``(T,)``, per ``config.test_sides`` and the alphas."""
    n = p_surge.shape[0]
    if config.test_sides in ("each", "two-sided"):
        factor = 2.0 if config.test_sides == "two-sided" else 1.0
        p_value = np.minimum(1.0, factor * np.minimum(p_surge, p_drop))
        side = np.where(p_surge <= p_drop, "surge", "drop")
    elif config.test_sides == "surge":
        p_value, side = p_surge, np.full(n, "surge")
    else:
        p_value, side = p_drop, np.full(n, "drop")
    severity = np.where(
        p_value < config.alpha_alarm, "alarm", np.where(p_value < config.alpha_warning, "warning", "none")
    )
    severity = np.where(np.isfinite(p_value), severity, "none")
    return p_value, side, severity


def _hotspots(severity: np.ndarray, side: np.ndarray, config: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Alerts at ``hotspot_level`` whose direction counts (``direction``) -> (hotspot ``(T,)``, note ``(T,)``).

    An alert in the other direction stays reported (severity, direction) and gets a note saying why it
    is not a hotspot.
    """
    levels = {"alarm"} if config.hotspot_level == "alarm" else {"alarm", "warning"}
    alert = np.isin(severity, list(levels))
    counted = np.ones_like(alert) if config.counted_direction == "both" else side == config.counted_direction
    hot = alert & counted
    note = np.where(
        alert & ~counted,
        f"a {'drop' if config.counted_direction == 'surge' else 'surge'}: reported, not counted as a hotspot "
        f"(direction = {config.counted_direction})",
        "",
    ).astype(object)
    return hot, note


def _band_tail(config: DetectorConfig) -> float:
    """One-sided tail probability at each edge of the reported band (alpha of ``hotspot_level``, halved if
    ``sides`` is two-sided): a count outside the band is an alert of that level (up to discreteness)."""
    alpha = config.alpha_alarm if config.hotspot_level == "alarm" else config.alpha_warning
    return alpha / 2 if config.test_sides == "two-sided" else alpha


def _calibrated_cols(actual: np.ndarray, dist: dict[str, np.ndarray], config: DetectorConfig) -> dict[str, np.ndarray]:
    """The calibrated detectors' ``(T,)`` output columns from validated counts and their :func:`_predictive`."""
    n = actual.shape[0]
    mean, phi, dof = dist["mean"], dist["phi"], dist["dof"]
    p_value, side, severity = _test_levels(dist["p_surge"], dist["p_drop"], config)
    blocked, guard_note = small_count_guard(actual, actual - mean, severity, config)
    severity = np.where(blocked, "none", severity)
    hot, direction_note = _hotspots(severity, side, config)

    # The NB tail level whose Student-corrected p-value equals the band's tail, so the band matches the test.
    raw_tail = _student_tail_inverse(np.full(n, _band_tail(config)), dof)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    if config.test_sides == "surge":
        (upper,) = _nb_quantiles([1.0 - raw_tail], mean, phi)
    elif config.test_sides == "drop":
        (lower,) = _nb_quantiles([raw_tail], mean, phi)
    else:
        lower, upper = _nb_quantiles([raw_tail, 1.0 - raw_tail], mean, phi)

    cols = blank(n)
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
        note=join_notes(dist["reason"], dist["clip_note"], guard_note, direction_note),
    )
    return cols


def naive_forecast(
    actual: np.ndarray, window: int = 7, guard: int = 0, period: str = "day"
) -> tuple[np.ndarray, np.ndarray]:
    """``(T,)`` -> ``(T,)`` mean of the ``window`` days ending ``guard`` days before each day.

    NaN (with a note in the second ``(T,)`` array) when that window is incomplete or has a gap.
    """
    y = np.asarray(actual, dtype="float64")
    windows = lagged_windows(y, window, guard)
    complete = np.isfinite(windows).all(axis=1)
    mean = np.where(complete, np.where(complete[:, None], windows, 0.0).mean(axis=1), np.nan)
    notes = np.full(y.shape[0], "", dtype=object)
    first = window + guard
    for i in np.flatnonzero(~complete):
        if i < first:
            notes[i] = f"fewer than {first} earlier {period}s for the {window}-{period} mean forecast"
        else:
            notes[i] = (
                f"{int((~np.isfinite(windows[i])).sum())} missing {period}(s) in the {window}-{period} mean "
                "forecast window"
            )
    return mean, notes


def _naive_predictive(
    actual: np.ndarray, config: DetectorConfig, calibration: Calibration | None
) -> dict[str, np.ndarray]:
    """:func:`_predictive` of the naive mean forecast (shared by naive_calibrated and naive_ewma)."""
    mean, notes = naive_forecast(actual, config.baseline_days, config.naive_guard_days, config.period)
    return _predictive(actual, mean, config, calibration, notes)


def _lstm_predictive(
    actual: np.ndarray, forecast: np.ndarray | None, config: DetectorConfig, calibration: Calibration | None, name: str
) -> dict[str, np.ndarray]:
    """:func:`_predictive` of the LSTM forecast (shared by lstm_calibrated and lstm_ewma); ``name`` for errors."""
    return _predictive(actual, as_forecast(forecast, actual.shape[0], name), config, calibration, None)


def naive_calibrated(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """Mean of the previous ``baseline_days`` (7) days as forecast + the calibrated NB: the no-model baseline."""
    return series.once(
        COLUMNS_KEY.format("naive_calibrated"),
        lambda: _calibrated_cols(series.actual, naive_distribution(series, config), config),
    )


def lstm_calibrated(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """The LSTM's one-step forecast (NaN where it has no window) + the calibrated NB.

    Negative or fractional forecasts are accepted: negatives are clipped at 0 for the distribution
    (noted per day), fractions are fine for a mean. Dispersion and bias come from this series' own
    past residuals (and the optional older ``calibration`` pairs).
    """
    return series.once(
        COLUMNS_KEY.format("lstm_calibrated"),
        lambda: _calibrated_cols(series.actual, lstm_distribution(series, config, "lstm_calibrated"), config),
    )


def naive_distribution(series: Series, config: DetectorConfig) -> dict[str, np.ndarray]:
    """The naive forecast's predictive distribution, computed once per series (naive_calibrated, naive_ewma).

    Older calibration pairs belong to the LSTM's residuals: the naive detectors never get them.
    """
    return series.once(NAIVE_KEY, lambda: _naive_predictive(series.actual, config, None))


def lstm_distribution(series: Series, config: DetectorConfig, name: str) -> dict[str, np.ndarray]:
    """The LSTM forecast's predictive distribution, computed once per series (lstm_calibrated, lstm_ewma)."""
    return series.once(
        LSTM_KEY, lambda: _lstm_predictive(series.actual, series.forecast, config, series.calibration, name)
    )
