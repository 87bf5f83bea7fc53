"""Validate: the data-quality gate between ingest and scale (Great Expectations 1.x).

- :mod:`tasks.validate.rules`: the suites (every rule, once) and the view of the table they check;
- :mod:`tasks.validate.split`: valid rows, quarantine with reasons, gaps, summary (pure logic);
- :mod:`tasks.validate.data_docs`: the Data Docs site of a validation;
- this module: the Prefect task. Failing rows are quarantined with a reason, never dropped; a table that
  cannot be trusted at all, or one without a valid row, fails the flow after its quarantine and Data Docs
  are stored.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.config import ValidateConfig
from tasks.results import Ingested, Validated
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore
from tasks.validate.data_docs import DOCS_INDEX, validate_with_docs
from tasks.validate.split import ValidationFailed, summary_markdown

STAGE = Stage("validate", __name__)
SUMMARY_KEYS = ("rows_in", "rows_valid", "rows_quarantined", "gaps", "success", "frequency", "absent_columns")
"""The part of the validation summary kept in the stage's result (the rest is in the Data Docs)."""


def _link_docs(index: Path) -> None:
    create_link_artifact(
        key="validation-docs",
        link=index.as_uri(),
        link_text="Great Expectations Data Docs",
        description="Every expectation of this validation and its result, as HTML",
    )


@task(name="validate", cache_policy=NO_CACHE)
def validate(
    store: ArtifactStore, run_date: date, ingested: Ingested, config: ValidateConfig, frequency: str = "auto"
) -> Validated:
    """Gate the canonical table: write valid rows, quarantine (with reasons), gaps and Data Docs; publish the summary.

    Fails the flow (ValidationFailed) when the table is unusable or nothing valid remains, after storing
    whatever was quarantined and the Data Docs.
    """
    logger = get_run_logger()
    table = store.load_table(ingested.canonical)
    # The run date matters only when some row is dated after it (the future-date rule).
    future_cut = run_date.isoformat() if (table["date"] > pd.Timestamp(run_date)).any() else None

    def compute() -> Validated:
        site = store.data_docs(run_date)
        index = site / DOCS_INDEX
        try:
            outcome = validate_with_docs(table, run_date, config, site, frequency)
        except ValidationFailed as exc:
            if exc.quarantine is not None:
                ref = store.write_table("validate", run_date, "quarantine", exc.quarantine)
                logger.error("validate: %s; quarantined rows with reasons in %s", exc, store.resolve(ref))
            logger.error("validate: the failing expectations are shown in %s", index)
            create_markdown_artifact(key="validation", markdown=f"# Validation failed\n\n{exc}\n")
            _link_docs(index)
            raise
        s = outcome.summary
        create_markdown_artifact(key="validation", markdown=summary_markdown(outcome), description="Validation outcome")
        if len(outcome.quarantine):
            records = outcome.quarantine.astype({"date": "str"})[["source_row", "date", "region", "reason"]]
            create_table_artifact(key="quarantine", table=records.to_dict("records"), description="Quarantined rows")
        logger.info(
            "validate: %d rows in, %d valid, %d quarantined, %d gap(s) reported; %d expectations checked; "
            "Data Docs: %s",
            s["rows_in"], s["rows_valid"], s["rows_quarantined"], s["gaps"], len(s["expectations"]), index,
        )  # fmt: skip
        return Validated(
            valid=store.write_table("validate", run_date, "valid", outcome.valid),
            quarantine=store.write_table("validate", run_date, "quarantine", outcome.quarantine),
            gaps=store.write_table("validate", run_date, "gaps", outcome.gaps),
            # A reference like the tables, so a later reuse checks that the docs are still this run's.
            data_docs=store.ref(index),
            summary={k: s[k] for k in SUMMARY_KEYS},
        )

    result = run_stage(
        store, run_date, STAGE, Validated,
        inputs={"canonical": ingested.canonical},
        settings={"validation": config, "future_cut": future_cut, "frequency": frequency},
        compute=compute, logger=logger,
    )  # fmt: skip
    # Reused or new, the docs are a checked output of the run (reuse verified their hash): the link is valid.
    _link_docs(store.resolve(result.data_docs))
    return result
