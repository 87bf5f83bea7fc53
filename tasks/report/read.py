"""Reading reports back from a store: the latest one, or one run date's (through its manifest)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.store import ArtifactStore


class ReportNotFound(ValueError):
    """The store has no such report (one line says what it has)."""


def _where(store: ArtifactStore) -> str:
    return f"{store.root}" + (f" (experiment {store.experiment})" if store.experiment else "")


def _reference(store: ArtifactStore, run_date: date, table: str) -> dict:
    """The manifest reference of one run date's table (its content hash is checked when read)."""
    found = dict(store.manifests("report")).get(run_date)
    if found is None:
        days = ", ".join(day.isoformat() for day, _ in store.manifests("report")[-5:]) or "none"
        raise ReportNotFound(
            f"no report for run date {run_date.isoformat()} in {_where(store)} (latest run dates: {days})"
        )
    if table not in found["outputs"]:
        raise ReportNotFound(f"the report of run date {run_date.isoformat()} has no {table} table; run that date again")
    return found["outputs"][table]


def report_path(store: ArtifactStore, run_date: date | None = None, table: str = "report") -> Path:
    """The file of the latest report, or of one run date's (``table``: "report", "detections", ...)."""
    if run_date is not None:
        return store.resolve(_reference(store, run_date, table))
    path = store.latest(f"{table}.parquet")
    if not path.exists():
        if table != "report" and store.latest("report.parquet").exists():
            raise ReportNotFound(f"the latest report in {_where(store)} has no {table} table; run `hotspot run` again")
        raise ReportNotFound(f"no report in {_where(store)} yet; run `hotspot run` first")
    return path


def load_report(
    store: ArtifactStore,
    run_date: date | None = None,
    table: str = "report",
    filters: list[tuple[str, str, Any]] | None = None,
) -> pd.DataFrame:
    """The latest report, or the report of one run date (``table``: "report" or "detections"); ``filters``
    (pyarrow's [(column, op, value)]) reads only the matching rows, e.g. one region's of a long detections table."""
    if run_date is None:
        return pd.read_parquet(report_path(store, None, table), filters=filters)
    return store.load_table(_reference(store, run_date, table), filters=filters)
