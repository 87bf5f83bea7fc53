"""Alerts: the Prefect events a run emits when its report has hotspots that were never alerted before.

A run of the store's daily record (never an experiment) whose report has new hotspots emits

- one ``hotspot.detected`` event per region, whose resource is the region (``hotspot.region.<name>``) and whose
  payload lists that region's new hotspots (date, period, direction, severity, actual, expected, p-value, the
  detector) and the report's path: for automations that care about one region;
- one ``hotspot.batch`` event for the run, whose payload has every new hotspot (the first
  :data:`MAX_LISTED`), the count, the regions, the run date, the report's path and a one-line message: the
  automation of ``make alerts`` sends one notification per batch from it.

"New" means: not in the previous report (``is_new``) and not in the store's alert ledger, so a rerun, a
recomputation or a backfill of the same days stays silent. Everything here but :func:`emit_alerts` is pure.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tasks.report.table import p_text

ALERT_EVENT = "hotspot.detected"
"""The per-region event (resource: the region)."""
BATCH_EVENT = "hotspot.batch"
"""The per-run event the notification automation matches (scripts/setup_alerts.py)."""
REGION_RESOURCE = "hotspot.region."
BATCH_RESOURCE = "hotspot.store."
MAX_LISTED = 200
"""Hotspots listed in one batch event; the count is always complete (Prefect limits an event to 1.5 MB)."""
ALERTED = ["region", "date"]


def unalerted(report: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """The report with ``is_new`` cleared where the (region, date) is in the alert ledger already."""
    seen = pd.MultiIndex.from_frame(ledger[ALERTED]) if len(ledger) else pd.MultiIndex.from_tuples([], names=ALERTED)
    fresh = ~pd.MultiIndex.from_frame(report[ALERTED]).isin(seen)
    return report.assign(is_new=report["is_new"] & fresh)


def _hotspot(row: Any) -> dict[str, Any]:
    return {
        "region": str(row.region),
        "date": f"{row.date:%Y-%m-%d}",
        "period": str(getattr(row, "period", f"{row.date:%Y-%m-%d}")),
        "direction": str(row.direction),
        "severity": str(row.severity),
        "actual": int(row.actual),
        "expected": None if pd.isna(row.expected) else round(float(row.expected), 2),
        "p_value": p_text(row.p_value),
        "detector": str(row.detector),
    }


def new_hotspots(report: pd.DataFrame) -> list[dict[str, Any]]:
    """The report's new hotspots, by region and date, as plain dicts (what the events carry)."""
    new = report[report["is_hotspot"] & report["is_new"]].sort_values(["region", "date"])
    return [_hotspot(row) for row in new.itertuples()]


def region_events(hotspots: list[dict[str, Any]], report_path: str) -> list[dict[str, Any]]:
    """One ``hotspot.detected`` event per region -> [{event, resource, payload}]."""
    by_region: dict[str, list[dict[str, Any]]] = {}
    for hotspot in hotspots:
        by_region.setdefault(hotspot["region"], []).append(hotspot)
    return [
        {
            "event": ALERT_EVENT,
            "resource": {"prefect.resource.id": f"{REGION_RESOURCE}{region}", "prefect.resource.name": region},
            "payload": {"region": region, "count": len(rows), "hotspots": rows, "report": report_path},
        }
        for region, rows in by_region.items()
    ]


def batch_event(hotspots: list[dict[str, Any]], store: str, run_date: str, report_path: str) -> dict[str, Any]:
    """The run's ``hotspot.batch`` event: every new hotspot (at most MAX_LISTED listed) and a message."""
    regions = sorted({h["region"] for h in hotspots})
    return {
        "event": BATCH_EVENT,
        "resource": {"prefect.resource.id": f"{BATCH_RESOURCE}{store}", "prefect.resource.name": store},
        "related": [
            {"prefect.resource.id": f"{REGION_RESOURCE}{r}", "prefect.resource.role": "region"} for r in regions[:50]
        ],
        "payload": {
            "run_date": run_date,
            "count": len(hotspots),
            "regions": regions,
            "hotspots": hotspots[:MAX_LISTED],
            "listed": min(len(hotspots), MAX_LISTED),
            "report": report_path,
            "message": alert_message(hotspots),
        },
    }


def alert_message(hotspots: list[dict[str, Any]]) -> str:
    """One line: how many new hotspots, in which regions, on which dates (the first five regions)."""
    if not hotspots:
        return "no new hotspot"
    by_region: dict[str, list[str]] = {}
    for hotspot in hotspots:
        by_region.setdefault(hotspot["region"], []).append(hotspot["period"])
    where = ", ".join(
        f"{region} ({', '.join(periods[:3])}{' ...' if len(periods) > 3 else ''})"
        for region, periods in list(by_region.items())[:5]
    )
    more = f" and {len(by_region) - 5} more region(s)" if len(by_region) > 5 else ""
    return f"{len(hotspots)} new hotspot(s) in {len(by_region)} region(s): {where}{more}"


def emit_alerts(events: list[dict[str, Any]]) -> int:
    """Emit the events (inside a flow run Prefect relates each to the flow run) -> how many Prefect accepted.

    Prefect's ``emit_event`` returns None instead of raising when it cannot emit (events disabled, no API);
    the caller then leaves those hotspots out of the alert ledger, so the next run tries again.
    """
    from prefect.events import emit_event

    return sum(emit_event(**event) is not None for event in events)
