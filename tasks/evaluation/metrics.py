"""Scoring detections against labelled outbreaks: per outbreak (POD, delay), per day (FAR, PPV), F1,
and the matched-false-alarm comparison (each detector's own statistic thresholded to the same FAR).

Definitions follow outbreak-detection studies (Noufaily et al. 2013, Bedubourg and Le Strat 2017):
an outbreak is detected when any of its days alarms; false alarms are counted per clean day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.detectors.registry import SPECS
from tasks.detectors.schema import DetectorConfig


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


SETTINGS = ("default", "matched_far")
PER_SEED_COLUMNS = [
    "scenario", "detector", "setting", "seed", "threshold", "pod", "far", "ppv", "sensitivity", "f1", "median_delay",
    "n_outbreaks", "n_detected", "n_alarms", "n_false_alarms", "n_outbreak_days", "n_normal_days", "n_explained",
    "n_explained_flagged",
]  # fmt: skip
OUTBREAK_COLUMNS = ["scenario", "detector", "setting", "seed", "outbreak", "k", "size", "days", "detected", "delay"]
SUMMARY_COLUMNS = [
    "scenario", "detector", "setting", "threshold", "pod", "pod_sd", "far", "far_sd", "ppv", "ppv_sd", "f1", "f1_sd",
    "median_delay", "n_seeds", "n_outbreaks", "explained_flagged",
]  # fmt: skip


@dataclass(frozen=True)
class LabelledSeries:
    """One series of a backtest: frame (date, actual, driver), outbreak mask and ids ``(T,)``, scored days ``(T,)``."""

    frame: pd.DataFrame
    mask: np.ndarray
    ids: np.ndarray
    include: np.ndarray
    sign: np.ndarray | None = None  # (T,) +1 surge / -1 drop on event days (None: surges only)
    explained: np.ndarray | None = None  # (T,) ids of driver-explained events (not hotspots), 0 elsewhere

    @property
    def scored(self) -> np.ndarray:
        """``(T,)`` days that count in POD, FAR and PPV: included, and not a driver-explained event's day (those
        are neither hotspots nor clean days; they are reported apart as ``explained_flagged``)."""
        return self.include if self.explained is None else self.include & (self.explained == 0)


ORACLE_PREFIX = "oracle"
TWO_SIDED_SUFFIX = "_2s"
"""Oracles (tasks/evaluation/oracle.py) are named ``oracle*``; their two-sided copies end in ``_2s``."""


def alarm_sign(rows: pd.DataFrame) -> np.ndarray:
    """``(T,)`` the direction of a detector's alarm on each day: +1 surge, -1 drop (EARS looks for surges only)."""
    name = str(rows["detector"].iloc[0]) if len(rows) else ""
    if name.startswith("ears_"):
        return np.ones(len(rows))
    if name == "seed":
        return np.sign(rows["actual"].to_numpy(dtype="float64") - rows["expected"].to_numpy(dtype="float64"))
    return np.sign(rows["score"].to_numpy(dtype="float64"))


def alarm_statistic(rows: pd.DataFrame, config: DetectorConfig) -> np.ndarray:
    """``(T,)`` the statistic a detector thresholds (larger = more anomalous; NaN = the day cannot alarm).

    seed: deviation_pct; EARS: C1/C2/C3; calibrated and EWMA detectors: the signed z oriented as the
    alerts that count as hotspots (z for surges, -z for drops, |z| for both; see ``sides`` and
    ``hotspot_direction``), NaN where the small-count guard suppressed an alert. Thresholding it at
    other values than the default gives the matched-false-alarm comparison.
    """
    score = rows["score"].to_numpy(dtype="float64").copy()
    name = str(rows["detector"].iloc[0]) if len(rows) else ""
    # The oracles test surges (their _2s copies both sides) whatever the detectors' config: the ceilings to quote.
    if name.startswith(ORACLE_PREFIX):
        return np.abs(score) if name.endswith(TWO_SIDED_SUFFIX) else score
    if name in SPECS and SPECS[name].statistic == "signed_z":
        counted = config.test_sides if config.test_sides in ("surge", "drop") else config.counted_direction
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


def _explained_counts(alarm: np.ndarray, series: LabelledSeries) -> dict[str, float]:
    """The series' driver-explained events and how many of them got an alarm on one of their days."""
    if series.explained is None:
        return {"n_explained": 0.0, "n_explained_flagged": 0.0}
    ids = np.unique(series.explained[series.explained > 0])
    flagged = sum(bool(alarm[series.explained == i].any()) for i in ids)
    return {"n_explained": float(ids.size), "n_explained_flagged": float(flagged)}


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
        pooled = np.concatenate([st[s.scored] for st, s in zip(stats_, series, strict=True)])
        pooled_mask = np.concatenate([s.mask[s.scored] for s in series])
        threshold = threshold_for_far(pooled, pooled_mask, target_far)
        for setting in SETTINGS:
            for seed, s, rows, st in zip(seeds, series, per_series, stats_, strict=True):
                if setting == "default":
                    alarm = rows["is_hotspot"].to_numpy(dtype=bool)
                else:
                    alarm = np.isfinite(st) & (st > threshold)
                if s.sign is not None:
                    # An event is found only by an alarm in its direction; a wrong-direction alarm on an event
                    # day is dropped (neither a detection nor a false alarm on a clean day).
                    alarm = alarm & ((s.sign == 0) | (alarm_sign(rows) == s.sign))
                result = score_detections(alarm, s.mask, s.ids, include=s.scored)
                result |= _explained_counts(alarm & s.include, s)
                head = {"scenario": scenario, "detector": name, "setting": setting, "seed": int(seed)}
                used = float("nan") if setting == "default" else threshold
                metric_rows.append(head | {"threshold": used} | result)
                outbreak_rows += [head | row for row in _outbreak_rows(alarm & s.scored, s)]
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
        totals = group[
            ["n_outbreaks", "n_detected", "n_alarms", "n_false_alarms", "n_normal_days", "n_explained",
             "n_explained_flagged"]
        ].sum()  # fmt: skip
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
                "explained_flagged": totals["n_explained_flagged"] / totals["n_explained"]
                if totals["n_explained"]
                else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
