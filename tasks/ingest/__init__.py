"""Ingest: receive new inputs, then rebuild the canonical table from every accepted file.

- :mod:`tasks.ingest.read`: one file -> the canonical table (columns: tasks/schemas.py);
- :mod:`tasks.ingest.merge`: all files in arrival order -> the current table and the revision log;
- :mod:`tasks.ingest.receive`: the explicit file, a URL, ``incoming/`` and the shipped data, archived;
- this module: the Prefect task.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import IngestConfig
from tasks.ingest.merge import as_of, date_range_of, merge_observations
from tasks.ingest.read import IngestError, ingest_file
from tasks.ingest.receive import receive_inputs
from tasks.results import Ingested
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore, fingerprint

STAGE = Stage("ingest", __name__)


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(
    store: ArtifactStore,
    run_date: date,
    input_path: str | None,
    input_url: str | None,
    config: IngestConfig,
    backfill: bool = False,
) -> Ingested:
    """Receive new inputs, then rebuild the canonical table from every accepted file (or reuse it)."""
    logger = get_run_logger()
    notes = receive_inputs(store, run_date, input_path, input_url, config)
    everything = store.ledger()
    ledger = everything[everything["status"] == "accepted"]
    if not backfill:
        # A rerun of an old date sees only what had arrived by then.
        ledger = ledger[ledger["run_date"] <= run_date.isoformat()]
    if ledger.empty:
        rejected = everything.loc[everything["status"] != "accepted", "status"].str.removeprefix("rejected: ")
        why = f"; rejected before: {' | '.join(rejected.tail(3))}" if len(rejected) else ""
        raise IngestError(f"no readable input received by {run_date.isoformat()}{why}")

    def compute() -> Ingested:
        tables = [ingest_file(store.root / archived, config).table for archived in ledger["archived"]]
        table, revisions, collapsed = merge_observations(tables)
        dropped = 0
        if backfill:
            table, dropped = as_of(table, run_date)
            revisions = revisions[revisions["date"] <= pd.Timestamp(run_date)]
        result = Ingested(
            canonical=store.write_table("ingest", run_date, "canonical", table),
            revisions=store.write_table("ingest", run_date, "revisions", revisions),
        )
        span = date_range_of(table)
        logger.info(
            "ingest: %d file(s) -> %d rows (%s..%s), %d revision(s), %d identical duplicate row(s) kept once%s; "
            "wrote %s",
            len(ledger), len(table), *(span or ("-", "-")), len(revisions), collapsed,
            f", {dropped} row(s) after {run_date} left out (backfill)" if backfill else "",
            store.resolve(result.canonical),
        )  # fmt: skip
        return result

    result = run_stage(
        store, run_date, STAGE, Ingested,
        # The archived files' content hashes, in arrival order (the order decides revisions).
        inputs={"files": fingerprint(files=ledger["sha256"].tolist())},
        settings={"ingest": config, "as_of": run_date.isoformat() if backfill else None},
        compute=compute, logger=logger, extra={"files": ledger["archived"].tolist()},
    )  # fmt: skip
    return dataclasses.replace(result, arrivals=notes)
