"""Scenarios whose events are not only target-only surges: driver-explained surges and drops.

``both``: half of the events are target-only surges (hotspots), the other half epidemic surges in the DRIVER
that reach the target ``lag`` days later through the scenario's own coupling (target extra mean = ratio x the
driver's extra cases ``lag`` days earlier): explained by the driver, labelled ``explained``, not hotspots.
``drops``: half of the events are surges, half drops (cases removed from the target: a reporting outage),
all hotspots, labelled with their direction (+1 / -1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.evaluation.simulate import SCENARIOS, outbreak_profile, simulate_baseline

EVENT_SCENARIOS: dict[str, tuple[str, str]] = {"both": ("medium", "both"), "drops": ("medium", "drops")}
"""name -> (the family of SCENARIOS it is built on, the kind of its other events)."""


def _event_days(rng: np.random.Generator, size: int, profile: np.ndarray, start: int, n: int) -> np.ndarray:
    """(n,) cases of one event of ``size`` cases spread from ``start`` by ``profile`` (cut at the series' end)."""
    extra = np.zeros(n)
    if size <= 0 or start >= n:
        return extra
    offsets = np.bincount(rng.choice(profile.size, size=size, p=profile), minlength=profile.size)[: n - start]
    extra[start : start + offsets.size] = offsets
    return extra


def simulate_events(name: str, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One series of an :data:`EVENT_SCENARIOS` scenario.

    Returns frame (date, actual, driver; attrs target_mean = the TRUE mean including the driver-explained part,
    outbreaks, scenario), hotspot mask (T,), hotspot ids (T,), sign (T,) int (+1 surge, -1 drop, 0 none) and
    explained ids (T,) int (1.. per explained event, 0 none). Event starts, sizes (k x the series' sd) and
    shapes follow :func:`tasks.evaluation.simulate.place_outbreaks`; each event's kind is drawn with p = 1/2.
    """
    family, kind = EVENT_SCENARIOS[name]
    sc = SCENARIOS[family]
    rng = np.random.default_rng([seed, 7])  # a stream of its own: never the same draws as simulate_pair(seed)
    base = simulate_baseline(sc, rng)
    n, lag = sc.n_days, sc.lag
    sd_t = np.sqrt(base["target_mean"] + sc.target_dispersion * base["target_mean"] ** 2)
    sd_d = np.sqrt(base["driver_mean"] + sc.driver_dispersion * base["driver_mean"] ** 2)
    profile = outbreak_profile(sc.outbreak_scale_days)
    span = int(np.flatnonzero(profile > 1e-4).max()) + 1
    starts: list[int] = []
    for day in rng.permutation(np.arange(sc.warmup_days, n - span)):
        if len(starts) == sc.n_outbreaks:
            break
        if all(abs(int(day) - s) >= sc.min_gap_days for s in starts):
            starts.append(int(day))
    starts.sort()
    target, driver, target_mean = base["target"].copy(), base["driver"].copy(), base["target_mean"].copy()
    ids = np.zeros(n, dtype=np.int64)
    sign = np.zeros(n, dtype=np.int64)
    explained = np.zeros(n, dtype=np.int64)
    info: list[dict[str, float]] = []
    for start in starts:
        k = float(rng.choice(np.asarray(sc.outbreak_k, dtype="float64")))
        other = bool(rng.random() < 0.5)
        if kind == "both" and other:
            d_extra = _event_days(rng, int(rng.poisson(k * sd_d[max(start - lag, 0)])), profile, start - lag, n)
            driver += d_extra
            t_mean = sc.ratio * np.concatenate([np.zeros(lag), d_extra[: n - lag]])
            target += rng.poisson(t_mean)
            target_mean += t_mean
            days = np.flatnonzero(t_mean > 0)
            if days.size:
                explained[days[0] : days[-1] + 1] = int(explained.max()) + 1
            continue
        extra = _event_days(rng, int(rng.poisson(k * sd_t[start])), profile, start, n)
        direction = -1 if (kind == "drops" and other) else 1
        if direction < 0:
            extra = np.minimum(extra, target)  # a drop cannot remove more cases than were counted
        days = np.flatnonzero(extra)
        if days.size == 0:
            continue
        target += direction * extra
        new_id = len(info) + 1
        ids[days[0] : days[-1] + 1] = new_id
        sign[days[0] : days[-1] + 1] = direction
        info.append({"id": new_id, "start": int(days[0]), "end": int(days[-1]), "k": k, "size": float(extra.sum()),
                     "direction": direction})  # fmt: skip
    frame = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=n, freq="D", unit="us"), "actual": target, "driver": driver}
    )
    frame.attrs.update(target_mean=target_mean, outbreaks=info, scenario=name)
    return frame, ids > 0, ids, sign, explained
