"""Scale: put each region's series on a calendar of its periods (days or weeks) and min-max scale it to [0, 1].

Each region's target and driver get their own scaler, fitted on that series' observed
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

from tasks.calendar import STEP_DAYS, infer_frequency
from tasks.config import SeriesConfig
from tasks.results import Scaled, Validated
from tasks.schemas import SCALED_COLUMNS
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore


class ScaleError(ValueError):
    """The selected series cannot be scaled (a selected region is not in the data, or a series has no value)."""


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


def to_calendar(
    valid: pd.DataFrame, regions: list[str], series: SeriesConfig, frequency: str = "daily"
) -> pd.DataFrame:
    """Validated rows (one per region and date) -> a gap-explicit frame of periods (date, region, target,
    driver), sorted by region and date.

    Each region spans its own first..last period, one row per day (daily) or per week (weekly, the
    region's weekday); periods absent from the input appear with NaN counts, so windows can see the gap.
    """
    step = STEP_DAYS[frequency]
    rows = valid.loc[valid["region"].isin(regions), ["region", "date", series.target, series.driver]]
    rows = rows.rename(columns={series.target: "target", series.driver: "driver"})
    span = rows.groupby("region", sort=True)["date"].agg(["min", "max"])
    periods = ((span["max"] - span["min"]).dt.days // step + 1).to_numpy()
    starts = np.repeat(span["min"].to_numpy(), periods)
    offsets = (np.arange(periods.sum()) - np.repeat(np.cumsum(periods) - periods, periods)) * step
    frame = pd.DataFrame(
        {
            "date": (starts + offsets.astype("timedelta64[D]")).astype("datetime64[us]"),
            "region": pd.Series(np.repeat(span.index.to_numpy(), periods), dtype="str"),
        }
    )
    out = frame.merge(rows, on=["region", "date"], how="left", validate="one_to_one")
    for role in ("target", "driver"):
        out[role] = out[role].to_numpy(dtype="float64", na_value=np.nan)
    return out[["date", "region", "target", "driver"]]


def fit_scalers(daily: pd.DataFrame) -> dict[str, dict[str, MinMaxScaler | None]]:
    """Daily frame -> {region: {"target": scaler, "driver": scaler}}; None for a role with no observed value."""
    out: dict[str, dict[str, MinMaxScaler | None]] = {}
    for region, group in daily.groupby("region", sort=True):
        out[str(region)] = {}
        for role in ("target", "driver"):
            values = group[role].to_numpy()
            out[str(region)][role] = fit_minmax(values) if np.isfinite(values).any() else None
    return out


def scaler_arrays(
    regions: pd.Series, scalers: dict[str, dict[str, MinMaxScaler | None]], role: str
) -> tuple[np.ndarray, np.ndarray]:
    """(N,) region of each row -> ((N,) minimum, (N,) span) of that region's ``role`` scaler; NaN without one."""
    low = regions.map({r: s[role].minimum if s[role] else np.nan for r, s in scalers.items()})
    span = regions.map({r: s[role].span if s[role] else np.nan for r, s in scalers.items()})
    return low.to_numpy(dtype="float64"), span.to_numpy(dtype="float64")


def scale_series(
    valid: pd.DataFrame, series: SeriesConfig, frequency: str = "daily"
) -> tuple[pd.DataFrame, dict[str, dict[str, MinMaxScaler | None]]]:
    """Validated table -> (scaled daily frame with SCALED_COLUMNS, per-region scalers as :func:`fit_scalers`).

    Every selected region is scaled on its own history; a role with no observed value stays NaN.
    """
    try:
        regions = series.regions(sorted(valid["region"].astype("str").unique()))
    except ValueError as exc:
        raise ScaleError(str(exc)) from exc
    daily = to_calendar(valid, regions, series, frequency)
    scalers = fit_scalers(daily)
    for role in ("target", "driver"):
        low, span = scaler_arrays(daily["region"], scalers, role)
        daily[f"{role}_scaled"] = (daily[role].to_numpy() - low) / span
    return daily[SCALED_COLUMNS], scalers


def scalers_to_dict(scalers: dict[str, dict[str, MinMaxScaler | None]]) -> dict[str, dict[str, dict | None]]:
    """Per-region scalers -> JSON-ready {region: {role: {"minimum", "maximum"} or None}} (scaler.json)."""
    return {
        region: {role: scaler.to_dict() if scaler else None for role, scaler in roles.items()}
        for region, roles in scalers.items()
    }


def scalers_from_dict(payload: dict[str, dict[str, dict | None]]) -> dict[str, dict[str, MinMaxScaler | None]]:
    """Inverse of :func:`scalers_to_dict`."""
    return {
        region: {role: MinMaxScaler(**params) if params else None for role, params in roles.items()}
        for region, roles in payload.items()
    }


# -- Prefect task ---------------------------------------------------------------------

STAGE = Stage("scale", __name__)


@task(name="scale", cache_policy=NO_CACHE)
def scale(store: ArtifactStore, run_date: date, validated: Validated, series: SeriesConfig) -> Scaled:
    """Read the validated table, write the scaled daily series and the scaler parameters."""
    logger = get_run_logger()

    def compute() -> Scaled:
        table = store.load_table(validated.valid)
        # Validation found the frequency (and refused mixed dates); a result from before it did is inferred again.
        frequency = validated.summary.get("frequency") or infer_frequency(table, series.frequency)
        scaled, scalers = scale_series(table, series, frequency)
        result = Scaled(
            scaled=store.write_table("scale", run_date, "scaled", scaled),
            scaler=store.write_json("scale", run_date, "scaler", scalers_to_dict(scalers)),
            frequency=frequency,
        )
        no_driver = sorted(region for region, roles in scalers.items() if roles["driver"] is None)
        logger.info(
            "scale: read %d validated rows; %s data; %d region(s) -> %d region-periods (%d target, %d driver values "
            "missing)%s",
            len(table), frequency, len(scalers), len(scaled), scaled["target"].isna().sum(),
            scaled["driver"].isna().sum(),
            f"; no driver value at all in {', '.join(no_driver[:10])}" if no_driver else "",
        )  # fmt: skip
        if len(scalers) == 1:
            logger.info("scale: scalers %s", scalers_to_dict(scalers))
        return result

    return run_stage(
        store, run_date, STAGE, Scaled,
        inputs={"valid": validated.valid}, settings={"series": series}, compute=compute, logger=logger,
    )  # fmt: skip
