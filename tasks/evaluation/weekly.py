"""Weekly series with labelled outbreaks, in the spirit of the Noufaily et al. (2013) simulation design.

A baseline week's count is negative binomial with mean

    mu_t = exp(theta + beta t + sum_{j=1..m} [gamma1 cos(2 pi j t / 52) + gamma2 sin(2 pi j t / 52)])

and variance phi mu_t (phi = 1: Poisson), as in Noufaily et al.; five families span baseline levels from
under one case a week to several hundred, with a trend and one or two seasonal harmonics. Outbreaks are
added to the counts: size Poisson(k x the baseline sd at the start week), k in {2, 3, 5, 10}, spread over
weeks by a discretised lognormal (meanlog 0, sdlog 0.5, in weeks), as in the paper. A few outbreaks sit in
the history (the baseline years a method must not be fooled by) and the others in the scored weeks: the
last two years, after the b = 4 years (plus the window) the improved Farrington method needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.evaluation.simulate import place_outbreaks

FIRST_WEEK = "2018-01-01"  # a Monday


@dataclass(frozen=True)
class WeeklyScenario:
    """Parameters of one weekly family (rates per week)."""

    name: str
    theta: float  # log mean level at t = 0
    phi: float  # variance / mean (>= 1)
    beta: float = 0.0  # log-linear trend per week
    gamma1: float = 0.0  # cosine weight of each harmonic
    gamma2: float = 0.0  # sine weight of each harmonic
    harmonics: int = 1
    n_weeks: int = 312  # six years
    scored_from: int = 4 * 52 + 3 + 1  # b = 4 years and the window of w = 3 weeks must precede a scored week
    history_outbreaks: int = 3
    scored_outbreaks: int = 4
    outbreak_k: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0)
    outbreak_scale_weeks: float = 1.0
    min_gap_weeks: int = 16


WEEKLY_SCENARIOS: dict[str, WeeklyScenario] = {
    "weekly_very_low": WeeklyScenario("weekly_very_low", theta=-0.7, phi=1.2, gamma1=0.6, gamma2=0.6),
    "weekly_low": WeeklyScenario("weekly_low", theta=1.5, phi=1.5, beta=0.001, gamma1=0.4, gamma2=0.3),
    "weekly_medium": WeeklyScenario("weekly_medium", theta=3.0, phi=2.0, beta=0.001, gamma1=0.6, gamma2=0.6),
    "weekly_high": WeeklyScenario("weekly_high", theta=4.6, phi=3.0, beta=0.0005, gamma1=0.6, gamma2=0.2, harmonics=2),
    "weekly_very_high": WeeklyScenario(
        "weekly_very_high", theta=6.2, phi=5.0, beta=0.0005, gamma1=0.4, gamma2=0.4, harmonics=2
    ),
}


def baseline_mean(scenario: WeeklyScenario) -> np.ndarray:
    """``(n_weeks,)`` the true mean mu_t of the baseline."""
    t = np.arange(scenario.n_weeks, dtype="float64")
    log_mu = scenario.theta + scenario.beta * t
    for j in range(1, scenario.harmonics + 1):
        angle = 2.0 * np.pi * j * t / 52.0
        log_mu = log_mu + scenario.gamma1 * np.cos(angle) + scenario.gamma2 * np.sin(angle)
    return np.exp(log_mu)


def _counts(rng: np.random.Generator, mean: np.ndarray, phi: float) -> np.ndarray:
    """Counts with mean ``mean`` and variance phi x mean (gamma-Poisson mixture; Poisson at phi = 1)."""
    if phi <= 1.0:
        return rng.poisson(mean).astype("float64")
    shape = mean / (phi - 1.0)  # NB size: Var = mean + mean^2 / size = phi mean
    return rng.poisson(rng.gamma(shape, mean / shape)).astype("float64")


def simulate_weekly(scenario: WeeklyScenario | str, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One weekly series with outbreaks -> (frame (n_weeks, 3) date, actual, driver (NaN: no driver),
    outbreak_mask (n_weeks,), outbreak_ids (n_weeks,)).

    ``frame.attrs``: ``target_mean`` (true mu_t), ``target_dispersion`` (the NB2 dispersion of each week,
    (phi - 1) / mu_t, for the oracle), ``outbreaks``, ``scenario``, ``scored_from``.
    """
    sc = WEEKLY_SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    rng = np.random.default_rng(seed)
    mean = baseline_mean(sc)
    base = _counts(rng, mean, sc.phi)
    sd = np.sqrt(sc.phi * mean)
    # Past outbreaks sit in the baseline years (ending half a year before the first scored week).
    limit = sc.scored_from - 26
    extra_h = np.zeros(sc.n_weeks)
    extra_h[:limit], _, _, info_h = place_outbreaks(
        sd[:limit], rng, n_outbreaks=sc.history_outbreaks, k_values=sc.outbreak_k,
        scale_days=sc.outbreak_scale_weeks, first_day=52, min_gap_days=sc.min_gap_weeks,
    )  # fmt: skip
    scored = np.where(np.arange(sc.n_weeks) >= sc.scored_from, sd, 0.0)
    extra, mask, ids, info = place_outbreaks(
        scored, rng, n_outbreaks=sc.scored_outbreaks, k_values=sc.outbreak_k,
        scale_days=sc.outbreak_scale_weeks, first_day=sc.scored_from, min_gap_days=sc.min_gap_weeks,
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "date": pd.date_range(FIRST_WEEK, periods=sc.n_weeks, freq="7D", unit="us"),
            "actual": base + extra_h + extra,
            "driver": np.full(sc.n_weeks, np.nan),
        }
    )
    frame.attrs.update(
        target_mean=mean,
        target_dispersion=(sc.phi - 1.0) / mean,
        outbreaks=info,
        history_outbreaks=info_h,
        scenario=sc.name,
        scored_from=sc.scored_from,
    )
    # Past outbreaks are part of the history, not events to detect: only the scored weeks' outbreaks are labelled.
    return frame, mask, ids
