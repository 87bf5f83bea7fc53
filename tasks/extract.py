"""Extract: the study's hotspot rule on the target's predictions.

deviation_pct = |actual - predicted| / actual x 100, undefined (NaN, never inf) when
actual = 0; a day is a hotspot when deviation_pct > threshold_pct. Days that cannot be
scored are listed with the reason instead of being dropped silently.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import ExtractConfig
from tasks.store import ArtifactStore, code_version, fingerprint

REPORT_COLUMNS = ["date", "region", "actual", "predicted", "deviation_pct", "is_hotspot", "note"]
UNSCORED_COLUMNS = ["date", "region", "reason"]


def deviation_pct(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(n,), (n,) -> (n,) percent deviation; NaN where actual is 0 or either side is missing."""
    actual = np.asarray(actual, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    out = np.full(actual.shape, np.nan)
    defined = (actual != 0) & ~np.isnan(actual) & ~np.isnan(predicted)
    out[defined] = np.abs(actual[defined] - predicted[defined]) / np.abs(actual[defined]) * 100.0
    return out


def flag_hotspots(deviation: np.ndarray, threshold_pct: float) -> np.ndarray:
    """(n,) deviations -> (n,) bool; an undefined deviation is never a hotspot."""
    deviation = np.asarray(deviation, dtype="float64")
    return np.where(np.isnan(deviation), False, deviation > threshold_pct)


def unscored_reason(actual: np.ndarray, position: int, look_back: int, dates: pd.Series) -> str:
    """Why day ``position`` of a (T,) target series has no prediction."""
    if np.isnan(actual[position]):
        return "no published figure for the target on this day"
    if position < look_back:
        return f"first {look_back} day(s) of the series: not enough history"
    window = range(position - look_back, position)
    missing = [dates.iloc[i].date().isoformat() for i in window if np.isnan(actual[i])]
    return f"window touches missing day(s): {', '.join(missing)}"


def extract_hotspots(
    predictions: pd.DataFrame, threshold_pct: float, look_back: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long predictions -> (report: one row per scored target day, unscored days with reasons)."""
    target = predictions[predictions["role"] == "target"].sort_values(["region", "date"]).reset_index(drop=True)
    scored = target["actual"].notna() & target["predicted"].notna()

    report = target.loc[scored, ["date", "region", "actual", "predicted"]].copy()
    report["actual"] = report["actual"].astype("int64")
    report["deviation_pct"] = deviation_pct(report["actual"].to_numpy(), report["predicted"].to_numpy())
    report["is_hotspot"] = flag_hotspots(report["deviation_pct"].to_numpy(), threshold_pct)
    report["note"] = np.where(report["actual"] == 0, "deviation undefined: actual = 0", "")
    report["note"] = report["note"].astype("str")

    reasons = []
    for region, rows in target.groupby("region", sort=True):
        actual = rows["actual"].to_numpy(dtype="float64")
        dates = rows["date"].reset_index(drop=True)
        for pos in np.flatnonzero(~scored.loc[rows.index].to_numpy()):
            reasons.append((dates.iloc[pos], region, unscored_reason(actual, int(pos), look_back, dates)))
    unscored = pd.DataFrame(reasons, columns=UNSCORED_COLUMNS).astype({"region": "str", "reason": "str"})
    unscored["date"] = unscored["date"].astype("datetime64[us]")
    return report[REPORT_COLUMNS].reset_index(drop=True), unscored


# -- Prefect task ---------------------------------------------------------------------


@task(name="extract", cache_policy=NO_CACHE)
def extract(store: ArtifactStore, run_date: date, predictions: dict, config: ExtractConfig, look_back: int) -> dict:
    """Score the target's predictions; write the hotspot table and the list of unscored days."""
    logger = get_run_logger()
    key = fingerprint(
        stage="extract",
        predictions=predictions["sha256"],
        config=config.model_dump(),
        look_back=look_back,
        code=code_version(__file__),
    )
    if (hit := store.reuse("extract", run_date, key)) is not None:
        logger.info("extract: skipped, same predictions as run date %s", hit["reused_from"])
        return hit["outputs"] | {"status": f"skipped (same as {hit['reused_from']})"}
    frame = store.load_table(predictions)
    report, unscored = extract_hotspots(frame, config.threshold_pct, look_back)
    refs = {
        "hotspots": store.write_table("extract", run_date, "hotspots", report).to_dict(),
        "unscored": store.write_table("extract", run_date, "unscored", unscored).to_dict(),
    }
    store.write_manifest("extract", run_date, {"fingerprint": key, "outputs": refs})
    logger.info(
        "extract: %d days scored, %d hotspots (deviation > %.1f %%), %d days not scored",
        len(report),
        int(report["is_hotspot"].sum()),
        config.threshold_pct,
        len(unscored),
    )
    return refs | {"status": "ran"}
