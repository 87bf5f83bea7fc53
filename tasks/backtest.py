"""Backtest: simulate driver/target pairs with labelled outbreaks, run every detector, and score them.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from scipy import stats

from tasks import detectors, lstm, scale, train
from tasks.config import IngestConfig, PipelineConfig, SeriesConfig, TrainConfig
from tasks.detectors import DETECTORS, DetectorConfig, detector_config, run_detectors
from tasks.scale import fit_minmax, to_daily_calendar
from tasks.store import SHIPPED_INPUT, ArtifactStore, code_version, fingerprint, sha256_file
from tasks.train import make_windows

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


def score_detections(
    is_alarm: np.ndarray,
    outbreak_mask: np.ndarray,
    outbreak_ids: np.ndarray,
    *,
    include: np.ndarray | None = None,
) -> dict[str, float]:
    """Detection metrics for one (or a concatenation of) series; all inputs ``(T,)``.

    Definitions:
        * ``pod`` (probability of detection, outbreak level): share of outbreaks with at least
          one alarm on one of their days.
        * ``far`` (false-alarm rate, day level): alarms on non-outbreak days / non-outbreak days.
        * ``ppv`` (day level): alarms on outbreak days / all alarms.
        * ``sensitivity`` (day level): alarmed outbreak days / outbreak days.
        * ``f1``: harmonic mean of ``pod`` (outbreak-level recall) and ``ppv`` (day-level
          precision), the usual pairing in outbreak-detection studies; not the day-level F1.
          0 when no outbreak is detected (even without any alarm, where PPV is undefined).
        * ``median_delay``: median over detected outbreaks of (first alarm day - first outbreak
          day), in days; 0 = alarm on the first day.
        An alarm after an outbreak's last day counts as a false alarm. Ratios with a zero
        denominator are NaN. Counts (``n_*``) are returned so results can be pooled.

    Args:
        include: optional ``(T,)`` bool, days to evaluate (e.g. after a warm-up); outbreaks are
            evaluated on their included days only.
    """
    alarm = np.asarray(is_alarm, dtype=bool)
    mask = np.asarray(outbreak_mask, dtype=bool)
    ids = np.asarray(outbreak_ids)
    if not (alarm.shape == mask.shape == ids.shape):
        raise ValueError("is_alarm, outbreak_mask and outbreak_ids must have the same shape")
    if not np.array_equal(mask, ids > 0):
        raise ValueError("outbreak_mask must equal outbreak_ids > 0")
    keep = np.ones_like(alarm) if include is None else np.asarray(include, dtype=bool)
    alarm, mask, ids = alarm & keep, mask & keep, np.where(keep, ids, 0)
    normal = keep & ~mask
    n_normal, n_outbreak_days = int(normal.sum()), int(mask.sum())
    n_false = int((alarm & normal).sum())
    n_true_days = int((alarm & mask).sum())
    n_alarms = n_false + n_true_days
    delays = []
    outbreak_list = np.unique(ids[ids > 0])
    for oid in outbreak_list:
        days = np.flatnonzero(ids == oid)
        hits = days[alarm[days]]
        if hits.size:
            delays.append(int(hits[0] - days[0]))
    n_outbreaks, n_detected = int(outbreak_list.size), len(delays)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("nan")

    pod = ratio(n_detected, n_outbreaks)
    ppv = ratio(n_true_days, n_alarms)
    f1 = f1_score(pod, ppv)
    return {
        "pod": pod,
        "far": ratio(n_false, n_normal),
        "ppv": ppv,
        "sensitivity": ratio(n_true_days, n_outbreak_days),
        "f1": float(f1),
        "median_delay": float(np.median(delays)) if delays else float("nan"),
        "n_outbreaks": float(n_outbreaks),
        "n_detected": float(n_detected),
        "n_alarms": float(n_alarms),
        "n_false_alarms": float(n_false),
        "n_outbreak_days": float(n_outbreak_days),
        "n_normal_days": float(n_normal),
    }


def f1_score(pod: float, ppv: float) -> float:
    """Harmonic mean of POD and PPV; 0 when no outbreak is found (PPV then does not matter), NaN without outbreaks."""
    if not np.isfinite(pod):
        return float("nan")
    if pod == 0:
        return 0.0
    if not np.isfinite(ppv):
        return float("nan")
    return float(2 * pod * ppv / (pod + ppv)) if pod + ppv > 0 else 0.0


def threshold_for_far(scores: np.ndarray, outbreak_mask: np.ndarray, target_far: float = 0.01) -> float:
    """Smallest threshold thr such that alarming on ``score > thr`` gives FAR <= target_far.

    FAR = (non-outbreak days with a finite score > thr) / (all non-outbreak days); NaN scores
    (days a detector cannot score, or guard-suppressed days set to NaN by the caller) never
    alarm but stay in the denominator. The threshold is always one of the observed non-outbreak
    scores (or -inf when even alarming on every scored day keeps FAR <= target_far), so ties are
    handled exactly. Use it to compare detectors at a matched false-alarm rate.

    Args:
        scores: ``(T,)`` detector scores, larger = more anomalous.
        outbreak_mask: ``(T,)`` bool, True on outbreak days (excluded from the FAR).
        target_far: allowed false alarms per non-outbreak day.
    """
    s = np.asarray(scores, dtype="float64")
    mask = np.asarray(outbreak_mask, dtype=bool)
    if s.shape != mask.shape:
        raise ValueError("scores and outbreak_mask must have the same shape")
    normal = s[~mask]
    n_normal = normal.size
    if n_normal == 0:
        raise ValueError("no non-outbreak day to measure a false-alarm rate on")
    finite = np.sort(normal[np.isfinite(normal)])
    allowed = int(np.floor(target_far * n_normal + 1e-9))  # most false alarms permitted
    if finite.size <= allowed:
        return float("-inf")
    # Alarming on score > finite[-(allowed+1)] leaves at most `allowed` values above it (fewer with ties).
    return float(finite[finite.size - allowed - 1])


def _rolling_past_sum(values: np.ndarray, window: int) -> np.ndarray:
    """``(T,)`` -> ``(T,)`` sum of values[t-window : t] (days before t only); NaN treated as 0."""
    csum = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(values), values, 0.0))])
    idx = np.arange(values.shape[0])
    return csum[idx] - csum[np.maximum(idx - window, 0)]


def driver_forecast(
    actual: np.ndarray,
    driver: np.ndarray,
    *,
    lags: Sequence[int] = (1, 2, 3),
    window: int = 28,
    min_days: int = 7,
) -> np.ndarray:
    """PROXY for the LSTM forecast (no TensorFlow): the ratio-scaled lagged driver.

    For each lag L, f_L[t] = r_L[t] x driver[t-L] with r_L[t] = sum(actual[s]) / sum(driver[s-L])
    over the ``window`` days s < t where both exist (at least ``min_days``). The lag used at t
    is the one whose forecasts had the smallest mean |sqrt(actual) - sqrt(f)| over the same past
    window (at least ``min_days`` scored days). Only data before t is used, and nothing is
    filled in: NaN where the driver value or the history is missing.

    This is a stand-in to exercise ``lstm_calibrated`` in the backtest; it is not the study's
    LSTM (which forecasts the target from its own last two values with a model trained on the
    driver), and its skill must not be reported as the LSTM's.

    Args:
        actual, driver: ``(T,)`` counts (NaN = missing).

    Returns:
        ``(T,)`` forecast of ``actual``.
    """
    y = np.asarray(actual, dtype="float64")
    d = np.asarray(driver, dtype="float64")
    n = y.shape[0]
    per_lag, err_means = [], []
    for lag in lags:
        lagged = np.concatenate([np.full(lag, np.nan), d[: n - lag]]) if lag < n else np.full(n, np.nan)
        both = np.isfinite(y) & np.isfinite(lagged)
        num = _rolling_past_sum(np.where(both, y, np.nan), window)
        den = _rolling_past_sum(np.where(both, lagged, np.nan), window)
        count = _rolling_past_sum(both.astype("float64"), window)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((count >= min_days) & (den > 0), num / den, np.nan)
        fc = ratio * lagged
        err = np.abs(np.sqrt(y) - np.sqrt(fc))
        scored = np.isfinite(err)
        err_sum = _rolling_past_sum(np.where(scored, err, np.nan), window)
        err_n = _rolling_past_sum(scored.astype("float64"), window)
        with np.errstate(divide="ignore", invalid="ignore"):
            err_means.append(np.where(err_n >= min_days, err_sum / err_n, np.inf))
        per_lag.append(fc)
    forecasts = np.vstack(per_lag)
    errors = np.vstack(err_means)
    errors = np.where(np.isfinite(forecasts), errors, np.inf)
    best = np.argmin(errors, axis=0)
    chosen = forecasts[best, np.arange(n)]
    return np.where(np.isfinite(errors.min(axis=0)), chosen, np.nan)


def persistence_forecast(actual: np.ndarray, look_back: int = 2) -> np.ndarray:
    """PROXY with the study LSTM's information set: mean of the target's last ``look_back`` days.

    ``(T,)`` -> ``(T,)``; NaN when any of those days is missing. Like the LSTM (look_back 2 on
    the target itself), it follows an outbreak after its first day, so it shows how much
    an autoregressive forecaster hides multi-day outbreaks.
    """
    y = np.asarray(actual, dtype="float64")
    padded = np.concatenate([np.full(look_back, np.nan), y])
    windows = np.lib.stride_tricks.sliding_window_view(padded, look_back)[: y.shape[0]]
    return windows.mean(axis=1)


def lstm_forecasts(
    frames: Sequence[pd.DataFrame], config: TrainConfig, series_ids: Sequence[int] | None = None
) -> list[np.ndarray]:
    """The pipeline's LSTM forecast of the target for S series at once -> S arrays ``(T_s,)`` in counts.

    Per series exactly the pipeline's steps: min-max scale driver and target on their own observed
    values (:func:`tasks.scale.fit_minmax`), train the study's LSTM on the driver's complete windows
    (:func:`tasks.train.make_windows`), apply it to the target's windows and scale back with the
    target's scaler (as :func:`tasks.predict.predict_regions`). The S models are trained in one call of
    :func:`tasks.lstm.fit_series` (independent weights), so a scenario with 20 seeds costs about one
    model. NaN where the target window touches a missing day.

    Args:
        frames: S frames with ``actual`` (target) and ``driver`` columns, one row per day.
        config: the study's training settings (look_back, units, optimizer, epochs, seed).
        series_ids: (S,) seed keys of the series (default 0..S-1); the pipeline keys a region by
            :func:`tasks.lstm.series_id` of its name.
    """
    look_back = config.look_back
    drivers, targets, x_list, y_list = [], [], [], []
    for frame in frames:
        driver = frame["driver"].to_numpy(dtype="float64")
        target = frame["actual"].to_numpy(dtype="float64")
        d_scaler, t_scaler = fit_minmax(driver), fit_minmax(target)
        windows = make_windows(d_scaler.transform(driver), look_back)
        if len(windows) < config.batch_size:
            raise ValueError(f"a series has only {len(windows)} complete driver windows (< batch_size)")
        x_list.append(windows.x.astype("float32"))
        y_list.append(windows.y.astype("float32"))
        drivers.append(d_scaler)
        targets.append((t_scaler, make_windows(t_scaler.transform(target), look_back), target.shape[0]))
    model = lstm.fit_series(x_list, y_list, config, series_ids=series_ids).model
    # The grouped model takes one (S, M, look_back) block: pad every series' target windows to the longest.
    longest = max(max(len(w), 1) for _, w, _ in targets)
    block = np.zeros((len(frames), longest, look_back), dtype="float32")
    for s, (_, windows, _) in enumerate(targets):
        block[s, : len(windows)] = windows.x
    predicted = lstm.predict_series(model, block).astype("float64")
    out = []
    for s, (scaler, windows, n) in enumerate(targets):
        forecast = np.full(n, np.nan)
        forecast[windows.index] = scaler.inverse(predicted[s, : len(windows)])
        out.append(forecast)
    return out


# -- the backtest: every detector on labelled series, at defaults and at a matched false-alarm rate ----------

REAL = "real"
"""Scenario name of the shipped real series with injected outbreaks (the others are keys of SCENARIOS)."""
REAL_WARMUP_DAYS = 28  # the calibrated detectors' window; no outbreak starts, and nothing is scored, before it
SETTINGS = ("default", "matched_far")
PER_SEED_COLUMNS = [
    "scenario", "detector", "setting", "seed", "threshold", "pod", "far", "ppv", "sensitivity", "f1", "median_delay",
    "n_outbreaks", "n_detected", "n_alarms", "n_false_alarms", "n_outbreak_days", "n_normal_days",
]  # fmt: skip
OUTBREAK_COLUMNS = ["scenario", "detector", "setting", "seed", "outbreak", "k", "size", "days", "detected", "delay"]
SUMMARY_COLUMNS = [
    "scenario", "detector", "setting", "threshold", "pod", "pod_sd", "far", "far_sd", "ppv", "ppv_sd", "f1", "f1_sd",
    "median_delay", "n_seeds", "n_outbreaks",
]  # fmt: skip


@dataclass(frozen=True)
class LabelledSeries:
    """One series of a backtest: frame (date, actual, driver), outbreak mask and ids ``(T,)``, scored days ``(T,)``."""

    frame: pd.DataFrame
    mask: np.ndarray
    ids: np.ndarray
    include: np.ndarray


def labelled_series(scenario: str, seeds: Sequence[int], real: pd.DataFrame | None = None) -> list[LabelledSeries]:
    """The series of one scenario, one per seed: simulated (a key of SCENARIOS) or REAL (outbreaks injected into
    ``real``, a frame date, actual, driver). Days before the warm-up are not scored (``include`` False)."""
    out = []
    for seed in seeds:
        if scenario == REAL:
            if real is None:
                raise ValueError("the 'real' scenario needs the real series")
            frame, mask, ids = inject_outbreaks(real, seed, first_day=REAL_WARMUP_DAYS)
            warmup = REAL_WARMUP_DAYS
        elif scenario in SCENARIOS:
            frame, mask, ids = simulate_pair(scenario, seed)
            warmup = SCENARIOS[scenario].warmup_days
        else:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join([*SCENARIOS, REAL])}")
        out.append(LabelledSeries(frame, mask, ids, np.arange(len(frame)) >= warmup))
    return out


ORACLE = "oracle"
"""Backtest-only reference on simulated series: the single-day NB test under the TRUE baseline mean and
dispersion (no forecast error, no estimation). Not deployable; it shows what any single-day detector
could reach with perfect knowledge of the baseline."""


def oracle_rows(series: LabelledSeries, scenario: str, config: DetectorConfig) -> pd.DataFrame:
    """Detector rows (OUTPUT_COLUMNS) of :data:`ORACLE` for one simulated series: score = the signed mid-p z of the
    count under NB2(true mean, scenario dispersion); hotspot = one-sided P(Y >= y) < alpha_alarm (surges only)."""
    from tasks.detectors import OUTPUT_COLUMNS, nb_tails

    frame = series.frame
    mean = np.asarray(frame.attrs["target_mean"], dtype="float64")
    phi = np.full(mean.shape, SCENARIOS[scenario].target_dispersion)
    tails = nb_tails(frame["actual"].to_numpy(dtype="float64"), mean, phi)
    hot = tails["p_surge"] < config.alpha_alarm
    out = pd.DataFrame(
        {
            "date": frame["date"],
            "detector": ORACLE,
            "actual": frame["actual"],
            "expected": mean,
            "lower": np.nan,
            "upper": np.nan,
            "score": tails["z"],
            "p_value": tails["p_surge"],
            "p_surge": tails["p_surge"],
            "p_drop": tails["p_drop"],
            "direction": np.where(hot, "surge", "none"),
            "severity": np.where(hot, "alarm", "none"),
            "is_hotspot": hot,
            "guard_blocked": False,
            "note": "",
        }
    )
    return out[OUTPUT_COLUMNS]


def alarm_statistic(rows: pd.DataFrame, config: DetectorConfig) -> np.ndarray:
    """``(T,)`` the statistic a detector thresholds (larger = more anomalous; NaN = the day cannot alarm).

    seed: deviation_pct; EARS: C1/C2/C3; calibrated and EWMA detectors: the signed z oriented as the
    alerts that count as hotspots (z for surges, -z for drops, |z| for both; see ``sides`` and
    ``hotspot_direction``), NaN where the small-count guard suppressed an alert. Thresholding it at
    other values than the default gives the matched-false-alarm comparison.
    """
    score = rows["score"].to_numpy(dtype="float64").copy()
    name = str(rows["detector"].iloc[0]) if len(rows) else ""
    if name.endswith(("_calibrated", "_ewma")):
        counted = config.sides if config.sides in ("surge", "drop") else config.hotspot_direction
        score = {"both": np.abs(score), "surge": score, "drop": -score}[counted]
        score[rows["guard_blocked"].to_numpy(dtype=bool)] = np.nan
    return score


def _outbreak_rows(alarm: np.ndarray, series: LabelledSeries) -> list[dict]:
    """One dict per outbreak of the series (on its scored days): detected, delay to the first alarm."""
    info = {int(o["id"]): o for o in series.frame.attrs.get("outbreaks", [])}
    ids = np.where(series.include, series.ids, 0)
    rows = []
    for oid in np.unique(ids[ids > 0]):
        days = np.flatnonzero(ids == oid)
        hits = days[alarm[days]]
        rows.append(
            {
                "outbreak": int(oid),
                "k": float(info.get(int(oid), {}).get("k", np.nan)),
                "size": float(info.get(int(oid), {}).get("size", np.nan)),
                "days": int(days.size),
                "detected": bool(hits.size),
                "delay": float(hits[0] - days[0]) if hits.size else np.nan,
            }
        )
    return rows


def evaluate_scenario(
    scenario: str,
    series: Sequence[LabelledSeries],
    seeds: Sequence[int],
    detections: Sequence[pd.DataFrame],
    config: DetectorConfig,
    target_far: float = 0.01,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics of every detector on one scenario's series -> (per-seed metrics, per-outbreak results).

    ``default``: each detector's own verdict (``is_hotspot``). ``matched_far``: each detector's
    :func:`alarm_statistic` thresholded so that the false-alarm rate pooled over all seeds of the
    scenario is at most ``target_far`` (:func:`threshold_for_far`; the threshold is chosen on the
    same series it is scored on, so this compares how well each statistic ranks outbreak days,
    as a ROC point does, not a threshold one could set in advance).

    Args:
        detections: per series, the long output of :func:`tasks.detectors.run_detectors`.
    """
    names = list(dict.fromkeys(detections[0]["detector"]))
    metric_rows, outbreak_rows = [], []
    for name in names:
        per_series = [det[det["detector"] == name] for det in detections]
        stats_ = [alarm_statistic(rows, config) for rows in per_series]
        pooled = np.concatenate([st[s.include] for st, s in zip(stats_, series, strict=True)])
        pooled_mask = np.concatenate([s.mask[s.include] for s in series])
        threshold = threshold_for_far(pooled, pooled_mask, target_far)
        for setting in SETTINGS:
            for seed, s, rows, st in zip(seeds, series, per_series, stats_, strict=True):
                if setting == "default":
                    alarm = rows["is_hotspot"].to_numpy(dtype=bool)
                else:
                    alarm = np.isfinite(st) & (st > threshold)
                result = score_detections(alarm, s.mask, s.ids, include=s.include)
                head = {"scenario": scenario, "detector": name, "setting": setting, "seed": int(seed)}
                used = float("nan") if setting == "default" else threshold
                metric_rows.append(head | {"threshold": used} | result)
                outbreak_rows += [head | row for row in _outbreak_rows(alarm & s.include, s)]
    per_seed = pd.DataFrame(metric_rows)[PER_SEED_COLUMNS]
    outbreaks = pd.DataFrame(outbreak_rows, columns=OUTBREAK_COLUMNS)
    return per_seed, outbreaks


def summarise(per_seed: pd.DataFrame, outbreaks: pd.DataFrame) -> pd.DataFrame:
    """Per-seed metrics -> one row per (scenario, detector, setting) (SUMMARY_COLUMNS).

    pod, far and ppv pool the counts of all seeds (so seeds with few alarms do not get the same
    weight as seeds with many); f1 is computed from the pooled pod and ppv; median_delay is over all
    detected outbreaks; ``*_sd`` is the standard deviation of the per-seed values (the spread).
    """
    rows = []
    keys = ["scenario", "detector", "setting"]
    delays = outbreaks[outbreaks["detected"]].groupby(keys)["delay"].median()
    for key, group in per_seed.groupby(keys, sort=False):
        totals = group[["n_outbreaks", "n_detected", "n_alarms", "n_false_alarms", "n_normal_days"]].sum()
        true_days = totals["n_alarms"] - totals["n_false_alarms"]
        pod = totals["n_detected"] / totals["n_outbreaks"] if totals["n_outbreaks"] else np.nan
        far = totals["n_false_alarms"] / totals["n_normal_days"] if totals["n_normal_days"] else np.nan
        ppv = true_days / totals["n_alarms"] if totals["n_alarms"] else np.nan
        f1 = f1_score(pod, ppv)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "threshold": group["threshold"].iloc[0],
                "pod": pod,
                "pod_sd": group["pod"].std(),
                "far": far,
                "far_sd": group["far"].std(),
                "ppv": ppv,
                "ppv_sd": group["ppv"].std(),
                "f1": f1,
                "f1_sd": group["f1"].std(),
                "median_delay": delays.get(key, np.nan),
                "n_seeds": len(group),
                "n_outbreaks": int(totals["n_outbreaks"]),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def run_backtest(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    train_config: TrainConfig,
    detect: DetectorConfig,
    real: pd.DataFrame | None = None,
    target_far: float = 0.01,
    on_scenario: Callable[[str, float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every detector on every scenario x seed -> (per-seed metrics, per-outbreak results, summary).

    The LSTM forecast of each series is the pipeline's (:func:`lstm_forecasts`, one grouped training
    call per scenario); every detector of :data:`tasks.detectors.DETECTORS` runs with ``detect``
    (a :class:`tasks.detectors.DetectorConfig`), plus :data:`ORACLE` on simulated scenarios.
    ``on_scenario(name, seconds)`` is called after each.
    """
    import time

    per_seed, outbreaks = [], []
    for scenario in scenarios:
        started = time.perf_counter()
        series = labelled_series(scenario, seeds, real)
        forecasts = lstm_forecasts([s.frame for s in series], train_config)
        detections = [
            run_detectors(s.frame, list(DETECTORS), forecast, detect)
            for s, forecast in zip(series, forecasts, strict=True)
        ]
        if scenario in SCENARIOS:
            detections = [
                pd.concat([d, oracle_rows(s, scenario, detect)]) for d, s in zip(detections, series, strict=True)
            ]
        metrics, found = evaluate_scenario(scenario, series, seeds, detections, detect, target_far)
        per_seed.append(metrics)
        outbreaks.append(found)
        if on_scenario is not None:
            on_scenario(scenario, time.perf_counter() - started)
    per_seed_all = pd.concat(per_seed, ignore_index=True)
    outbreaks_all = pd.concat(outbreaks, ignore_index=True)
    return per_seed_all, outbreaks_all, summarise(per_seed_all, outbreaks_all)


def _pm(value: float, sd: float, digits: int = 2) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f} ± {sd:.{digits}f}" if np.isfinite(sd) else f"{value:.{digits}f}"


def markdown_table(summary: pd.DataFrame, setting: str) -> str:
    """The summary rows of one setting as a markdown table (value ± spread over seeds; FAR in %)."""
    rows = summary[summary["setting"] == setting]
    lines = [
        "| scenario | detector | POD | FAR % | PPV | F1 | median delay (days) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows.itertuples():
        delay = f"{row.median_delay:g}" if np.isfinite(row.median_delay) else "-"
        lines.append(
            f"| {row.scenario} | {row.detector} | {_pm(row.pod, row.pod_sd)} | "
            f"{_pm(100 * row.far, 100 * row.far_sd, 1)} | {_pm(row.ppv, row.ppv_sd)} | {_pm(row.f1, row.f1_sd)} | "
            f"{delay} |"
        )
    return "\n".join(lines) + "\n"


def f1_pivot(summary: pd.DataFrame, setting: str) -> pd.DataFrame:
    """F1 per detector (rows, registry order) and scenario (columns) for one setting."""
    rows = summary[summary["setting"] == setting]
    table = rows.pivot(index="detector", columns="scenario", values="f1")
    return table.reindex(index=list(dict.fromkeys(rows["detector"])), columns=list(dict.fromkeys(rows["scenario"])))


def pod_by_size(outbreaks: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Share of outbreaks detected per (scenario, detector) and outbreak size k (columns)."""
    rows = outbreaks[outbreaks["setting"] == setting]
    table = rows.pivot_table(index=["scenario", "detector"], columns="k", values="detected", aggfunc="mean", sort=False)
    table.columns = [f"k={k:g}" for k in table.columns]
    return table


def plot_backtest(summary: pd.DataFrame, target_far: float = 0.01) -> Any:
    """Comparison chart: F1 at defaults, F1 and POD at the matched false-alarm rate, per scenario and detector."""
    from matplotlib.figure import Figure

    scenarios = list(dict.fromkeys(summary["scenario"]))
    names = list(dict.fromkeys(summary["detector"]))
    panels = [
        ("default", "f1", "F1 at each detector's defaults"),
        ("matched_far", "f1", f"F1 at a matched false-alarm rate ({100 * target_far:g} % per day)"),
        ("matched_far", "pod", f"POD at a matched false-alarm rate ({100 * target_far:g} % per day)"),
    ]
    fig = Figure(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    width = 0.8 / len(names)
    x = np.arange(len(scenarios))
    for ax, (setting, metric, title) in zip(axes, panels, strict=True):
        rows = summary[summary["setting"] == setting].set_index(["scenario", "detector"])
        for i, name in enumerate(names):
            keys = [(sc, name) for sc in scenarios]
            values = [rows[metric].get(k, np.nan) for k in keys]
            spread = [rows[f"{metric}_sd"].get(k, np.nan) for k in keys]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, yerr=spread, capsize=2, label=name)
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x, scenarios)
    axes[0].legend(ncol=4, fontsize=8)
    return fig


def real_series(series: SeriesConfig, source: Path = SHIPPED_INPUT) -> pd.DataFrame:
    """The shipped national series (date, actual = target, driver) on a gap-explicit daily calendar.

    ``series.region`` must select exactly one region of ``source`` ('all' does: the national file has only CN).
    """
    from tasks.ingest import ingest_file

    table = ingest_file(source, IngestConfig()).table
    regions = series.regions(sorted(table["region"].unique()))
    if len(regions) != 1:
        raise ValueError(f"the backtest's real series is one region; {source.name} has {', '.join(regions)}")
    daily = to_daily_calendar(table, regions, series)
    return pd.DataFrame({"date": daily["date"], "actual": daily["target"], "driver": daily["driver"]})


def backtest_markdown(summary: pd.DataFrame, seeds: int, target_far: float) -> str:
    """The comparison as markdown: compact F1 tables, then every metric per setting."""
    lines = [
        "# Backtest: every detector on labelled outbreaks",
        "",
        f"{seeds} seed(s) per scenario; POD = share of outbreaks with an alarm on one of their days; FAR = false "
        "alarms per non-outbreak day; PPV = share of alarm days inside an outbreak; F1 = harmonic mean of POD and "
        "PPV; value ± standard deviation over seeds. Matched FAR: each detector's statistic thresholded so that "
        f"its pooled false-alarm rate is at most {100 * target_far:g} % (chosen on the same series). `oracle` "
        "(simulated scenarios only) knows the true baseline: the single-day ceiling, not a deployable detector.",
        "",
    ]
    titles = {"default": "at each detector's defaults", "matched_far": f"at a matched FAR of {100 * target_far:g} %"}
    for setting, title in titles.items():
        lines += [f"## F1 {title}", "", pivot_markdown(f1_pivot(summary, setting)), ""]
    for setting, title in titles.items():
        lines += [f"## All metrics {title}", "", markdown_table(summary, setting)]
    return "\n".join(lines)


def pivot_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A detector x scenario table as markdown; the best value of each column (oracle aside) in bold."""
    lines = ["| detector | " + " | ".join(map(str, table.columns)) + " |", "|---" * (len(table.columns) + 1) + "|"]
    best = table.drop(index=ORACLE, errors="ignore").max(axis=0)  # the oracle is a ceiling, not a contender
    for name, row in table.iterrows():
        cells = []
        for col, value in row.items():
            text = f"{value:.{digits}f}" if np.isfinite(value) else "-"
            cells.append(f"**{text}**" if np.isfinite(value) and value == best[col] else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# -- Prefect tasks --------------------------------------------------------------------

BACKTEST_TABLES = ("per_seed", "outbreaks", "summary")


@task(name="backtest", cache_policy=NO_CACHE)
def backtest(
    store: ArtifactStore,
    run_date: date,
    config: PipelineConfig,
    seeds: int,
    scenarios: list[str],
    target_far: float,
) -> dict:
    """Run every detector on every scenario x seed; write the per-seed, per-outbreak and summary tables,
    the comparison chart and its markdown (or reuse identical ones)."""
    logger = get_run_logger()
    unknown = [name for name in scenarios if name != REAL and name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {', '.join([*SCENARIOS, REAL])}")
    key = fingerprint(
        stage="backtest",
        scenarios=list(scenarios),
        seeds=seeds,
        target_far=target_far,
        train=config.train.model_dump(),
        detect=config.detect.model_dump(),
        threshold_pct=config.extract.threshold_pct,
        series=config.series.model_dump() if REAL in scenarios else None,
        real=sha256_file(SHIPPED_INPUT) if REAL in scenarios else None,
        # ingest.py reads the real series; named by path so that GX-free imports stay cheap.
        code=code_version(
            __file__,
            detectors.__file__,
            lstm.__file__,
            train.__file__,
            scale.__file__,
            Path(scale.__file__).with_name("ingest.py"),
        ),
    )
    if (hit := store.reuse("backtest", run_date, key)) is not None:
        logger.info("backtest: skipped, same settings and code as run date %s", hit["reused_from"])
        return hit["outputs"] | {"status": f"skipped (same as {hit['reused_from']})"}

    def progress(name: str, seconds: float) -> None:
        logger.info("backtest: scenario %s done in %.1f s (%d seeds)", name, seconds, seeds)

    real = real_series(config.series) if REAL in scenarios else None
    per_seed, outbreaks, summary = run_backtest(
        scenarios,
        range(seeds),
        config.train,
        detector_config(config.detect, config.extract.threshold_pct),
        real,
        target_far,
        on_scenario=progress,
    )
    tables = {"per_seed": per_seed, "outbreaks": outbreaks, "summary": summary}
    outputs = {name: store.write_table("backtest", run_date, name, frame).to_dict() for name, frame in tables.items()}
    markdown = backtest_markdown(summary, seeds, target_far)
    md_path = store.write_with(store.path("backtest", run_date, "comparison.md"), lambda p: p.write_text(markdown))
    chart = plot_backtest(summary, target_far)
    png = store.write_with(store.path("backtest", run_date, "comparison.png"), lambda p: chart.savefig(p, dpi=110))
    for name, path in (("markdown", md_path), ("chart", png)):
        outputs[name] = store.ref(path).to_dict()
    store.write_manifest("backtest", run_date, {"fingerprint": key, "outputs": outputs})
    logger.info(
        "backtest: %d scenario(s) x %d seed(s); wrote %s", len(scenarios), seeds, store.resolve(outputs["summary"])
    )
    return outputs | {"status": "ran"}
