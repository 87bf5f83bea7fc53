"""The detectors' shared interface: their input, their output schema, their settings.

Every detector scores one series and returns one row per date:

* input (:class:`Series`): a validated frame of ``date`` (consecutive days, ascending), ``actual`` (float
  counts of the target, NaN = no published figure) and ``driver`` (float, NaN allowed); missing days are
  rows with NaN, never absent rows, so that "the previous 7 days" means 7 calendar days. Detectors that
  need one also get ``forecast``, a ``(T,)`` array of expected target counts aligned with the frame;
* output: the columns of :data:`OUTPUT_COLUMNS`:

=============  ==========================================================================
``date``       the day scored
``detector``   registry name
``actual``     observed count (NaN when not published)
``expected``   the detector's expectation for the day (forecast, baseline mean, ...)
``lower``      lower edge of the band whose crossing makes a hotspot (NaN for one-sided rules)
``upper``      upper edge of that band
``score``      the detector's statistic; its meaning per detector is in the registry (``score``).
               Larger = more surprising on the high side for every detector except ``seed``,
               whose score is the unsigned relative deviation of the study.
``p_value``    p-value of the alert decision where the detector has one, else NaN
``p_surge``    one-sided P(Y >= actual) under the predictive distribution (calibrated only)
``p_drop``     one-sided P(Y <= actual) under the predictive distribution (calibrated only)
``direction``  "surge" / "drop" for a warning or alarm, else "none"
``severity``   "alarm" / "warning" / "none" (ESSENCE-like red / yellow by default)
``is_hotspot`` bool; False on every day that could not be scored
``guard_blocked`` bool; True when the small-count guard suppressed a warning or alarm
``note``       "" or a plain-language reason: why the day could not be scored, why an alert
               was suppressed, or that a negative forecast was clipped
=============  ==========================================================================

Days that cannot be scored (too little history, a gap in the window, no forecast, no observed
count) keep NaN statistics, severity "none", ``is_hotspot=False`` and a ``note``; no value is
ever filled in. A detector module computes ``(T,)`` arrays per column (:func:`blank` gives the
unscored defaults); :func:`long_frame` assembles the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field

from tasks.config import DetectConfig
from tasks.schemas import DETECTOR_OUTPUT_COLUMNS

OUTPUT_COLUMNS: list[str] = DETECTOR_OUTPUT_COLUMNS

_TEXT_DTYPE = pd.Series(["seed"]).dtype
"""The dtype of a pandas column built from a string scalar or strings (``str`` in pandas 3, object before)."""

Calibration = tuple[np.ndarray, np.ndarray]
"""Older (actual, forecast) pairs, each ``(P,)``, from before the frame's first day.

They are treated as days that precede the series (oldest first) and enter the rolling
dispersion window like any past day, so that the first days of a short series can already be
scored. They must not overlap the frame's dates (that would be look-ahead)."""


class DetectorConfig(DetectConfig):
    """Every tunable of the detectors: the pipeline's :class:`~tasks.config.DetectConfig` plus the study's threshold.

    In the pipeline the threshold comes from ``extract.threshold_pct`` (see :func:`detector_config`),
    so the study's rule has one setting, not two.
    """

    seed_threshold_pct: float = Field(
        default=10.0,
        description="Reference study rule: hotspot iff |actual - predicted| / actual x 100 exceeds this (strictly).",
        ge=0,
    )
    period: Literal["day", "week"] = Field(
        default="day",
        description="The series' period (set from the data's frequency): every window, baseline and guard band of "
        "the detectors counts these, and their notes name them.",
    )


def detector_config(detect: DetectConfig, threshold_pct: float, frequency: str = "daily") -> DetectorConfig:
    """The detectors' settings for a pipeline run: ``detect`` plus the study threshold ``extract.threshold_pct``
    and the period of the data (``frequency``: daily or weekly)."""
    return DetectorConfig(
        **detect.model_dump(), seed_threshold_pct=threshold_pct, period="week" if frequency == "weekly" else "day"
    )


@dataclass
class Series:
    """One validated series and what the detectors scoring it share.

    data: ``(T, 3)`` date, actual, driver (see :func:`validate_frame`); forecast: ``(T,)`` the study LSTM's
    forecast or None; calibration: older (actual, forecast) pairs for the LSTM-based detectors (see
    :data:`Calibration`); ensemble: the driver-conditioned forecaster's ``(T,)`` mean and ``(T,)`` member
    spread in counts (tasks/forecast.py), or None; shared: values several detectors need, computed once per
    series (e.g. a predictive distribution).
    """

    data: pd.DataFrame
    forecast: np.ndarray | None = None
    calibration: Calibration | None = None
    ensemble: tuple[np.ndarray, np.ndarray] | None = None
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def actual(self) -> np.ndarray:
        """``(T,)`` observed counts."""
        return self.data["actual"].to_numpy()

    def forecast_for(self, name: str) -> np.ndarray:
        """The ``(T,)`` forecast, checked; ``name`` (the detector needing it) is named in the error."""
        return as_forecast(self.forecast, len(self.data), name)

    def ensemble_for(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``(T,)`` ensemble mean and spread, checked; ``name`` (the detector needing them) is named in errors."""
        if self.ensemble is None:
            raise ValueError(f"detector {name!r} needs the forecaster's ensemble forecast (mean and spread)")
        mean, spread = self.ensemble
        return as_forecast(mean, len(self.data), name), as_forecast(spread, len(self.data), name)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for on this series, the same value afterwards."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` (date, actual, driver) and return a copy with float columns.

    Raises ValueError when a column is absent, when dates are not strictly consecutive periods (days, or
    weeks: 7 days apart; missing periods must be NaN rows, otherwise window lengths would silently change),
    or when a count is negative.
    """
    missing = {"date", "actual", "driver"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame lacks column(s): {sorted(missing)}")
    out = frame[["date", "actual", "driver"]].reset_index(drop=True).copy()
    out["date"] = pd.to_datetime(out["date"])
    if len(out) > 1:
        steps = out["date"].diff().iloc[1:]
        if not ((steps == pd.Timedelta(days=1)).all() or (steps == pd.Timedelta(days=7)).all()):
            raise ValueError(
                "dates must be consecutive days (or weeks) in ascending order; encode missing periods as NaN rows"
            )
    for column in ("actual", "driver"):
        out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
        if (out[column] < 0).any():
            raise ValueError(f"{column} has negative counts")
    return out


def as_forecast(forecast: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if forecast is None:
        raise ValueError(f"detector {name!r} needs a forecast array")
    values = np.asarray(forecast, dtype="float64").reshape(-1)
    if values.shape != (n,):
        raise ValueError(f"forecast has {values.shape[0]} values for {n} dates")
    return values


def blank(n: int) -> dict[str, np.ndarray]:
    """Per-column arrays for T days, all 'not scored'."""
    nan = np.full(n, np.nan)
    return {
        "expected": nan.copy(),
        "lower": nan.copy(),
        "upper": nan.copy(),
        "score": nan.copy(),
        "p_value": nan.copy(),
        "p_surge": nan.copy(),
        "p_drop": nan.copy(),
        "direction": np.full(n, "none", dtype=object),
        "severity": np.full(n, "none", dtype=object),
        "is_hotspot": np.zeros(n, dtype=bool),
        "guard_blocked": np.zeros(n, dtype=bool),
        "note": np.full(n, "", dtype=object),
    }


def finish(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Final ``(T,)`` columns of one detector: whatever it computed, an unscored day never carries an alert."""
    unscored = ~np.isfinite(np.asarray(cols["score"], dtype="float64"))
    out = dict(cols)
    for key in ("direction", "severity"):
        values = np.array(cols[key], dtype=object)  # a copy: the detector's arrays stay untouched
        values[unscored] = "none"
        out[key] = values
    out["is_hotspot"] = np.asarray(cols["is_hotspot"]).astype(bool) & ~unscored
    out["guard_blocked"] = np.asarray(cols["guard_blocked"]).astype(bool)
    return out


def long_frame(data: pd.DataFrame, parts: list[tuple[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """``(len(parts) x T, len(OUTPUT_COLUMNS))`` frame from each detector's ``(T,)`` columns, built in one go.

    One DataFrame construction instead of one per detector plus a concat: pandas' per-column overhead
    dominated the detectors' run time. Same columns and dtypes as concatenating per-detector frames.
    """
    finished = [(name, finish(cols)) for name, cols in parts]
    n, k = len(data), len(finished)
    columns: dict[str, Any] = {
        "date": np.tile(data["date"].to_numpy(), k),
        # The dtype pandas infers for a column of strings, also when T = 0 (an empty object array would stay object).
        "detector": pd.array(np.repeat(np.array([name for name, _ in finished], dtype=object), n), dtype=_TEXT_DTYPE),
        "actual": np.tile(data["actual"].to_numpy(), k),
    }
    for key in OUTPUT_COLUMNS[3:]:
        columns[key] = np.concatenate([cols[key] for _, cols in finished])
    return pd.DataFrame(columns)


def join_notes(*parts: np.ndarray) -> np.ndarray:
    """Element-wise '; '-join of non-empty note strings."""
    n = len(parts[0])
    if any(len(part) != n for part in parts):
        raise ValueError("note arrays differ in length")
    columns = [np.asarray(part, dtype=object) for part in parts]
    # Most days have no note at all: join only on the days where some part is non-empty.
    noted = np.zeros(n, dtype=bool)
    for column in columns:
        noted |= column.astype(bool)
    joined = np.full(n, "", dtype=object)
    for i in np.flatnonzero(noted):
        joined[i] = "; ".join(item for item in (column[i] for column in columns) if item)
    return joined


def lagged_windows(values: np.ndarray, window: int, lag: int) -> np.ndarray:
    """``(T,)`` -> ``(T, window)``: row t holds values[t-lag-window : t-lag] (NaN before the start)."""
    padded = np.concatenate([np.full(window + lag, np.nan), values])
    return sliding_window_view(padded, window)[: values.shape[0]]


def rolling_past_sum(values: np.ndarray, window: int) -> np.ndarray:
    """``(T,)`` -> ``(T,)`` sum of values[t-window : t] (days before t only); NaN counts as 0."""
    csum = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(values), values, 0.0))])
    idx = np.arange(values.shape[0])
    return csum[idx] - csum[np.maximum(idx - window, 0)]
