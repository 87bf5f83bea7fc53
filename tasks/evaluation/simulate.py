"""Simulated driver/target pairs with labelled outbreaks, and outbreaks injected into a real series.

Pure functions (numpy/pandas in, arrays/frames out) up to :func:`run_backtest`, which runs every
detector on every scenario x seed with the pipeline's real LSTM forecasts (:func:`lstm_forecasts`)
and returns per-seed, per-outbreak and summary tables; the ``backtest`` Prefect task at the end
writes them to the store's ``08_backtest`` layer (the flow is ``flows/backtest.py``).

Design of the simulation (adapted from Noufaily et al., Statistics in Medicine 2013, whose
scenarios are weekly):

* Baseline: daily negative-binomial counts, Var = m + phi m^2, with a day-of-week profile
  (weekend reporting dip), a log-linear trend and a slow AR(1) "wave" on the log scale, so that
  the level drifts as epidemic waves do and a 7-day mean lags behind it.
* Coupling: the driver (e.g. asymptomatic infections) carries the dynamics; the target mean is
  ``ratio`` x the driver mean ``lag`` days earlier (1-3 days), and both series get their own
  NB noise. A forecaster that uses the lagged driver therefore has real information.
* Outbreaks go into the TARGET only. As in Noufaily et al., an outbreak's total size is Poisson
  with mean k x (sd of the baseline count on its first day), k drawn from ``outbreak_k``
  (default 2, 3, 5, 10), and its cases are spread over time by a discretised lognormal
  (meanlog 0, sdlog 0.5). Noufaily measure that lognormal in weeks; here it is measured in units
  of ``outbreak_scale_days`` days (default 2), so most outbreaks last 2-5 days, the time scale of
  a daily "hotspot". The outbreak mask runs from the first to the last day with injected cases.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# Day-of-week log-effects, Monday first: fewer reports at the weekend, a catch-up early in the week.
_DOW_SHAPE = np.array([0.6, 0.5, 0.3, 0.1, 0.0, -0.7, -0.8])


@dataclass(frozen=True)
class Scenario:
    """Parameters of one simulated driver/target pair (all rates are per day)."""

    name: str
    target_mean: float  # average target count at the start, before day-of-week effects
    ratio: float = 0.3  # target mean = ratio x driver mean `lag` days earlier (the real data: ~0.2-0.5)
    lag: int = 2  # days by which the driver leads the target (1-3)
    target_dispersion: float = 0.05  # NB2 phi of the target: Var = m + phi m^2
    driver_dispersion: float = 0.05  # NB2 phi of the driver
    dow_amplitude: float = 0.15  # largest day-of-week log-effect
    trend_per_year: float = 0.3  # log-scale growth over 365 days
    wave_sd: float = 0.03  # innovation sd of the AR(1) log-wave
    wave_rho: float = 0.98  # AR(1) persistence of the wave (stationary sd = wave_sd / sqrt(1 - rho^2))
    n_days: int = 364
    warmup_days: int = 56  # no outbreak starts before this day: detectors need history to calibrate
    n_outbreaks: int = 6
    outbreak_k: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0)
    outbreak_scale_days: float = 2.0
    min_gap_days: int = 28  # minimum days between outbreak starts (outbreaks never overlap)


SCENARIOS: dict[str, Scenario] = {
    "very_low": Scenario("very_low", target_mean=1.0, target_dispersion=0.2, driver_dispersion=0.1),
    "low": Scenario("low", target_mean=5.0, target_dispersion=0.1, driver_dispersion=0.1),
    "medium": Scenario("medium", target_mean=30.0, target_dispersion=0.05),
    "high": Scenario("high", target_mean=200.0, target_dispersion=0.03),
    "very_high": Scenario("very_high", target_mean=1000.0, target_dispersion=0.02),
}


def _nb_sample(rng: np.random.Generator, mean: np.ndarray, phi: float) -> np.ndarray:
    """NB2 draws with the given means (Poisson when phi == 0), via the gamma-Poisson mixture."""
    if phi <= 0:
        return rng.poisson(mean).astype("float64")
    shape = 1.0 / phi
    return rng.poisson(rng.gamma(shape, mean / shape)).astype("float64")


def simulate_baseline(scenario: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Outbreak-free pair of ``(n_days,)`` arrays: driver_mean, target_mean, driver, target.

    Day 0 is a Monday (``simulate_pair`` dates start 2024-01-01).
    """
    n, lag = scenario.n_days, scenario.lag
    total = n + lag
    t = np.arange(total)
    dow = scenario.dow_amplitude * _DOW_SHAPE / np.abs(_DOW_SHAPE).max()
    dow = dow - dow.mean()  # the profile moves counts between weekdays, not the weekly total
    wave = np.empty(total)
    stationary_sd = scenario.wave_sd / np.sqrt(1.0 - scenario.wave_rho**2)
    wave[0] = rng.normal(0.0, stationary_sd)
    shocks = rng.normal(0.0, scenario.wave_sd, total)
    for i in range(1, total):
        wave[i] = scenario.wave_rho * wave[i - 1] + shocks[i]
    # Index i of the extended arrays is day i - lag; day-of-week follows the calendar day.
    log_driver = (
        np.log(scenario.target_mean / scenario.ratio)
        + scenario.trend_per_year * (t - lag) / 365.0
        + dow[(t - lag) % 7]
        + wave
    )
    driver_mean_ext = np.exp(log_driver)
    driver_mean = driver_mean_ext[lag:]
    target_mean = scenario.ratio * driver_mean_ext[:n]
    return {
        "driver_mean": driver_mean,
        "target_mean": target_mean,
        "driver": _nb_sample(rng, driver_mean, scenario.driver_dispersion),
        "target": _nb_sample(rng, target_mean, scenario.target_dispersion),
    }


def outbreak_profile(scale_days: float, max_days: int = 28) -> np.ndarray:
    """``(max_days,)`` probabilities that an outbreak case falls on day 0, 1, ... of the outbreak.

    Discretised lognormal(meanlog 0, sdlog 0.5) in units of ``scale_days`` days (Noufaily et al.
    use the same law in weeks), truncated at ``max_days`` and renormalised.
    """
    edges = np.arange(max_days + 1) / scale_days
    cdf = stats.lognorm.cdf(edges, s=0.5, scale=1.0)
    probs = np.diff(cdf)
    return probs / probs.sum()


def place_outbreaks(
    baseline_sd: np.ndarray,
    rng: np.random.Generator,
    *,
    n_outbreaks: int,
    k_values: Sequence[float],
    scale_days: float,
    first_day: int,
    min_gap_days: int,
    max_days: int = 28,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, float]]]:
    """Draw outbreak cases to add to a series whose baseline sd per day is ``baseline_sd`` ``(T,)``.

    Starts are drawn uniformly among days >= ``first_day`` that leave room for a full outbreak,
    at least ``min_gap_days`` apart (fewer outbreaks are placed if they do not fit). Size:
    Poisson(k x baseline_sd[start]); an outbreak that draws 0 cases is dropped.

    Returns:
        extra ``(T,)`` float cases to add, mask ``(T,)`` bool, ids ``(T,)`` int (0 = none,
        1..n by start order), and one dict per outbreak (id, start, end, k, size).
    """
    n = baseline_sd.shape[0]
    profile = outbreak_profile(scale_days, max_days)
    span = int(np.flatnonzero(profile > 1e-4).max()) + 1
    candidates = np.arange(first_day, max(first_day, n - span))
    starts: list[int] = []
    for day in rng.permutation(candidates):
        if len(starts) == n_outbreaks:
            break
        if all(abs(int(day) - s) >= min_gap_days for s in starts):
            starts.append(int(day))
    starts.sort()
    extra = np.zeros(n)
    ids = np.zeros(n, dtype=np.int64)
    info: list[dict[str, float]] = []
    for start in starts:
        k = float(rng.choice(np.asarray(k_values, dtype="float64")))
        size = int(rng.poisson(k * baseline_sd[start]))
        if size == 0:
            continue
        offsets = np.bincount(rng.choice(max_days, size=size, p=profile), minlength=max_days)
        offsets = offsets[: n - start]  # cases past the end are cut, as the real series would end there too
        days = np.flatnonzero(offsets)
        if days.size == 0:
            continue
        first, last = start + int(days[0]), start + int(days[-1])
        extra[start : start + offsets.size] += offsets
        new_id = len(info) + 1
        ids[first : last + 1] = new_id
        info.append({"id": new_id, "start": first, "end": last, "k": k, "size": float(offsets.sum())})
    return extra, ids > 0, ids, info


def simulate_pair(scenario: Scenario | str, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One simulated series with outbreaks in the target.

    Args:
        scenario: a :class:`Scenario` or a key of :data:`SCENARIOS`.
        seed: random seed; the same seed gives the same series.

    Returns:
        frame ``(n_days, 3)`` with date (from 2024-01-01), actual (target incl. outbreaks) and
        driver (floats); outbreak_mask ``(n_days,)`` bool; outbreak_ids ``(n_days,)`` int
        (0 = no outbreak). ``frame.attrs`` carries ``target_mean`` (the true baseline mean,
        ``(n_days,)``), ``outbreaks`` (list of dicts) and ``scenario`` (name).
    """
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    rng = np.random.default_rng(seed)
    base = simulate_baseline(sc, rng)
    sd = np.sqrt(base["target_mean"] + sc.target_dispersion * base["target_mean"] ** 2)
    extra, mask, ids, info = place_outbreaks(
        sd,
        rng,
        n_outbreaks=sc.n_outbreaks,
        k_values=sc.outbreak_k,
        scale_days=sc.outbreak_scale_days,
        first_day=sc.warmup_days,
        min_gap_days=sc.min_gap_days,
    )
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=sc.n_days, freq="D", unit="us"),
            "actual": base["target"] + extra,
            "driver": base["driver"],
        }
    )
    frame.attrs.update(target_mean=base["target_mean"], outbreaks=info, scenario=sc.name)
    return frame, mask, ids


def inject_outbreaks(
    real_frame: pd.DataFrame,
    seed: int,
    *,
    n_outbreaks: int = 3,
    k_values: Sequence[float] = (2.0, 3.0, 5.0, 10.0),
    scale_days: float = 2.0,
    first_day: int = 21,
    min_gap_days: int = 21,
    sd_window_days: int = 7,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Add labelled outbreaks to the ``actual`` column of a real series (date, actual, driver).

    The baseline sd at a candidate start is the sample sd of the ``sd_window_days`` observed
    days before it, floored at sqrt(their mean) (the Poisson sd), because a real series has no
    known model; sizes and shapes then follow :func:`place_outbreaks`. Days where ``actual`` is
    NaN stay NaN (no figure is invented); their outbreak cases are lost, as they would be if
    the report were missing.

    Returns:
        (frame copy with outbreaks added, outbreak_mask ``(T,)``, outbreak_ids ``(T,)``);
        ``frame.attrs["outbreaks"]`` lists them.
    """
    frame = real_frame.reset_index(drop=True).copy()
    y = frame["actual"].to_numpy(dtype="float64")
    n = y.shape[0]
    padded = np.concatenate([np.full(sd_window_days, np.nan), y])
    windows = np.lib.stride_tricks.sliding_window_view(padded, sd_window_days)[:n]
    with warnings.catch_warnings():
        # All-NaN windows (series start) are expected here and give NaN, handled below.
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(windows, axis=1, ddof=1)
        mean = np.nanmean(windows, axis=1)
    sd = np.fmax(sd, np.sqrt(np.fmax(mean, 0.0)))
    sd = np.where(np.isfinite(sd), sd, 0.0)
    rng = np.random.default_rng(seed)
    extra, mask, ids, info = place_outbreaks(
        sd,
        rng,
        n_outbreaks=n_outbreaks,
        k_values=k_values,
        scale_days=scale_days,
        first_day=max(first_day, sd_window_days),
        min_gap_days=min_gap_days,
    )
    frame["actual"] = y + extra  # NaN + cases stays NaN
    frame.attrs["outbreaks"] = info
    return frame, mask, ids
