"""The improved Farrington method's settings and its fitting machinery: batched quasi-Poisson GLMs and thresholds.

The detector and the reference windows are in :mod:`tasks.detectors.farrington`; this module solves the
GLMs of every evaluated period (and series) together. The design is "one mean per seasonal level plus one
common slope", so each IRLS step reduces to weighted sums per level for the whole batch: no per-period
Python loop and no linear-algebra call. The iteration schedule (starting values, convergence rule, 25
iterations, the floor of the fitted mean at machine epsilon) follows R's ``glm.fit``, so results agree with R
``surveillance::farringtonFlexible`` to rounding error (tests/unit/test_farrington.py, against R's values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

_EPS = float(np.finfo(float).eps)
_GLM_MAXIT = 25  # glm.control() defaults used by farringtonFlexible
_GLM_EPSILON = 1e-8
# Cells (problems x reference rows) handled in one batch: small enough for the
# arrays of one IRLS step to stay in cache, large enough to amortise call overhead.
_CHUNK_CELLS = 200_000

ThresholdMethod = Literal["delta", "nbPlugin", "muan"]
PowTrans = Literal["2/3", "1/2", "none"]


@dataclass(frozen=True)
class FarringtonSettings:
    """Control settings; the R name of each field is given in brackets.

    Defaults are those of ``farringtonFlexible`` itself (which mixes old and new
    choices); use :meth:`original` or :meth:`improved` for the published presets.
    """

    b: int = 5  # [b] years back
    w: int = 3  # [w] half window, in periods
    reweight: bool = True  # [reweight] down-weight outlying reference values
    weights_threshold: float = 2.58  # [weightsThreshold] Anscombe residual cut-off
    alpha: float = 0.05  # [alpha] one-sided level of the threshold
    trend: bool = True  # [trend] try a linear time trend
    p_threshold_trend: float = 0.05  # [pThresholdTrend]
    limit54: tuple[float, int] = (5, 4)  # [limit54] (cases, periods) small-count guard
    pow_trans: PowTrans = "2/3"  # [powertrans] only used by "delta"
    no_periods: int = 1  # [noPeriods] seasonal levels (1 = windows only)
    past_weeks_not_included: int | None = None  # [pastWeeksNotIncluded]; None = w
    threshold_method: ThresholdMethod = "delta"  # [thresholdMethod]
    freq: int = 52  # [sts@freq] periods per year: 52 weekly, 365 daily, 12 monthly
    # Reproduce two numerical quirks of farringtonFlexible 1.20.3 (see REPORT.md):
    # the dispersion used for standard errors after reweighting, and the
    # prediction time when the oldest reference value is missing.  Off = the
    # textbook computation.
    r_quirks: bool = True

    def __post_init__(self) -> None:
        if self.threshold_method not in ("delta", "nbPlugin", "muan"):
            raise ValueError(f"threshold_method must be delta, nbPlugin or muan, not {self.threshold_method!r}")
        if self.pow_trans not in ("2/3", "1/2", "none"):
            raise ValueError(f"pow_trans must be '2/3', '1/2' or 'none', not {self.pow_trans!r}")
        # R checks exactly this and stops otherwise.
        if not (self.limit54[0] >= 0 and self.limit54[1] > 0):
            raise ValueError("limit54 needs cases >= 0 and periods > 0")
        if self.b < 1 or self.w < 0 or self.no_periods < 1 or self.freq < 1:
            raise ValueError("need b >= 1, w >= 0, no_periods >= 1, freq >= 1")
        if self.past_weeks_not_included is not None and self.past_weeks_not_included < 0:
            raise ValueError("past_weeks_not_included must be >= 0")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")

    @property
    def excluded(self) -> int:
        """Most recent periods left out of the fit (R: pastWeeksNotIncluded, default w)."""
        return self.w if self.past_weeks_not_included is None else self.past_weeks_not_included

    @classmethod
    def original(cls, **changes: object) -> FarringtonSettings:
        """Farrington et al. (1996) as run by farringtonFlexible: windows only, delta method."""
        base: dict[str, object] = dict(
            b=5,
            w=3,
            reweight=True,
            weights_threshold=1.0,
            trend=True,
            no_periods=1,
            past_weeks_not_included=3,
            threshold_method="delta",
            pow_trans="2/3",
        )
        base.update(changes)
        return cls(**base)  # type: ignore[arg-type]

    @classmethod
    def improved(cls, **changes: object) -> FarringtonSettings:
        """Noufaily et al. (2013): 10 seasonal levels, 26 periods excluded, NB quantile.

        The trend is always tried and kept unless it extrapolates or b < 3
        (p_threshold_trend = 1, the value ?farringtonFlexible advises).
        """
        base: dict[str, object] = dict(
            b=5,
            w=3,
            reweight=True,
            weights_threshold=2.58,
            trend=True,
            p_threshold_trend=1.0,
            no_periods=10,
            past_weeks_not_included=26,
            threshold_method="nbPlugin",
        )
        base.update(changes)
        return cls(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Residuals and weights (small, exact helpers; also used by the batched fit)
# --------------------------------------------------------------------------------------


def anscombe_residuals(y: np.ndarray, mu: np.ndarray, hat: np.ndarray, phi: np.ndarray | float) -> np.ndarray:
    """Standardised Poisson Anscombe residuals. Shapes broadcast, e.g. (P, M) with phi (P, 1).

    ``1.5 * (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - hat))``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = 1.5 * (np.power(y, 2.0 / 3.0) * np.power(mu, -1.0 / 6.0) - np.sqrt(mu))
        return raw / np.sqrt(phi * (1.0 - hat))


def outlier_weights(s: np.ndarray, threshold: float, present: np.ndarray | None = None) -> np.ndarray:
    """Reweighting of reference values: ``s^-2`` above ``threshold``, 1 otherwise, rescaled.

    ``s``: (..., M) residuals; ``present``: same shape, False for cells that are not
    data (they get weight 0 and do not count).  The weights of each row average
    to 1 over its present cells.
    """
    if present is None:
        present = np.ones(s.shape, dtype=bool)
    high = present & (s > threshold)
    with np.errstate(divide="ignore"):
        raw = np.where(high, np.power(np.where(high, s, 1.0), -2.0), np.where(present, 1.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = present.sum(axis=-1, keepdims=True) / raw.sum(axis=-1, keepdims=True)
    return raw * scale


# --------------------------------------------------------------------------------------
# Batched IRLS for "one mean per level + common slope" quasi-Poisson GLMs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    """Layout shared by a batch of problems: M fitted rows, G seasonal levels.

    Rows are ordered by level (time order within a level), so every per-level
    sum is one contiguous segment: np.add.reduceat, no BLAS call (small BLAS
    calls are slow here, and multithreaded BLAS is much slower still).
    """

    level: np.ndarray  # (M,) level index 0..G-1, non-decreasing
    starts: np.ndarray  # (G,) first row of each level
    t: np.ndarray  # (M,) centred time of each row

    @classmethod
    def build(cls, level: np.ndarray, t: np.ndarray, n_levels: int) -> _Design:
        """level: (M,) 1..G sorted; t: (M,). Every level must have a row."""
        lv = level - 1
        starts = np.searchsorted(lv, np.arange(n_levels))
        return cls(level=lv, starts=starts, t=t)

    @property
    def n_levels(self) -> int:
        return int(self.starts.size)

    def sums(self, x: np.ndarray) -> np.ndarray:
        """Per-level sums of x (P, M) -> (P, G)."""
        return np.add.reduceat(x, self.starts, axis=1)

    def spread(self, per_level: np.ndarray) -> np.ndarray:
        """Per-level values (P, G) -> (P, M)."""
        return np.take(per_level, self.level, axis=1)


@dataclass
class _Fit:
    """State of P fitted GLMs (arrays indexed by problem first)."""

    beta: np.ndarray  # (P, G) log mean per level at t = 0
    theta: np.ndarray  # (P,) slope (0 without trend)
    trend: np.ndarray  # (P,) bool: slope in the model
    mu: np.ndarray  # (P, M) final fitted means
    work: np.ndarray  # (P, M) working weights of the last iteration (R's fit$weights)
    s0: np.ndarray  # (P, G) sum of working weights per level
    tbar: np.ndarray  # (P, G) weighted mean time per level
    stt: np.ndarray  # (P,) within-level weighted sum of squares of time
    conv: np.ndarray  # (P,) bool
    broken: np.ndarray  # (P,) bool: R's glm.fit would have stopped with an error
    disp: np.ndarray  # (P,) Pearson dispersion (NaN without residual df)
    disp_se: np.ndarray  # (P,) dispersion R's summary/predict see afterwards (see _fit_flexible)
    rank: np.ndarray  # (P,) int
    n_ok: np.ndarray  # (P,) int: observations with positive prior weight

    def put(self, idx: np.ndarray, other: _Fit) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name)[idx] = getattr(other, name)


_LOG_EPS = float(np.log(_EPS))


def _solve(work: np.ndarray, wz: np.ndarray, design: _Design, trend: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted least squares of the working response for each problem.

    The model is one mean per level plus a common slope, so the normal
    equations reduce to per-level weighted sums: the slope is the pooled
    within-level regression coefficient, each level mean follows from it.
    work, wz: (P, M) weights and weights x working response.
    """
    s0 = design.sums(work)
    has = s0 > 0
    s0_safe = np.where(has, s0, 1.0)
    zbar = design.sums(wz) / s0_safe
    if trend.any():
        t = design.t
        wt = work * t
        s1 = design.sums(wt)
        tbar = s1 / s0_safe
        # Centring within levels keeps these sums well conditioned.
        stt = np.sum(np.where(has, design.sums(wt * t) - s1 * tbar, 0.0), axis=1)
        stzc = np.sum(np.where(has, design.sums(wz * t) - s1 * zbar, 0.0), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(trend, stzc / stt, 0.0)
    else:
        tbar = np.zeros_like(s0)
        stt = np.zeros(s0.shape[0])
        theta = np.zeros(s0.shape[0])
    beta = np.where(has, zbar - theta[:, None] * tbar, 0.0)
    return beta, theta, s0, tbar, stt


def _irls(y: np.ndarray, prior: np.ndarray, design: _Design, trend: np.ndarray) -> _Fit:
    """Fit P quasi-Poisson GLMs with R's glm.fit schedule.

    y, prior: (P, M); prior is 0 for rows without a count.  Problems that
    converge leave the working set, so late iterations only touch the slow ones.
    """
    P, M = y.shape
    G = design.n_levels
    t = design.t
    out = _Fit(
        beta=np.zeros((P, G)),
        theta=np.zeros(P),
        trend=trend.copy(),
        mu=np.empty((P, M)),
        work=np.empty((P, M)),
        s0=np.zeros((P, G)),
        tbar=np.zeros((P, G)),
        stt=np.zeros(P),
        conv=np.zeros(P, dtype=bool),
        broken=np.zeros(P, dtype=bool),
        disp=np.full(P, np.nan),
        disp_se=np.full(P, np.nan),
        rank=np.zeros(P, dtype=np.int64),
        n_ok=np.zeros(P, dtype=np.int64),
    )
    # Working set (compacted as problems finish).
    idx = np.arange(P)
    py = prior * y
    with np.errstate(divide="ignore"):
        logy = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), 0.0)
    py_sum = py.sum(axis=1)
    pr, tr = prior, trend
    eta = np.log(y + 0.1)  # quasipoisson initialize(): mustart = y + 0.1
    mu = np.maximum(np.exp(eta), _EPS)  # glm.fit recomputes mu from eta before iterating
    work = pr * mu  # log link: working weight = prior weight x mu

    def deviance(
        eta_: np.ndarray, work_: np.ndarray, py_: np.ndarray, logy_: np.ndarray, py_sum_: np.ndarray
    ) -> np.ndarray:
        # sum of 2 prior (y log(y/mu) - (y - mu)), with log(mu) = max(eta, log eps)
        # because R floors mu at eps; y log(y/mu) is 0 for y = 0.
        gap = np.maximum(eta_, _LOG_EPS)
        np.subtract(logy_, gap, out=gap)
        return 2.0 * (np.einsum("ij,ij->i", py_, gap) - py_sum_ + work_.sum(axis=1))

    dev_old = deviance(eta, work, py, logy, py_sum)
    beta_old = np.zeros((P, G))
    theta_old = np.zeros(P)
    for iteration in range(1, _GLM_MAXIT + 1):
        wz = eta - 1.0  # becomes work * z, z = eta + (y - mu) / mu
        wz *= work
        wz += py
        beta, theta, s0, tbar, stt = _solve(work, wz, design, tr)
        eta_new = design.spread(beta)
        with np.errstate(over="ignore", invalid="ignore"):
            if tr.any():
                eta_new += theta[:, None] * t[None, :]
                mu_new = np.maximum(np.exp(eta_new), _EPS)  # R's log-link inverse floors at eps
            else:
                # Without a slope the mean is constant within a level: G exps, not M.
                mu_new = design.spread(np.maximum(np.exp(beta), _EPS))
            work_new = pr * mu_new
            dev = deviance(eta_new, work_new, py, logy, py_sum)
        bad = ~np.isfinite(dev)
        broken = np.zeros(idx.size, dtype=bool)
        if bad.any():
            if iteration == 1:
                broken |= bad  # R: "no valid set of coefficients has been found" (an error)
            else:
                # R halves the step towards the previous coefficients until valid.
                for row in np.nonzero(bad)[0]:
                    for _ in range(_GLM_MAXIT):
                        beta[row] = (beta[row] + beta_old[row]) / 2
                        theta[row] = (theta[row] + theta_old[row]) / 2
                        e = beta[row][design.level] + theta[row] * t
                        with np.errstate(over="ignore", invalid="ignore"):
                            m = np.maximum(np.exp(e), _EPS)
                            wk = pr[row] * m
                            d = deviance(
                                e[None], wk[None], py[row : row + 1], logy[row : row + 1], py_sum[row : row + 1]
                            )[0]
                        if np.isfinite(d):
                            eta_new[row], mu_new[row], work_new[row], dev[row] = e, m, wk, d
                            break
                    else:
                        broken[row] = True
        with np.errstate(invalid="ignore"):
            done = np.abs(dev - dev_old) / (0.1 + np.abs(dev)) < _GLM_EPSILON
        finish = done | broken | (iteration == _GLM_MAXIT)
        if finish.any():
            f, gi = np.nonzero(finish)[0], idx[finish]
            out.beta[gi], out.theta[gi], out.s0[gi], out.tbar[gi], out.stt[gi] = (
                beta[f],
                theta[f],
                s0[f],
                tbar[f],
                stt[f],
            )
            # R keeps the weights of the last solve and the means after it.
            out.work[gi], out.mu[gi] = work[f], mu_new[f]
            out.conv[gi], out.broken[gi] = done[f] & ~broken[f], broken[f]
            keep = ~finish
            if not keep.any():
                break
            idx, py, logy, py_sum, pr, tr = idx[keep], py[keep], logy[keep], py_sum[keep], pr[keep], tr[keep]
            eta_new, work_new, dev = eta_new[keep], work_new[keep], dev[keep]
            beta, theta = beta[keep], theta[keep]
        eta, work, dev_old, beta_old, theta_old = eta_new, work_new, dev, beta, theta

    # Rank and residual degrees of freedom as glm.fit counts them: one column per
    # level that has data, plus the slope.
    out.n_ok = (prior > 0).sum(axis=1)
    out.broken |= out.trend & ~(out.stt > 0)  # a slope that cannot be estimated
    out.rank = (out.s0 > 0).sum(axis=1) + out.trend.astype(np.int64)
    df = out.n_ok - out.rank
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.sum(np.where(out.work > 0, out.work * ((y - out.mu) / out.mu) ** 2, 0.0), axis=1)
        out.disp = np.where(df > 0, pearson / np.where(df > 0, df, 1), np.nan)
    out.disp_se = out.disp.copy()
    return out


def _hat(fit: _Fit, design: _Design) -> np.ndarray:
    """Leverages of the weighted fit, (P, M); set to 1 within 10 eps of 1 as R does."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = design.spread(np.where(fit.s0 > 0, 1.0 / fit.s0, 0.0))
        if fit.trend.any():
            dt = design.t[None, :] - design.spread(fit.tbar)
            lev += np.where(fit.trend[:, None], dt * dt / fit.stt[:, None], 0.0)
        h = fit.work * lev
    return np.where(h > 1 - 10 * _EPS, 1.0, h)


def _fit_flexible(
    y: np.ndarray,
    present: np.ndarray,
    design: _Design,
    trend: np.ndarray,
    settings: FarringtonSettings,
) -> tuple[_Fit, np.ndarray, np.ndarray]:
    """R's algo.farrington.fitGLM.flexible for P problems. y, present: (P, M).

    Returns ``(fit, phi (P,), failed (P,) bool)``: failed = no convergence with
    nor without the trend (R then reports NA for the period).  ``fit.broken``
    marks fits where R itself would stop with an error.
    """
    ones = present.astype(float)
    fit = _irls(y, ones, design, trend)
    retry = np.nonzero(fit.trend & ~fit.conv & ~fit.broken)[0]
    if retry.size:
        # Like R: an unconverged fit with a trend is tried once more without it.
        fit.put(retry, _irls(y[retry], ones[retry], design, np.zeros(retry.size, dtype=bool)))
    failed = ~fit.conv
    phi = np.maximum(fit.disp, 1.0)  # NaN stays NaN, as R's max(NaN, 1)
    if settings.reweight:
        s = anscombe_residuals(y, fit.mu, _hat(fit, design), phi[:, None])
        nan_s = present & np.isnan(s)
        if nan_s.any():
            # R cannot subset with NA residuals (0/0 at a leverage of 1) and stops.
            fit.broken |= nan_s.any(axis=1)
            s = np.where(nan_s, 0.0, s)
        omega = outlier_weights(s, settings.weights_threshold, present)
        refit = _irls(y, omega, design, fit.trend)
        # R does not check convergence of the reweighted fit; it uses it as is.
        refit.conv = fit.conv
        refit.broken |= fit.broken
        fit = refit
        phi = np.maximum(fit.disp, 1.0)
        if settings.r_quirks:
            # R then stores the prior weights omega in the model's `weights`
            # slot, where summary.glm expects the working weights.  phi above
            # was taken before that, but the trend test and the standard error
            # of the prediction are computed afterwards and so use
            # sum(omega * r^2) / df with working residuals r = (y - mu) / mu.
            df = fit.n_ok - fit.rank
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(omega > 0, omega * ((y - fit.mu) / fit.mu) ** 2, 0.0)
                fit.disp_se = np.where(df > 0, r2.sum(axis=1) / np.where(df > 0, df, 1), np.nan)
    return fit, phi, failed


# --------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------


def _nb_cdf(x: np.ndarray, size: np.ndarray, prob: np.ndarray) -> np.ndarray:
    # P(X <= x) for the negative binomial (size, prob), as R's pnbinom (via pbeta).
    return np.where(x < 0, 0.0, special.betainc(size, np.maximum(x, 0) + 1.0, prob))


def _pois_cdf(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    return np.where(x < 0, 0.0, special.gammaincc(np.maximum(x, 0) + 1.0, lam))


def _discrete_quantile(p: float, start: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Smallest integer x >= 0 with cdf(x) >= p, for arrays of distributions.

    ``start`` is a close guess (a Cornish-Fisher value); the answer is bracketed
    around it by doubling steps, then found by bisection, so the result does
    not depend on how good the guess is.  R inflates p by 2 eps before its
    search (to stay left-continuous); mirrored here.
    """
    target = p * (1 + 2 * _EPS)
    x0 = np.maximum(np.floor(np.where(np.isfinite(start), start, 0.0)), 0.0)
    hi = x0.copy()
    step = np.ones_like(x0)
    low = cdf(hi) < target
    while low.any():  # move hi up until cdf(hi) >= target
        hi = np.where(low, hi + step, hi)
        step = np.where(low, 2 * step, step)
        low = cdf(hi) < target
    lo = x0 - 1
    step = np.ones_like(x0)
    high = (lo >= 0) & (cdf(lo) >= target)
    while high.any():  # move lo down until cdf(lo) < target (or lo = -1)
        lo = np.where(high, np.maximum(lo - step, -1.0), lo)
        step = np.where(high, 2 * step, step)
        high = (lo >= 0) & (cdf(lo) >= target)
    lo = np.minimum(lo, hi - 1)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        up = cdf(mid) >= target
        wide = hi - lo > 1
        hi = np.where(wide & up, mid, hi)
        lo = np.where(wide & ~up, mid, lo)
    return hi


def _cornish_fisher(p: float, mean: np.ndarray, var: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """Normal approximation with skewness correction, as a start for the quantile search."""
    z = special.ndtri(p)
    return mean + np.sqrt(var) * (z + skew * (z * z - 1) / 6)


def _threshold_delta(
    mu0: np.ndarray, se_resp: np.ndarray, phi: np.ndarray, y: np.ndarray, settings: FarringtonSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Farrington's power-transformed normal threshold. Returns (upper, p_value)."""
    z = special.ndtri(1 - settings.alpha)
    tau = phi + se_resp**2 / mu0
    if settings.pow_trans == "2/3":
        se, expo = np.sqrt(4.0 / 9.0 * np.cbrt(mu0) * tau), 2.0 / 3.0
    elif settings.pow_trans == "1/2":
        se, expo = np.sqrt(0.25 * tau), 0.5
    else:
        se, expo = np.sqrt(mu0 * tau), 1.0
    upper = np.power(np.power(mu0, expo) + z * se, 1.0 / expo)
    with np.errstate(invalid="ignore"):
        p_value = special.ndtr(-(np.power(y, expo) - np.power(mu0, expo)) / se)
    return upper, p_value


def _threshold_noufaily(
    eta0: np.ndarray, se_eta: np.ndarray, phi: np.ndarray, y: np.ndarray, settings: FarringtonSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Negative binomial (Poisson when phi == 1) quantile threshold. Returns (upper, p_value)."""
    with np.errstate(over="ignore"):
        if settings.threshold_method == "nbPlugin":
            mean = np.exp(eta0)
        else:  # "muan": plug in the upper quantile of the estimated mean
            mean = np.exp(eta0 + se_eta * special.ndtri(1 - settings.alpha))
    finite = np.isfinite(mean)
    q = 1 - settings.alpha
    upper = np.full(mean.shape, np.nan)
    p_value = np.full(mean.shape, np.nan)
    nb = finite & (phi > 1)
    pois = finite & ~nb & ~np.isnan(phi)
    if nb.any():
        m, ph, yy = mean[nb], phi[nb], y[nb]
        size, prob = m / (ph - 1), 1 / ph
        with np.errstate(invalid="ignore", divide="ignore"):
            # NB(size, prob = 1/phi): variance m phi, skewness (2 - 1/phi) / sqrt(m / phi).
            start = _cornish_fisher(q, m, m * ph, (2 - prob) / np.sqrt(m * prob))
        u = _discrete_quantile(q, start, lambda x: _nb_cdf(x, size, prob))
        upper[nb] = np.where(m > 0, u, 0.0)  # size 0 is a point mass at 0
        with np.errstate(invalid="ignore"):
            # R floors a non-integer count (x + 1e-7) before evaluating the tail.
            below = np.floor(yy - 1 + 1e-7)
            sf = np.where(below < 0, 1.0, special.betaincc(size, np.maximum(below, 0) + 1.0, prob))
        p_value[nb] = np.where(m > 0, sf, np.where(yy > 0, 0.0, 1.0))
    if pois.any():
        m, yy = mean[pois], y[pois]
        with np.errstate(invalid="ignore", divide="ignore"):
            start = _cornish_fisher(q, m, m, 1 / np.sqrt(m))
        upper[pois] = _discrete_quantile(q, start, lambda x: _pois_cdf(x, m))
        with np.errstate(invalid="ignore"):
            below = np.floor(yy - 1 + 1e-7)
            p_value[pois] = np.where(below < 0, 1.0, special.gammainc(np.maximum(below, 0) + 1.0, m))
    p_value[np.isnan(y)] = np.nan
    return upper, p_value
