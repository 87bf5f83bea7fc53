"""The oracle: a detector that knows the true baseline of a simulated series, the ceiling to quote."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.detectors.counts import nb_tails
from tasks.detectors.schema import OUTPUT_COLUMNS, DetectorConfig
from tasks.evaluation.metrics import LabelledSeries
from tasks.evaluation.simulate import SCENARIOS

ORACLE = "oracle"
"""Backtest-only reference on simulated series: the single-day NB test under the TRUE baseline mean and
dispersion (no forecast error, no estimation). Not deployable; it shows what any single-day detector
could reach with perfect knowledge of the baseline."""


def oracle_rows(series: LabelledSeries, scenario: str, config: DetectorConfig) -> pd.DataFrame:
    """Detector rows (OUTPUT_COLUMNS) of :data:`ORACLE` for one simulated series: score = the signed mid-p z of the
    count under NB2(true mean, scenario dispersion); hotspot = one-sided P(Y >= y) < alpha_alarm (surges only)."""
    frame = series.frame
    mean = np.asarray(frame.attrs["target_mean"], dtype="float64")
    # Weekly families carry each week's NB2 dispersion; daily ones have one per scenario.
    if "target_dispersion" in frame.attrs:
        phi = np.asarray(frame.attrs["target_dispersion"], dtype="float64")
    else:
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
