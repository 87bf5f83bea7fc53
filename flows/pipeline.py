"""The hotspot pipeline: ingest -> validate -> scale -> train -> predict -> extract -> report.

The CLI, the deployments in prefect.yaml and the tests all run this one flow. Each stage
skips itself when its inputs, config and code are unchanged (see tasks/store.py), so a
daily run without new data recomputes nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow
from prefect.runtime import deployment, flow_run
from prefect.states import Completed

from tasks.config import PipelineConfig
from tasks.extract import extract
from tasks.ingest import ingest
from tasks.ingest.read import preflight
from tasks.predict import predict
from tasks.provenance import Record, experiment_name, provenance
from tasks.report import publish, report
from tasks.scale import scale
from tasks.store import ArtifactStore, allowed_roots, confine
from tasks.train import package_versions, train
from tasks.validate import validate


@flow(name="hotspot-pipeline")
def hotspot_pipeline(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 - frozen, so a shared default is safe
    input_path: str | None = None,
    input_url: str | None = None,
    store_dir: str | None = None,
    run_date: date | None = None,
    backfill: bool = False,
    record: Record = "auto",
    experiment: str | None = None,
) -> dict:
    """Run every stage for one run date and return where the report and figures are.

    Args:
        config: Every stage's settings; the defaults are the reference study's.
        input_path: A CSV or Parquet file of new data to add (files in the store's incoming/ folder are added too).
        input_url: An http(s) URL of a CSV or Parquet file of new data to add.
        store_dir: Root folder of the artifact store; empty means the project's data/ folder.
            Paths must lie inside the project or a folder listed in HOTSPOT_ALLOWED_ROOTS.
        run_date: Partition to write, and the day future dates are judged against; empty means today.
        backfill: Run as if on run_date: only rows dated up to run_date are used.
        record: "auto": a run of the daily deployment with the default config (or a run outside deployments)
            is the store's daily record, any other deployment run (manual, or changed parameters) an
            experiment under experiments/<name>/ that never changes the daily report or latest/; "daily" or
            "experiment" says so explicitly.
        experiment: The experiment's name (default: the deployment's name and the config's hash).
    """
    day = run_date or date.today()
    roots = allowed_roots()
    named = experiment_name(config, record, deployment.name, experiment)
    store = ArtifactStore(confine(store_dir, roots) if store_dir else None, experiment=named)
    about = provenance(
        config, day, flow_run_id=str(flow_run.id) if flow_run.id else None, flow_run_name=flow_run.name,
        deployment=deployment.name, experiment=named, versions=package_versions(),
    )  # fmt: skip
    input_path = str(confine(input_path, roots)) if input_path else None
    if input_path:
        # Cheap checks first, so a file that is far too large fails at once instead of after waiting for the lock.
        preflight(Path(input_path), config.ingest)
    with store.lock(config.lock_wait_s, holder=f"flow run {flow_run.name} for {day}"):
        result = run_stages(store, day, config, input_path, input_url, backfill, about)
    # The run's state says what it found (new hotspots, or none), in the UI's run list and to automations.
    return Completed(message=result["message"], data=result)


def run_stages(
    store: ArtifactStore,
    day: date,
    config: PipelineConfig,
    input_path: str | None,
    input_url: str | None,
    backfill: bool,
    about: dict | None = None,
) -> dict:
    """The stages in order; each task reads its inputs from the store and returns a typed result of references.

    ``about``: what produced the run (tasks/provenance.py), written into the report's metadata and summary.
    """
    ingested = ingest(store, day, input_path, input_url, config.ingest, backfill)
    validated = validate(store, day, ingested, config.validation, config.series.frequency)
    scaled = scale(store, day, validated, config.series)
    model = train(store, day, scaled, config.train, config.series, config.retrain, config.compute)
    predicted = predict(
        store,
        day,
        scaled,
        model,
        config.train.look_back,
        config.forecast,
        config.train.seed,
        config.compute,
    )
    extracted = extract(
        store, day, predicted, config.extract, config.train.look_back, config.detect, scaled.frequency, config.compute
    )
    reported = report(
        store, day, extracted, ingested, predicted, model, config.series.target, scaled.frequency, about or {}
    )
    stages = {"ingest": ingested, "validate": validated, "scale": scaled, "train": model,
              "predict": predicted, "extract": extracted, "report": reported}  # fmt: skip
    statuses = {name: result.status for name, result in stages.items()}
    published = publish(store, day, reported, config.extract.threshold_pct, statuses, about)
    return published | {
        "run_date": day.isoformat(),
        "store": str(store.root),
        "stages": statuses,
        "arrivals": ingested.arrivals,
        "validation": validated.summary,
        "data_docs": str(store.resolve(validated.data_docs)),
        "experiment": store.experiment,
    }
