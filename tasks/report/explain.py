"""Why a day is (or is not) a hotspot: the explanation ``hotspot explain`` prints, from the report's tables.

:func:`explain` describes one day of one series from every detector's rows: actual against expected,
the band, the p-value, which detectors agree, and what the driver did over the same days. The report
side (:func:`explanation`) adds the verdict the report recorded and the study's own rule.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from tasks.calendar import PERIOD_NAME, frequency_of
from tasks.detectors.schema import validate_frame
from tasks.report.table import PRIMARY_REGION
from tasks.schemas import DRIVER_DETECTOR


class ExplainError(ValueError):
    """The day or region asked for is not in the report (one line says what is)."""


def _num(value: Any) -> float | None:
    value = float(value) if value is not None and not pd.isna(value) else None
    return value


def _endpoint_values(
    values: np.ndarray, dates: pd.Series, start: int, end: int
) -> tuple[int | None, int | None, list[str]]:
    """First and last observed index in [start, end] and the dates missing in between."""
    observed = [i for i in range(start, end + 1) if np.isfinite(values[i])]
    missing = [dates.iloc[i].date().isoformat() for i in range(start, end + 1) if not np.isfinite(values[i])]
    if len(observed) < 2:
        return None, None, missing
    return observed[0], observed[-1], missing


def _movement(change: float, base: float, flat_pct: float, min_abs: float) -> str:
    pct = 100.0 * change / max(base, 1.0)
    if abs(pct) < flat_pct or abs(change) < min_abs:
        return "flat"
    return "up" if change > 0 else "down"


def explain(
    day_rows: pd.DataFrame,
    frame: pd.DataFrame,
    date: Any,
    *,
    window_days: int = 3,
    flat_pct: float = 10.0,
    min_abs_change: float = 3.0,
    primary: str | None = None,
) -> dict[str, Any]:
    """Explain one day: actual vs expected, band, p-value/score, agreement, and the driver's behaviour.

    Args:
        day_rows: output rows of :func:`run_detectors` (all days or just this one).
        frame: the series (date, actual, driver) the rows were computed on.
        date: the day to explain (anything ``pd.Timestamp`` accepts).
        window_days: span of the target-vs-driver comparison (change from t - window_days to t).
        flat_pct, min_abs_change: a series "moved" when its change is at least flat_pct percent
            (of max(start, 1)) and at least min_abs_change cases.
        primary: detector for the headline (the one that decides hotspots); default as below.

    Returns:
        dict with ``date``, ``actual``, ``detectors`` (one dict per detector row), ``agreeing``
        (detectors that flag the day), ``n_scored``, ``primary`` (detector used for the
        headline: ``primary`` if given, else lstm_calibrated, else naive_calibrated, else the first
        flagging one, else the first row), ``direction`` (majority of flagging detectors; "mixed" on a tie),
        ``target_change`` and ``driver_change`` (dicts or None), ``driver_behaviour`` (a short
        label) and ``text`` (one plain-language paragraph).
        A missing driver value at an end of the window is replaced by the nearest observed day
        inside the window, and the dates used are reported; nothing is interpolated.
    """
    day = pd.Timestamp(date)
    data = validate_frame(frame)
    rows = day_rows[pd.to_datetime(day_rows["date"]) == day]
    if rows.empty:
        raise ValueError(f"no detector rows for {day.date()}")
    positions = np.flatnonzero(data["date"].to_numpy() == np.datetime64(day))
    if positions.size == 0:
        raise ValueError(f"{day.date()} is not in the frame")
    t = int(positions[0])
    detectors = []
    for _, row in rows.iterrows():
        detectors.append(
            {
                "detector": row["detector"],
                "expected": _num(row["expected"]),
                "lower": _num(row["lower"]),
                "upper": _num(row["upper"]),
                "score": _num(row["score"]),
                "p_value": _num(row["p_value"]),
                "direction": row["direction"],
                "severity": row["severity"],
                "is_hotspot": bool(row["is_hotspot"]),
                "note": row["note"],
            }
        )
    agreeing = [d["detector"] for d in detectors if d["is_hotspot"]]
    scored = [d for d in detectors if d["score"] is not None]
    by_name = {d["detector"]: d for d in detectors}
    if primary is not None and primary not in by_name:
        raise ValueError(f"no rows of detector {primary!r} for {day.date()}")
    preferred = (primary,) if primary is not None else ("lstm_calibrated", "naive_calibrated")
    chosen = next(
        (by_name[n] for n in preferred if n in by_name),
        next((d for d in detectors if d["is_hotspot"]), detectors[0]),
    )
    directions = [d["direction"] for d in detectors if d["is_hotspot"] and d["direction"] != "none"]
    if directions:
        # Majority of the flagging detectors; a tie between surge and drop is reported as "mixed".
        top = max(directions.count("surge"), directions.count("drop"))
        winners = sorted({d for d in directions if directions.count(d) == top})
        direction = winners[0] if len(winners) == 1 else "mixed"
    else:
        direction = chosen["direction"]

    actual = data["actual"].to_numpy()
    driver = data["driver"].to_numpy()
    start = max(0, t - window_days)
    changes: dict[str, dict[str, Any] | None] = {}
    moves: dict[str, str | None] = {}
    for label, values in (("target", actual), ("driver", driver)):
        first, last, missing = _endpoint_values(values, data["date"], start, t)
        if first is None or last is None:
            changes[label], moves[label] = None, None
            continue
        change = float(values[last] - values[first])
        changes[label] = {
            "from_date": data["date"].iloc[first].date().isoformat(),
            "to_date": data["date"].iloc[last].date().isoformat(),
            "from": float(values[first]),
            "to": float(values[last]),
            "change": change,
            "pct": 100.0 * change / max(float(values[first]), 1.0),
            "missing_dates": missing,
        }
        moves[label] = _movement(change, float(values[first]), flat_pct, min_abs_change)

    tm, dm = moves["target"], moves["driver"]
    if dm is None:
        behaviour = "no driver given" if not np.isfinite(driver).any() else "driver not available"
    elif tm == "up":
        behaviour = {"up": "driver also rising", "down": "driver falling while target rose"}.get(
            dm, "target moved alone"
        )
    elif tm == "down":
        behaviour = {"down": "driver also falling", "up": "driver rising while target fell"}.get(
            dm, "target moved alone"
        )
    elif tm == "flat":
        behaviour = {"up": "driver rising, target flat", "down": "driver falling, target flat"}.get(
            dm, "target and driver both flat"
        )
    else:
        behaviour = "target change not available"

    unit = PERIOD_NAME[frequency_of(data["date"])]
    text = _explain_text(day, actual[t], chosen, direction, agreeing, scored, changes, behaviour, window_days)
    if unit != "day":  # the same sentences, in weeks
        text = (
            text.replace(" days", f" {unit}s").replace("this day", f"this {unit}").replace("the day ", f"the {unit} ")
        )
    return {
        "date": day.date().isoformat(),
        "actual": _num(actual[t]),
        "detectors": detectors,
        "agreeing": agreeing,
        "n_scored": len(scored),
        "primary": chosen["detector"],
        "direction": direction,
        "target_change": changes["target"],
        "driver_change": changes["driver"],
        "driver_behaviour": behaviour,
        "text": text,
    }


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _explain_text(
    day: pd.Timestamp,
    actual: float,
    primary: dict[str, Any],
    direction: str,
    agreeing: list[str],
    scored: list[dict[str, Any]],
    changes: dict[str, dict[str, Any] | None],
    behaviour: str,
    window_days: int,
) -> str:
    parts = []
    when = day.date().isoformat()
    if not np.isfinite(actual):
        parts.append(f"No count was published for {when}, so the day could not be judged.")
    else:
        one = actual == 1
        line = f"On {when} there {'was' if one else 'were'} {_fmt(float(actual))} case{'' if one else 's'}"
        if primary["expected"] is not None:
            line += f" against an expected {_fmt(primary['expected'], 1)} ({primary['detector']}"
            given = " given the previous days" if primary["detector"].endswith("_ewma") else ""
            if primary["lower"] is not None and primary["upper"] is not None:
                line += f", plausible range {_fmt(primary['lower'])} to {_fmt(primary['upper'])}{given}"
            elif primary["upper"] is not None:
                line += f", alert level above {_fmt(primary['upper'], 1)}{given}"
            line += ")"
        parts.append(line + ".")
        if primary["p_value"] is not None:
            if primary["severity"] != "none":
                level = "an alarm" if primary["severity"] == "alarm" else "a warning"
                model = (
                    "Weighing this day with the previous ones (EWMA of the calibrated count model's z)"
                    if primary["detector"].endswith("_ewma")
                    else "Under the calibrated count model"
                )
                parts.append(
                    f"{model} this is a {primary['direction']} with p = "
                    f"{primary['p_value']:.2g} ({primary['detector']}'s test): {level}."
                )
            else:
                parts.append(f"That is within normal variation (p = {primary['p_value']:.2g}).")
        elif primary["score"] is not None:
            parts.append(f"The {primary['detector']} score is {primary['score']:.2f}.")
        if primary["note"]:
            parts.append(f"Note: {primary['note']}.")
    if scored:
        if agreeing:
            parts.append(
                f"{len(agreeing)} of {len(scored)} detectors that could score this day flag it "
                f"({', '.join(agreeing)}); the flagged direction is {direction}."
            )
        else:
            parts.append(f"None of the {len(scored)} detectors that could score this day flags it.")
    target, driver = changes["target"], changes["driver"]
    if target is not None:
        sentence = (
            f"Over the last {window_days} days the target went from {_fmt(target['from'])} to {_fmt(target['to'])} "
            f"({target['pct']:+.0f} %)"
        )
        if driver is not None:
            sentence += (
                f" while the driver went from {_fmt(driver['from'])} to {_fmt(driver['to'])} ({driver['pct']:+.0f} %"
                f", {driver['from_date']} to {driver['to_date']})"
            )
        parts.append(sentence + ".")
    reading = {
        "driver also rising": "the driver also rose, so the rise may reflect wider transmission rather than a "
        "target-specific event",
        "driver also falling": "the driver fell as well, so the fall looks like a general decline",
        "target moved alone": "the driver did not move, so the change is specific to the target series (a local "
        "cluster, or a reporting artefact worth checking)",
        "driver falling while target rose": "the driver fell while the target rose, which the driver does not explain",
        "driver rising while target fell": "the driver rose while the target fell, which the driver does not explain",
        "driver not available": "the driver was not published on enough days of this window to compare",
        "no driver given": "no driver series was given, so the forecast rests on the target's own history",
        "driver rising, target flat": "the driver rose while the target stayed flat; if the driver leads, the "
        "target may follow in the next days",
        "driver falling, target flat": "the driver fell while the target stayed flat",
        "target and driver both flat": "neither the target nor the driver moved much over the window",
        "target change not available": "the target was not published on enough days of this window to compare",
    }[behaviour]
    parts.append(reading[0].upper() + reading[1:] + ".")
    if driver is not None and driver["missing_dates"]:
        parts.append(f"Driver figures missing on {', '.join(driver['missing_dates'])} (not filled in).")
    return " ".join(parts)


def pick_region(table: pd.DataFrame, region: str | None) -> str:
    """The region asked for; without one, the only region, else the national series (CN) if present."""
    regions = sorted(table["region"].unique())
    if region is not None:
        if region not in regions:
            raise ExplainError(f"region {region!r} is not in the report (regions: {', '.join(regions) or 'none'})")
        return region
    if len(regions) == 1:
        return regions[0]
    if PRIMARY_REGION in regions:
        return PRIMARY_REGION
    raise ExplainError(f"the report has several regions ({', '.join(regions[:12])} ...); choose one with --region")


def explanation(report: pd.DataFrame, detections: pd.DataFrame, day: date, region: str | None) -> dict[str, Any]:
    """The explanation of one reported day: the report row's verdict plus :func:`tasks.detectors.explain`."""
    region = pick_region(report, region)
    when = pd.Timestamp(day)
    row = report[(report["region"] == region) & (report["date"] == when)]
    if row.empty:
        scored = report.loc[report["region"] == region, "date"]
        span = f"{scored.min():%Y-%m-%d}..{scored.max():%Y-%m-%d}" if len(scored) else "none"
        raise ExplainError(f"{day.isoformat()} is not a scored day of the report for {region} (scored days: {span})")
    verdict = row.iloc[0]
    rows = detections[detections["region"] == region]
    first = rows[rows["detector"] == rows["detector"].iloc[0]]
    frame = first[["date", "actual", "driver"]].sort_values("date").reset_index(drop=True)
    info = explain(rows, frame, when, primary=str(verdict["detector"]))
    study = {
        "predicted": float(verdict["predicted"]),
        "deviation_pct": None if pd.isna(verdict["deviation_pct"]) else float(verdict["deviation_pct"]),
        "study_hotspot": bool(verdict["study_hotspot"]),
    }
    forecaster = _forecaster(verdict)
    info["text"] = " ".join([info["text"], *([forecaster["text"]] if forecaster["text"] else [])])
    return {
        "region": region,
        "forecaster": forecaster,
        "is_hotspot": bool(verdict["is_hotspot"]),
        "decider": str(verdict["detector"]),
        "severity": str(verdict["severity"]),
        "study": study,
    } | info


def _forecaster(verdict: pd.Series) -> dict[str, Any]:
    """What the driver did on the day: the forecaster's inputs, the driver's contribution, the driver's own alarm.

    Reads the report row's DRIVER_COLUMNS (absent in reports written before them: everything None).
    """
    on = str(verdict.get("forecast_on", "none") or "none")
    effect = verdict.get("driver_effect")
    effect = None if effect is None or pd.isna(effect) else float(effect)
    anomaly = str(verdict.get("driver_anomaly", "") or "")
    parts = []
    if on == "driver" and effect is not None:
        sign = "raised" if effect > 0 else "lowered"
        parts.append(
            f"The forecaster saw the day's driver: it {sign} the expected count by {abs(effect):,.1f} case(s) "
            "against a driver unchanged from the day before"
            + (", so the driver explains little of this day." if abs(effect) < 1 else ".")
        )
    elif on == "target":
        parts.append("The forecaster used the target's own history only (no usable driver for this region).")
    if anomaly in ("surge", "drop"):
        parts.append(
            f"The driver itself shows a {anomaly} on this day ({DRIVER_DETECTOR}), so the target's move may "
            "follow a change in the driver (or in testing) rather than be specific to the target."
        )
    return {"forecast_on": on, "driver_effect": effect, "driver_anomaly": anomaly, "text": " ".join(parts)}


def explanation_text(info: dict[str, Any], threshold_pct: float | None = None) -> str:
    """Plain-text rendering of :func:`explanation` for the terminal."""
    head = (
        f"HOTSPOT ({info['severity']}, {info['direction']})" if info["is_hotspot"] else "not a hotspot"
    ) + f" by {info['decider']}"
    lines = [f"{info['date']} ({info['region']}): {head}", "", info["text"], ""]
    table = pd.DataFrame(info["detectors"])

    def band(lo: float, hi: float) -> str:
        if pd.notna(lo) and pd.notna(hi):
            return f"{lo:,.0f}..{hi:,.0f}"
        return f"..{hi:,.1f}" if pd.notna(hi) else "-"

    table["band"] = [band(lo, hi) for lo, hi in zip(table["lower"], table["upper"], strict=True)]
    for column, spec in (("p_value", ".2g"), ("expected", ",.1f"), ("score", ".2f")):
        table[column] = [format(v, spec) if pd.notna(v) else "-" for v in table[column]]
    table["flags"] = ["yes" if v else "" for v in table["is_hotspot"]]
    shown = table[["detector", "expected", "band", "score", "p_value", "severity", "direction", "flags"]]
    lines.append(shown.to_string(index=False))
    study = info["study"]
    deviation = "undefined (0 cases)" if study["deviation_pct"] is None else f"{study['deviation_pct']:.1f} %"
    lines.append(
        f"\nThe study's rule: LSTM prediction {study['predicted']:,.1f}, deviation {deviation}"
        + (" -> a hotspot under the study's rule." if study["study_hotspot"] else " -> not a hotspot under it.")
    )
    notes = [f"{d['detector']}: {d['note']}" for d in info["detectors"] if d["note"]]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
