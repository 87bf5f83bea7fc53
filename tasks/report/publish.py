"""Publish: every run, write the run summary, switch ``latest/``, show the run in the Prefect UI, and alert.

This task runs on every run, also when the report itself was reused, because the run summary, the Prefect
artifacts and the state message belong to the run. Alerts belong to the daily record: an experiment never
sends one, and a hotspot is alerted once (the store keeps a ledger of what was alerted), so a rerun or a
recomputation of the same report stays silent.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.report.alerts import alert_message, batch_event, emit_alerts, new_hotspots, region_events, unalerted
from tasks.report.artifacts import figure_artifact
from tasks.report.figures import FIGURES
from tasks.report.summary import summary_markdown
from tasks.report.table import HOTSPOT_TABLE_COLUMNS, table_records
from tasks.results import Reported
from tasks.store import ArtifactStore, read_metadata

TABLES = ("report", "unscored", "detections", "regions")
SHOWN_FIGURES = {
    "detection": "The target with the deciding detector's expected value, band and alerts",
    "top_regions": "The regions with the most hotspots",
}
"""Figures shown as images in the run's Artifacts tab (the others are links to the store's files)."""


@task(name="publish", cache_policy=NO_CACHE)
def publish(
    store: ArtifactStore,
    run_date: date,
    reported: Reported,
    threshold_pct: float,
    statuses: dict[str, str],
    about: dict[str, Any] | None = None,
) -> dict:
    """Write the run summary, point latest at the newest run date, publish the Prefect artifacts, send alerts.

    Returns paths of the published files, the summary, ``alerts`` (events sent) and ``message`` (for the flow
    run's state).
    """
    logger = get_run_logger()
    table = store.load_table(reported.report)
    regions = store.load_table(reported.regions)
    computed_by = read_metadata(store.resolve(reported.report))
    markdown = summary_markdown(
        table, store.load_table(reported.unscored), regions, run_date, threshold_pct, statuses, about, computed_by
    )
    summary = store.resolve(store.write_text("report", run_date, "summary.md", markdown))
    files: dict[str, Path] = {f"{name}.parquet": store.resolve(getattr(reported, name)) for name in TABLES}
    files |= {f"{name}.png": store.resolve(reported.figures[name]) for name in FIGURES} | {"summary.md": summary}

    latest_day = store.latest_run_date()
    if run_date.isoformat() >= latest_day:
        published = store.publish_latest(files, run_date)
    else:
        # A backfill of an older date must not replace the newest report.
        published = files
        logger.info("publish: latest stays at run date %s (newer than %s)", latest_day, run_date)

    decider = table["detector"].iloc[0] if len(table) else "-"
    create_table_artifact(
        key="hotspots",
        table=table_records(table.loc[table["is_hotspot"], HOTSPOT_TABLE_COLUMNS]),
        description=f"Hotspots (decided by {decider}); band: the range within which a count is no alert, or "
        "why it has no edge",
    )
    create_markdown_artifact(key="run-summary", markdown=markdown, description="What this run did")
    create_link_artifact(key="hotspot-report", link=published["report.parquet"].as_uri(), link_text="report.parquet")
    # Paths, not file:// links: a browser refuses those. The figure-* artifacts show the images themselves.
    figure_files = "\n".join(f"- {name}: `{published[f'{name}.png']}`" for name in FIGURES)
    shown = ", ".join(f"`figure-{name.replace('_', '-')}`" for name in SHOWN_FIGURES)
    create_markdown_artifact(
        key="figures",
        markdown=f"# Figures\n\nThe files in the store (on the worker's machine); {shown} show two of them here.\n\n"
        f"{figure_files}\n",
        description="Report figures: where the files are",
    )
    for name, title in SHOWN_FIGURES.items():
        png = store.load_bytes(reported.figures[name])
        figure_artifact(f"figure-{name.replace('_', '-')}", png, title, f"{title}, run date {run_date.isoformat()}")

    sent, hotspots = 0, int(table["is_hotspot"].sum())
    if store.experiment is None:
        new = new_hotspots(unalerted(table, store.alert_ledger()))
        message = f"{hotspots} hotspot(s); {alert_message(new)}"
        if new:
            report_file = str(store.resolve(reported.report))  # this run date's own file: it never changes
            batch = batch_event(new, str(store.root), run_date.isoformat(), report_file)
            events = [*region_events(new, report_file), batch]
            sent = emit_alerts(events)
            if sent == len(events):
                alerted = pd.DataFrame({"region": [h["region"] for h in new], "date": [h["date"] for h in new]})
                store.record_alerts(alerted.astype({"date": "datetime64[us]"}), run_date)
            else:
                # Not recorded as alerted, so the next run of the daily record tries again.
                logger.warning("publish: %d of %d alert events emitted; the next run retries", sent, len(events))
                message += " (the alert events could not be emitted; the next run retries)"
    else:
        message = f"{hotspots} hotspot(s) (experiment {store.experiment}: no alert is sent)"
    logger.info("publish: %s; report at %s", message, published["report.parquet"])
    return {
        "report": str(published["report.parquet"]),
        "partition": str(store.partition("report", run_date)),
        "figures": {name: str(published[f"{name}.png"]) for name in FIGURES},
        "regions": str(published["regions.parquet"]),
        "summary": markdown,
        "alerts": sent,
        "message": message,
    }
