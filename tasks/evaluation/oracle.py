"""The oracle: a detector that knows the true baseline of a simulated series, the ceiling to quote."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tasks.detectors.counts import nb_tails
from tasks.detectors.ewma import ewma_statistic
from tasks.detectors.schema import OUTPUT_COLUMNS, DetectorConfig
from tasks.evaluation.events import EVENT_SCENARIOS
from tasks.evaluation.metrics import TWO_SIDED_SUFFIX, LabelledSeries
from tasks.evaluation.simulate import SCENARIOS

ORACLE = "oracle"
"""Backtest-only reference on simulated series: the single-day NB test under the TRUE baseline mean and
dispersion (no forecast error, no estimation). Not deployable; it shows what any single-day detector
could reach with perfect knowledge of the baseline."""


ORACLE_EWMA = "oracle_ewma"
ORACLE_CUSUM = "oracle_cusum"
ORACLES = (ORACLE, ORACLE_EWMA, ORACLE_CUSUM)
"""The single-day oracle and two that accumulate evidence over days (shared/notes/evaluation.md): an EWMA
(lambda = ewma_lambda) of the TRUE standardised residuals over its exact null sd, and a CUSUM (reference
k = 0.5 sd, the optimal one for a 1-sd shift). The ceiling for multi-day outbreaks is the best of the three at
a matched false-alarm rate (``oracle_best`` in the tables). Each also runs two-sided (name + ``_2s``, the
statistic |score|): the ceiling for a detector that must report drops too (it spends false alarms on both
sides)."""
CUSUM_K = 0.5
CUSUM_H = 4.0  # decision interval of the defaults (ARL0 ~ 170 days for one side at k = 0.5)


def _true_dispersion(frame: pd.DataFrame, scenario: str) -> np.ndarray:
    """``(T,)`` the simulated NB2 dispersion of the target (weekly families carry one per week)."""
    if "target_dispersion" in frame.attrs:
        return np.asarray(frame.attrs["target_dispersion"], dtype="float64")
    family = EVENT_SCENARIOS[scenario][0] if scenario in EVENT_SCENARIOS else scenario
    return np.full(len(frame), SCENARIOS[family].target_dispersion)


def _rows(frame: pd.DataFrame, name: str, mean: np.ndarray, score: np.ndarray, hot: np.ndarray) -> pd.DataFrame:
    """OUTPUT_COLUMNS rows of one oracle (no band, no p-value)."""
    return pd.DataFrame(
        {
            "date": frame["date"], "detector": name, "actual": frame["actual"], "expected": mean, "lower": np.nan,
            "upper": np.nan, "score": score, "p_value": np.nan, "p_surge": np.nan, "p_drop": np.nan,
            "direction": np.where(hot, "surge", "none"), "severity": np.where(hot, "alarm", "none"),
            "is_hotspot": hot, "guard_blocked": False, "note": "",
        }
    )[OUTPUT_COLUMNS]  # fmt: skip


def accumulating_oracle_rows(series: LabelledSeries, scenario: str, config: DetectorConfig) -> pd.DataFrame:
    """Rows of ORACLE_EWMA and ORACLE_CUSUM: the TRUE mid-p z of every day (as :data:`ORACLE`) accumulated.

    ``score`` is signed (> 0 surge): EWMA / its null sd; CUSUM: the larger of the upper and lower CUSUM with
    the sign of its side.
    """
    frame = series.frame
    mean = np.asarray(frame.attrs["target_mean"], dtype="float64")
    z = nb_tails(frame["actual"].to_numpy(dtype="float64"), mean, _true_dispersion(frame, scenario))["z"]
    ewma = ewma_statistic(z, config.ewma_lambda)["stat"]
    up, down = np.zeros(z.shape), np.zeros(z.shape)
    hi = lo = 0.0
    for t, value in enumerate(np.nan_to_num(z).tolist()):
        hi, lo = max(0.0, hi + value - CUSUM_K), max(0.0, lo - value - CUSUM_K)
        up[t], down[t] = hi, lo
    cusum = np.where(up >= down, up, -down)
    level = float(stats.norm.isf(config.alpha_alarm))
    return pd.concat(
        [_rows(frame, ORACLE_EWMA, mean, ewma, ewma > level), _rows(frame, ORACLE_CUSUM, mean, cusum, cusum > CUSUM_H)],
        ignore_index=True,
    )


def all_oracle_rows(series: LabelledSeries, scenario: str, config: DetectorConfig) -> pd.DataFrame:
    """Rows of every oracle, one-sided (:data:`ORACLES`) and two-sided (the same with ``_2s``)."""
    one = pd.concat([oracle_rows(series, scenario, config), accumulating_oracle_rows(series, scenario, config)])
    two = one.assign(detector=one["detector"] + TWO_SIDED_SUFFIX)
    # Defaults of the two-sided copies: the same false-alarm budget split over both sides.
    two_sided_level = {ORACLE: stats.norm.isf(config.alpha_alarm / 2), ORACLE_CUSUM: CUSUM_H}
    level = one["detector"].map(two_sided_level).fillna(stats.norm.isf(config.alpha_alarm / 2)).to_numpy()
    score = one["score"].to_numpy(dtype="float64")
    hot = np.abs(np.nan_to_num(score)) > level
    two["is_hotspot"] = hot
    two["direction"] = np.where(hot, np.where(score > 0, "surge", "drop"), "none")
    two["severity"] = np.where(hot, "alarm", "none")
    return pd.concat([one, two], ignore_index=True)


def oracle_rows(series: LabelledSeries, scenario: str, config: DetectorConfig) -> pd.DataFrame:
    """Detector rows (OUTPUT_COLUMNS) of :data:`ORACLE` for one simulated series: score = the signed mid-p z of the
    count under NB2(true mean, scenario dispersion); hotspot = one-sided P(Y >= y) < alpha_alarm (surges only)."""
    frame = series.frame
    mean = np.asarray(frame.attrs["target_mean"], dtype="float64")
    tails = nb_tails(frame["actual"].to_numpy(dtype="float64"), mean, _true_dispersion(frame, scenario))
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
