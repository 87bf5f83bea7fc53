"""Reading reports back from a store: the latest one, or one run date's (through its manifest)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from tasks.store import ArtifactStore


class ReportNotFound(ValueError):
    """The store has no such report (one line says what it has)."""


def load_report(store: ArtifactStore, run_date: date | None = None, table: str = "report") -> pd.DataFrame:
    """The latest report, or the report of one run date (``table``: "report" or "detections")."""
    if run_date is None:
        path = store.latest(f"{table}.parquet")
        if not path.exists():
            if table != "report" and store.latest("report.parquet").exists():
                raise ReportNotFound(f"the latest report in {store.root} has no {table} table; run `hotspot run` again")
            raise ReportNotFound(f"no report in {store.root} yet; run `hotspot run` first")
        return pd.read_parquet(path)
    found = dict(store.manifests("report")).get(run_date)
    if found is None:
        days = ", ".join(day.isoformat() for day, _ in store.manifests("report")[-5:]) or "none"
        raise ReportNotFound(
            f"no report for run date {run_date.isoformat()} in {store.root} (latest run dates: {days})"
        )
    if table not in found["outputs"]:
        raise ReportNotFound(f"the report of run date {run_date.isoformat()} has no {table} table; run that date again")
    return store.load_table(found["outputs"][table])
