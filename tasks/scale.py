"""Scale: put each series on a daily calendar and min-max scale it to [0, 1].

Each series (target and driver) gets its own scaler, fitted on that series' observed
history up to the run date; the parameters are saved as JSON and travel with the model.
Missing days stay NaN: nothing is filled in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import SeriesConfig
from tasks.store import ArtifactStore, code_version, fingerprint

SCALED_COLUMNS = ["date", "region", "target", "driver", "target_scaled", "driver_scaled"]


class ScaleError(ValueError):
    """The selected series cannot be scaled (absent region, or no observed value)."""


@dataclass(frozen=True)
class MinMaxScaler:
    """x_scaled = (x - minimum) / (maximum - minimum); a constant series maps to 0."""

    minimum: float
    maximum: float

    @property
    def span(self) -> float:
        # A constant series would divide by zero; any positive span maps it to 0.
        return self.maximum - self.minimum if self.maximum > self.minimum else 1.0

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(n,) counts -> (n,) scaled values; NaN stays NaN."""
        return (np.asarray(values, dtype="float64") - self.minimum) / self.span

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """(n,) scaled values -> (n,) counts."""
        return np.asarray(scaled, dtype="float64") * self.span + self.minimum

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def fit_minmax(values: np.ndarray) -> MinMaxScaler:
    """Fit on the observed (non-NaN) values of a (n,) array."""
    observed = np.asarray(values, dtype="float64")
    observed = observed[~np.isnan(observed)]
    if observed.size == 0:
        raise ScaleError("series has no observed value to fit a scaler on")
    return MinMaxScaler(float(observed.min()), float(observed.max()))


def to_daily_calendar(valid: pd.DataFrame, region: str, series: SeriesConfig) -> pd.DataFrame:
    """One region's rows -> a gap-explicit daily frame with columns date, region, target, driver.

    Days absent from the input appear with NaN counts, so windows can see the gap.
    """
    rows = valid[valid["region"] == region]
    if rows.empty:
        known = ", ".join(sorted(valid["region"].astype(str).unique())[:10])
        raise ScaleError(f"region {region!r} not in the data (regions: {known})")
    calendar = pd.date_range(rows["date"].min(), rows["date"].max(), freq="D", unit="us")
    indexed = rows.set_index("date")
    daily = pd.DataFrame({"date": calendar, "region": region})
    daily["target"] = indexed[series.target].reindex(calendar).to_numpy(dtype="float64", na_value=np.nan)
    daily["driver"] = indexed[series.driver].reindex(calendar).to_numpy(dtype="float64", na_value=np.nan)
    return daily


def scale_series(valid: pd.DataFrame, series: SeriesConfig) -> tuple[pd.DataFrame, dict[str, MinMaxScaler]]:
    """Validated table -> (scaled daily frame with SCALED_COLUMNS, {"target": ..., "driver": ...})."""
    daily = to_daily_calendar(valid, series.region, series)
    scalers = {role: fit_minmax(daily[role].to_numpy()) for role in ("target", "driver")}
    for role, scaler in scalers.items():
        daily[f"{role}_scaled"] = scaler.transform(daily[role].to_numpy())
    return daily[SCALED_COLUMNS], scalers


def scalers_from_dict(payload: dict[str, dict[str, float]]) -> dict[str, MinMaxScaler]:
    """Inverse of ``{role: scaler.to_dict()}`` as saved in scaler.json."""
    return {role: MinMaxScaler(**params) for role, params in payload.items()}


# -- Prefect task ---------------------------------------------------------------------


@task(name="scale", cache_policy=NO_CACHE)
def scale(store: ArtifactStore, run_date: date, valid: dict, series: SeriesConfig) -> dict:
    """Read the validated table, write the scaled daily series and the scaler parameters."""
    logger = get_run_logger()
    key = fingerprint(stage="scale", valid=valid["sha256"], series=series.model_dump(), code=code_version(__file__))
    if (hit := store.reuse("scale", run_date, key)) is not None:
        logger.info("scale: skipped, same validated rows as run date %s", hit["reused_from"])
        return hit["outputs"] | {"status": f"skipped (same as {hit['reused_from']})"}
    table = store.load_table(valid)
    scaled, scalers = scale_series(table, series)
    scaled_ref = store.write_table("scale", run_date, "scaled", scaled)
    scaler_ref = store.write_json("scale", run_date, "scaler", {role: s.to_dict() for role, s in scalers.items()})
    outputs = {"scaled": scaled_ref.to_dict(), "scaler": scaler_ref.to_dict()}
    store.write_manifest("scale", run_date, {"fingerprint": key, "outputs": outputs})
    logger.info(
        "scale: read %d validated rows; region %s -> %d calendar days (%d target, %d driver days missing); %s",
        len(table),
        series.region,
        len(scaled),
        scaled["target"].isna().sum(),
        scaled["driver"].isna().sum(),
        {role: s.to_dict() for role, s in scalers.items()},
    )
    return outputs | {"status": "ran"}
