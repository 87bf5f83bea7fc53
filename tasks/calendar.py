"""Periods: daily or weekly series, inferred from the dates, and the calendars and labels that go with them.

A weekly series has every date on the same weekday, 7 days apart (gaps allowed); a daily series is one row
per day (gaps allowed). Every stage after scale works in periods of the series' frequency: windows,
baselines, guard bands and calibration windows count periods, and a missing period is a NaN row.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pandas as pd

Frequency = Literal["daily", "weekly"]
STEP_DAYS: dict[str, int] = {"daily": 1, "weekly": 7}
PERIOD_NAME: dict[str, str] = {"daily": "day", "weekly": "week"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class FrequencyError(ValueError):
    """The dates are neither daily nor weekly (one line names the offending dates)."""


def _iso_week(day: pd.Timestamp) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _stray_dates(region: str, dates: pd.DatetimeIndex, weekday: int) -> str:
    """Why a region's dates are not weekly on ``weekday``: a week given twice, or dates on other weekdays."""
    stray = dates[dates.day_of_week != weekday]
    weeks: dict[str, list[pd.Timestamp]] = {}
    for day in dates:
        weeks.setdefault(_iso_week(day), []).append(day)
    twice = {week: days for week, days in weeks.items() if len(days) > 1}
    if twice:
        week, days = next(iter(twice.items()))
        shown = " and ".join(f"{d:%Y-%m-%d}" for d in days)
        more = f" ({len(twice) - 1} more week(s) like it)" if len(twice) > 1 else ""
        return f"week {week} of region {region} is given twice: {shown}{more}"
    shown = ", ".join(f"{d:%Y-%m-%d} ({WEEKDAYS[d.weekday()]})" for d in stray[:5])
    more = f" and {len(stray) - 5} more" if len(stray) > 5 else ""
    return f"region {region} is weekly on {WEEKDAYS[weekday]}s but has dates on other weekdays: {shown}{more}"


def infer_frequency(valid: pd.DataFrame, declared: str = "auto") -> Frequency:
    """The frequency of a validated table (region, date) -> "daily" or "weekly"; FrequencyError names the
    offending dates when ``declared`` (or, for "auto", the dates themselves) says weekly and they are not.

    "auto": weekly when every region's dates share one weekday and are at least 7 days apart; daily when the
    series have consecutive days. Dates that mostly (3 in 4 or more) fall on one weekday but not all are
    refused: they are a weekly series with stray dates (or a week given twice), and neither reading would be
    right.
    """
    if declared == "daily":
        return "daily"
    per_region = {
        str(region): pd.DatetimeIndex(sorted(set(dates))) for region, dates in valid.groupby("region")["date"]
    }
    problems, steps = [], []
    for region, dates in per_region.items():
        if len(dates) < 2:
            continue
        gaps = np.diff(dates.to_numpy()).astype("timedelta64[D]").astype(int)
        steps.extend(gaps.tolist())
        weekday, count = Counter(dates.day_of_week).most_common(1)[0]
        # Most dates on one weekday: a weekly series (a daily one spreads its dates over the week).
        weekly_like = len(dates) >= 3 and count / len(dates) >= 0.75
        if (declared == "weekly" or weekly_like) and (dates.day_of_week != weekday).any():
            problems.append(_stray_dates(region, dates, weekday))
    if problems:
        more = f" (and {len(problems) - 1} more region(s))" if len(problems) > 1 else ""
        raise FrequencyError(
            f"the dates are neither daily nor weekly: {problems[0]}{more}; fix the dates, or set "
            "series.frequency = daily"
        )
    if declared == "weekly":
        return "weekly"
    if steps and min(steps) >= 7 and all(step % 7 == 0 for step in steps):
        return "weekly"
    return "daily"


def calendar(first: pd.Timestamp, last: pd.Timestamp, frequency: str) -> pd.DatetimeIndex:
    """Every period from ``first`` to ``last`` (both included), a step of one day or one week, datetime64[us]."""
    return pd.date_range(first, last, freq=f"{STEP_DAYS[frequency]}D", unit="us")


def period_labels(dates: pd.Series, frequency: str) -> pd.Series:
    """``(N,)`` period start dates -> labels: the ISO week ("2024-W07") for weekly data, the date for daily."""
    if frequency == "weekly":
        iso = dates.dt.isocalendar()
        return (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).astype("str")
    return dates.dt.strftime("%Y-%m-%d").astype("str")


def frequency_of(dates: pd.Series | pd.DatetimeIndex) -> Frequency:
    """The frequency of one regular series (consecutive periods, as scale writes them): weekly if 7 days apart."""
    values = pd.DatetimeIndex(dates)
    if len(values) > 1 and int((values[1] - values[0]).days) == 7:
        return "weekly"
    return "daily"
