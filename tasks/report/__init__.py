"""Report: the hotspot table people fetch, the study's figures, and the run's Prefect artifacts.

Files per run date under ``07_report/run_date=YYYY-MM-DD/`` and, once all are written and this is the
newest run date, published to ``07_report/latest/`` as one set (:meth:`ArtifactStore.publish_latest`):

- ``report.parquet``: one row per scored (region, date), columns ``REPORT_TABLE_COLUMNS`` of
  tasks/schemas.py (the study's columns, then revised, is_new, model_id, then the deciding detector's
  numbers, then what each region's model was trained on);
- ``detections.parquet``: every detector's row for every day (what ``hotspot explain`` reads);
- ``unscored.parquet``: the days that could not be scored and why;
- ``regions.parquet``: one row per region, most hotspots first;
- ``fit.png``, ``target.png``, ``loss.png``, ``detection.png``, ``top_regions.png``
  (:mod:`tasks.report.figures`);
- ``summary.md``: the run in a few lines, and what produced it (:mod:`tasks.report.summary`).

The modules of this package: :mod:`~tasks.report.table` (the tables), :mod:`~tasks.report.figures`,
:mod:`~tasks.report.summary`, :mod:`~tasks.report.explain` (why a day is a hotspot),
:mod:`~tasks.report.artifacts` (figures in the Prefect UI, alerts), :mod:`~tasks.report.publish` (the task that
publishes each run), :mod:`~tasks.report.read` (reading reports back); this module holds the report task.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.report.figures import plot_detection, plot_fit, plot_loss, plot_regions, plot_target
from tasks.report.table import build_report, primary_region, region_summary
from tasks.results import Extracted, Ingested, Predicted, Reported, Trained
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore

# Every run date's partition holds its own report files (linked when reused): the history is one dataset.
STAGE = Stage("report", __name__, local=True)


def _previous_report(store: ArtifactStore, run_date: date) -> pd.DataFrame | None:
    """The report of the newest earlier run date, if any."""
    earlier = [manifest for day, manifest in store.manifests("report") if day < run_date]
    return store.load_table(earlier[-1]["outputs"]["report"]) if earlier else None


@task(name="report", cache_policy=NO_CACHE)
def report(
    store: ArtifactStore,
    run_date: date,
    extracted: Extracted,
    ingested: Ingested,
    predicted: Predicted,
    model: Trained,
    target: str,
    frequency: str = "daily",
    about: dict | None = None,
) -> Reported:
    """Write the report table and figures for the run date (or reuse identical ones).

    ``about`` (what produced the run, tasks/provenance.py) goes into report.parquet's metadata; it is not part
    of the fingerprint, so a reused report keeps the provenance of the run that computed it.
    """
    logger = get_run_logger()

    def compute() -> Reported:
        table = build_report(
            store.load_table(extracted.hotspots),
            store.load_table(ingested.revisions),
            _previous_report(store, run_date),
            target,
            model.model_id,
            frequency,
        )
        unscored = store.load_table(extracted.unscored)
        regions = region_summary(table, unscored)
        decider = table["detector"].iloc[0] if len(table) else ""
        # The figures need the deciding detector's rows only: the long table is never held whole here.
        detections = store.load_table(extracted.detections, filters=[("detector", "==", decider)])
        primary = primary_region(regions)
        preds = store.load_table(predicted.predictions, filters=[("region", "==", primary)])  # what the figures draw
        figures = {
            "fit": plot_fit(preds, primary),
            "target": plot_target(preds, table, primary),
            "loss": plot_loss(store.load_table(model.history)),
            "detection": plot_detection(detections, decider, primary),
            "top_regions": plot_regions(detections, regions, decider),
        }
        result = Reported(
            report=store.write_table(
                "report", run_date, "report", table, metadata={**(about or {}), "model_id": model.model_id}
            ),
            unscored=store.write_table("report", run_date, "unscored", unscored),
            # A copy beside the report, so that `hotspot explain` (and latest/) needs nothing from other layers.
            detections=store.copy_artifact(extracted.detections, "report", run_date, "detections.parquet"),
            regions=store.write_table("report", run_date, "regions", regions),
            figures={name: store.write_figure("report", run_date, name, fig) for name, fig in figures.items()},
        )
        logger.info(
            "report: %d rows in %d region(s), %d hotspots (%d new, %d on revised days); wrote %s",
            len(table), len(regions), int(table["is_hotspot"].sum()), int(table["is_new"].sum()),
            int((table["is_hotspot"] & table["revised"]).sum()), store.resolve(result.report),
        )  # fmt: skip
        return result

    return run_stage(
        store, run_date, STAGE, Reported,
        inputs={
            "hotspots": extracted.hotspots, "unscored": extracted.unscored, "detections": extracted.detections,
            "revisions": ingested.revisions, "predictions": predicted.predictions, "history": model.history,
        },
        settings={"model_id": model.model_id, "target": target, "frequency": frequency},
        compute=compute, logger=logger,
    )  # fmt: skip


from tasks.report.publish import publish as publish  # noqa: E402 - the flow imports both tasks from here
