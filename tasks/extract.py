"""Extract: the study's hotspot rule and every detector on the target's predictions.

The study's rule: deviation_pct = |actual - predicted| / actual x 100, undefined (NaN, never
inf) when actual = 0; its verdict (deviation_pct > threshold_pct) is kept as ``study_hotspot``.
Every detector of :mod:`tasks.detectors` then scores each day (``detections.parquet``, one row
per date x detector), and the detector named by ``detect.decider`` (``detect.decider_weekly`` for weekly
data) decides ``is_hotspot``.
Days that cannot be scored are listed with the reason instead of being dropped silently.
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.calendar import calendar as periods
from tasks.config import ComputeConfig, DetectConfig, ExtractConfig
from tasks.detectors.registry import NAMES
from tasks.detectors.run import run_on_series
from tasks.detectors.schema import OUTPUT_COLUMNS, DetectorConfig, Series, detector_config, validate_frame
from tasks.results import Extracted, Predicted
from tasks.schemas import (
    DETECTION_COLUMNS,
    DRIVER_DETECTOR,
    HOTSPOT_COLUMNS,
    MODEL_COLUMNS,
    STUDY_COLUMNS,
    UNSCORED_COLUMNS,
)
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore


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


def unscored_reason(
    actual: np.ndarray, position: int, look_back: int, dates: pd.Series, model_note: str = "", period: str = "day"
) -> str:
    """Why period ``position`` of a (T,) target series has no prediction (``model_note``: the region has no model;
    ``period``: "day" or "week")."""
    if model_note:
        return f"region {model_note}"
    if np.isnan(actual[position]):
        return "no published figure for the target " + ("on this day" if period == "day" else f"for this {period}")
    if position < look_back:
        return f"first {look_back} {period}(s) of the series: not enough history"
    window = range(position - look_back, position)
    missing = [dates.iloc[i].date().isoformat() for i in window if np.isnan(actual[i])]
    return f"window touches missing {period}(s): {', '.join(missing)}"


def extract_hotspots(
    predictions: pd.DataFrame, threshold_pct: float, look_back: int, period: str = "day"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long predictions -> (report: STUDY_COLUMNS + MODEL_COLUMNS, one row per scored target day;
    unscored days with reasons)."""
    if "trained_on" not in predictions:
        # Predictions written before regions had fallbacks: every model was trained on its driver.
        predictions = predictions.assign(trained_on="driver", model_note="")
    target = predictions[predictions["role"] == "target"].sort_values(["region", "date"]).reset_index(drop=True)
    scored = target["actual"].notna() & target["predicted"].notna()

    report = target.loc[scored, ["date", "region", "actual", "predicted", *MODEL_COLUMNS]].copy()
    report["actual"] = report["actual"].astype("int64")
    report["deviation_pct"] = deviation_pct(report["actual"].to_numpy(), report["predicted"].to_numpy())
    report["is_hotspot"] = flag_hotspots(report["deviation_pct"].to_numpy(), threshold_pct)
    report["note"] = np.where(report["actual"] == 0, "deviation undefined: actual = 0", "")
    report["note"] = report["note"].astype("str")

    reasons = []
    positions = target.groupby("region", sort=True).indices  # rows are contiguous per region
    for region, rows in target.loc[~scored].groupby("region", sort=True):
        series = target.iloc[positions[region]]
        actual = series["actual"].to_numpy(dtype="float64")
        dates = series["date"].reset_index(drop=True)
        note = "" if rows["trained_on"].iloc[0] != "none" else str(rows["model_note"].iloc[0])
        for index in rows.index:
            pos = int(index - positions[region][0])
            reasons.append((dates.iloc[pos], region, unscored_reason(actual, pos, look_back, dates, note, period)))
    unscored = pd.DataFrame(reasons, columns=UNSCORED_COLUMNS).astype({"region": "str", "reason": "str"})
    unscored["date"] = unscored["date"].astype("datetime64[us]")
    return report[STUDY_COLUMNS + MODEL_COLUMNS].reset_index(drop=True), unscored


def detector_inputs(
    predictions: pd.DataFrame, region: str, frequency: str = "daily"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Long predictions of one region -> (frame ``(T, 3)`` date, actual, driver on the full calendar of its
    periods, forecast ``(T,)`` the LSTM's prediction of the target in counts). Absent periods become NaN rows."""
    rows = predictions[predictions["region"] == region]
    return _inputs(rows, region, frequency)


def ensemble_inputs(forecasts: pd.DataFrame | None, region: str, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The forecaster's ``(T,)`` mean and spread of one region on the detectors' calendar ``dates`` (NaN where
    it has none, and everywhere without a forecasts table)."""
    n = len(dates)
    if forecasts is None or not len(forecasts):
        return np.full(n, np.nan), np.full(n, np.nan)
    rows = forecasts[forecasts["region"] == region].set_index("date").reindex(pd.DatetimeIndex(dates))
    return (
        rows["forecast"].to_numpy(dtype="float64", na_value=np.nan),
        rows["forecast_spread"].to_numpy(dtype="float64", na_value=np.nan),
    )


def _inputs(rows: pd.DataFrame, region: str, frequency: str) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`detector_inputs` on the rows of one region."""
    by_role = {role: part.set_index("date") for role, part in rows.groupby("role")}
    if "target" not in by_role:
        raise ValueError(f"no target predictions for region {region!r}")
    dates = rows["date"]
    calendar = periods(dates.min(), dates.max(), frequency)
    target = by_role["target"].reindex(calendar)
    driver = by_role["driver"]["actual"].reindex(calendar) if "driver" in by_role else pd.Series(np.nan, calendar)
    frame = pd.DataFrame(
        {
            "date": calendar,
            "actual": target["actual"].to_numpy(dtype="float64", na_value=np.nan),
            "driver": driver.to_numpy(dtype="float64", na_value=np.nan),
        }
    )
    return frame, target["predicted"].to_numpy(dtype="float64", na_value=np.nan)


def driver_anomaly(frame: pd.DataFrame, config: DetectorConfig, series: Series | None = None) -> np.ndarray:
    """``(T,)`` what the driver series itself did each period, scored by DRIVER_DETECTOR as if it were the
    target: "surge" or "drop" (an alert that counts as a hotspot under ``direction``), "none", or "" where the
    driver has no value. Tells an outbreak seen in both series (the driver explains the target) apart from one
    the driver does not show. ``series``: the driver as a series already (see :func:`driver_series`)."""
    driver = frame["driver"].to_numpy(dtype="float64")
    out = np.full(driver.shape[0], "", dtype=object)
    if not np.isfinite(driver).any():
        return out
    series = series or driver_series(frame)
    rows = run_on_series(series, [DRIVER_DETECTOR], config)
    flagged = rows["is_hotspot"].to_numpy(dtype=bool)
    out[np.isfinite(driver)] = "none"
    out[flagged] = rows["direction"].to_numpy()[flagged]
    return out


def driver_series(frame: pd.DataFrame) -> Series:
    """The driver of a detector frame ``(T, 3)`` as the series DRIVER_DETECTOR scores (its counts as the actual)."""
    return Series(validate_frame(frame.assign(actual=frame["driver"])))


def detect_all(
    predictions: pd.DataFrame, config: DetectorConfig, forecasts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Long predictions (and the forecaster's FORECAST_COLUMNS table) -> detections (DETECTION_COLUMNS):
    every detector, every region, every period (``config.period``: days or weeks).

    The calibrated count models of all regions are computed in one vectorised pass first (tasks/detectors/
    batch.py), the rest region by region; the result is the same as scoring each region alone."""
    # Imported here: the batch models need scipy (0.6 s), which a run that reuses its outputs never loads.
    from tasks.detectors.batch import prefill

    frequency = "weekly" if config.period == "week" else "daily"
    by_region = dict(iter(forecasts.groupby("region", sort=False))) if forecasts is not None else {}
    regions, targets, drivers = [], [], []
    for region, rows in predictions.groupby("region", sort=True):
        frame, forecast = _inputs(rows, str(region), frequency)
        ensemble = ensemble_inputs(by_region.get(region), str(region), frame["date"])
        regions.append((str(region), frame))
        targets.append(Series(validate_frame(frame), forecast, None, ensemble))
        drivers.append(driver_series(frame) if np.isfinite(frame["driver"].to_numpy(dtype="float64")).any() else None)
    prefill(targets, NAMES, config)
    prefill([d for d in drivers if d is not None], [DRIVER_DETECTOR], config)
    parts = []
    for (region, frame), target, driver in zip(regions, targets, drivers, strict=True):
        detected = run_on_series(target, list(NAMES), config)
        detected.insert(1, "region", region)
        detected["driver"] = np.tile(frame["driver"].to_numpy(), len(NAMES))
        detected["driver_anomaly"] = np.tile(driver_anomaly(frame, config, driver), len(NAMES))
        parts.append(detected)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in DETECTION_COLUMNS})
    out = pd.concat(parts, ignore_index=True)[DETECTION_COLUMNS]
    out["date"] = out["date"].astype("datetime64[us]")
    return out.astype({"region": "str", "detector": "str", "direction": "str", "severity": "str", "note": "str"})


def detect_chunk(chunk: tuple[pd.DataFrame, pd.DataFrame | None], config: DetectorConfig) -> pd.DataFrame:
    """:func:`detect_all` on one chunk of regions (their predictions and forecasts), wherever it runs."""
    predictions, forecasts = chunk
    return detect_all(predictions, config, forecasts)


def apply_verdicts(
    study: pd.DataFrame, detections: pd.DataFrame, decider: str, forecasts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Study table (STUDY_COLUMNS + MODEL_COLUMNS) + detections (+ the forecaster's FORECAST_COLUMNS) ->
    HOTSPOT_COLUMNS, one row per study row.

    ``study_hotspot`` keeps the study's verdict; ``is_hotspot`` and the numbers become the
    ``decider``'s; ``agreeing`` lists every detector that flags the day (registry order, comma-separated);
    ``note`` adds the decider's note, prefixed with its name; DRIVER_COLUMNS say what the driver did.
    """
    keys = ["region", "date"]
    columns = [*keys, *OUTPUT_COLUMNS[3:], *(["driver_anomaly"] if "driver_anomaly" in detections else [])]
    chosen = detections.loc[detections["detector"] == decider, columns]
    flagged = detections[detections["is_hotspot"]]
    agreeing = (
        flagged.assign(order=flagged["detector"].map({name: i for i, name in enumerate(NAMES)}))
        .sort_values([*keys, "order"])
        .groupby(keys)["detector"]
        .agg(",".join)
        .rename("agreeing")
        .reset_index()
    )
    out = study.rename(columns={"is_hotspot": "study_hotspot", "note": "study_note"})
    out = out.merge(chosen, on=keys, how="left", validate="one_to_one").merge(agreeing, on=keys, how="left")
    out["detector"] = pd.Series(decider, index=out.index, dtype="str")
    out["is_hotspot"] = out["is_hotspot"].fillna(False).astype(bool)
    out["agreeing"] = out["agreeing"].fillna("").astype("str")
    out["direction"] = out["direction"].fillna("none").astype("str")
    out["severity"] = out["severity"].fillna("none").astype("str")
    decider_note = out["note"].fillna("").astype("str")
    decider_note = decider_note.where(decider_note == "", decider + ": " + decider_note)
    joined = ["; ".join(part for part in pair if part) for pair in zip(out["study_note"], decider_note, strict=True)]
    out["note"] = pd.Series(joined, index=out.index, dtype="str")
    if "driver_anomaly" not in out:  # detections written before the column existed
        out["driver_anomaly"] = ""
    out["driver_anomaly"] = out["driver_anomaly"].fillna("").astype("str")
    if forecasts is not None and len(forecasts):
        parts = forecasts[[*keys, "driver_effect", "forecast_on", "forecast_note"]]
        out = out.merge(parts, on=keys, how="left", validate="one_to_one")
        # A region whose forecaster could not use the driver says so where trained_on is explained.
        fallback = (out["forecast_on"] == "target") & (out["forecast_note"].fillna("") != "")
        reason = out["forecast_note"].fillna("").astype("str")
        model_note = out["model_note"].fillna("").astype("str")
        same = [bool(r) and r in m for r, m in zip(reason, model_note, strict=True)]
        extra = "forecaster on the target's own history: " + reason
        joined = (model_note + "; ").where(model_note != "", "") + extra
        # The same reason as the study model's: say so once.
        joined = joined.where(~pd.Series(same, index=out.index), model_note + " (the forecaster too)")
        out["model_note"] = model_note.where(~fallback, joined)
        out = out.drop(columns="forecast_note")
    else:
        out = out.assign(driver_effect=np.nan, forecast_on="none")
    out["forecast_on"] = out["forecast_on"].fillna("none").astype("str")
    return out[HOTSPOT_COLUMNS].reset_index(drop=True)


def rows_of(index: dict[str, np.ndarray], regions: np.ndarray) -> np.ndarray:
    """Positions (ascending, so in table order) of ``regions``' rows, given a table's ``groupby("region").indices``;
    regions the table does not have add none."""
    found = [index[r] for r in regions if r in index]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.intp)


# -- Prefect task ---------------------------------------------------------------------


STAGE = Stage("extract", __name__)


@task(name="extract", cache_policy=NO_CACHE)
def extract(
    store: ArtifactStore,
    run_date: date,
    predicted: Predicted,
    config: ExtractConfig,
    look_back: int,
    detect: DetectConfig,
    frequency: str = "daily",
    compute: ComputeConfig | None = None,
) -> Extracted:
    """Score the target's predictions with the study's rule and every detector (in region chunks of
    ``compute.regions_per_chunk``, here or on ``compute.dask_address``); write the hotspot table (decided by
    ``detect.decider``), the long detections table and the list of unscored days."""
    from tasks.scaleout import chunk_count, for_each_chunk, region_chunks

    logger = get_run_logger()
    compute = compute or ComputeConfig()

    def compute_stage() -> Extracted:
        frame = store.load_table(predicted.predictions)
        forecasts = store.load_table(predicted.forecasts) if predicted.forecasts else None
        settings = detector_config(detect, config.threshold_pct, frequency)
        study, unscored = extract_hotspots(frame, config.threshold_pct, look_back, settings.period)
        decider = detect.decider_for(frequency)
        study_rows = study.groupby("region", sort=False).indices
        forecast_rows = forecasts.groupby("region", sort=False).indices if forecasts is not None else {}

        def chunk_forecasts(regions: np.ndarray) -> pd.DataFrame | None:
            # The chunk's rows in table order, found once per region instead of scanning the whole table.
            return None if forecasts is None else forecasts.iloc[rows_of(forecast_rows, regions)]

        chunks = (
            (rows, chunk_forecasts(rows["region"].unique())) for rows in region_chunks(frame, compute.regions_per_chunk)
        )
        if compute.dask_address:
            logger.info(
                "extract: scoring %d chunk(s) of regions on Dask at %s",
                chunk_count(frame, compute.regions_per_chunk), compute.dask_address,
            )  # fmt: skip
        no_detections = detect_all(frame.iloc[:0], settings)
        # Written only when there is not one region to score (no chunk): the columns without rows.
        no_verdicts = pd.DataFrame({c: pd.Series(dtype="object") for c in HOTSPOT_COLUMNS})
        tally = {"days": 0, "study": 0}
        severities: Counter[str] = Counter()  # the decider's hotspots by severity
        with (
            store.table_parts("extract", run_date, "detections", no_detections) as out,
            store.table_parts("extract", run_date, "hotspots", no_verdicts) as hotspots,
        ):

            def keep(detections: pd.DataFrame) -> None:
                # A chunk's detections and verdicts go to disk as they arrive: memory holds one chunk's, so the
                # driver's peak does not grow with the hotspot table (one row per region and day).
                out.write(detections)
                regions = detections["region"].unique()
                part = study.iloc[rows_of(study_rows, regions)]
                verdicts = apply_verdicts(part, detections, decider, chunk_forecasts(regions))
                hotspots.write(verdicts)
                tally["days"] += len(verdicts)
                tally["study"] += int(verdicts["study_hotspot"].sum())
                severities.update(verdicts.loc[verdicts["is_hotspot"], "severity"].astype(str))

            score = functools.partial(detect_chunk, config=settings)
            for_each_chunk(score, chunks, compute.dask_address, "extract", keep)
        logger.info(
            "extract: %d days scored, %d days not scored; %s flags %d (%s); the study's rule (deviation > %.1f %%) "
            "flags %d",
            tally["days"], len(unscored), decider, severities.total(),
            ", ".join(f"{n} {level}" for level, n in severities.most_common()) or "none", config.threshold_pct,
            tally["study"],
        )  # fmt: skip
        return Extracted(
            hotspots=hotspots.ref,
            unscored=store.write_table("extract", run_date, "unscored", unscored),
            detections=out.ref,
        )

    return run_stage(
        store, run_date, STAGE, Extracted,
        inputs={"predictions": predicted.predictions, "forecasts": predicted.forecasts},
        settings={"extract": config, "detect": detect, "look_back": look_back, "frequency": frequency},
        compute=compute_stage, logger=logger, extra={"detect_where": compute.dask_address or "in process"},
    )  # fmt: skip
