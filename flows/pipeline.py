"""The hotspot pipeline: ingest -> validate -> scale -> train -> predict -> extract -> report.

The CLI, the deployments in prefect.yaml and the tests all run this one flow.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from tasks.config import PipelineConfig
from tasks.extract import extract
from tasks.ingest import ingest
from tasks.predict import predict
from tasks.report import report
from tasks.scale import scale
from tasks.store import SHIPPED_INPUT, ArtifactStore
from tasks.train import train
from tasks.validate import validate


@flow(name="hotspot-pipeline", log_prints=True)
def hotspot_pipeline(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 - frozen, so a shared default is safe
    input_path: str | None = None,
    store_dir: str | None = None,
    run_date: date | None = None,
) -> dict:
    """Run every stage for one run date and return where the report and figures are.

    Args:
        config: Every stage's settings; the defaults are the reference study's.
        input_path: CSV or Parquet file to ingest; empty means the shipped NHC data set.
        store_dir: Root folder of the artifact store; empty means the project's data/ folder.
        run_date: Partition to write, and the day future dates are judged against; empty means today.
    """
    day = run_date or date.today()
    store = ArtifactStore(store_dir)
    ingested = ingest(store, day, input_path or str(SHIPPED_INPUT), config.ingest)
    validated = validate(store, day, ingested["canonical"], config.validation)
    scaled = scale(store, day, validated["valid"], config.series)
    model = train(store, day, scaled["scaled"], scaled["scaler"], config.train)
    predictions = predict(store, day, scaled["scaled"], model, config.train.look_back)
    hotspots = extract(store, day, predictions["predictions"], config.extract, config.train.look_back)
    return report(
        store,
        day,
        hotspots["hotspots"],
        hotspots["unscored"],
        predictions["predictions"],
        model["history"],
        config.extract.threshold_pct,
    ) | {"run_date": day.isoformat(), "store": str(store.root), "validation": validated["summary"]}
