"""The backtest flow: every detector on labelled outbreaks, simulated and injected into the real series.

It writes the comparison (per-seed and summary Parquet, a markdown table and a PNG chart) into the
store's ``08_backtest/run_date=YYYY-MM-DD/`` and publishes the table and chart as Prefect
artifacts. The same numbers come from ``hotspot backtest`` and (with more seeds) ``bench/backtest.py``.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.backtest import REAL, SCENARIOS, backtest
from tasks.config import PipelineConfig
from tasks.report import table_records
from tasks.store import ArtifactStore

DEFAULT_SCENARIOS = [*SCENARIOS, REAL]


@task(name="publish-backtest", cache_policy=NO_CACHE)
def publish_backtest(store: ArtifactStore, outputs: dict) -> dict:
    """Every run: publish the comparison as Prefect artifacts (markdown table, summary rows, chart link)."""
    markdown = store.resolve(outputs["markdown"]).read_text(encoding="utf-8")
    summary = store.load_table(outputs["summary"])
    create_markdown_artifact(key="backtest-comparison", markdown=markdown, description="Detectors compared")
    create_table_artifact(key="backtest-summary", table=table_records(summary), description="Backtest summary rows")
    chart = store.resolve(outputs["chart"])
    create_link_artifact(key="backtest-chart", link=chart.as_uri(), link_text=chart.name)
    get_run_logger().info("publish-backtest: comparison at %s", chart)
    return {"summary": str(store.resolve(outputs["summary"])), "chart": str(chart), "markdown": markdown}


@flow(name="hotspot-backtest")
def hotspot_backtest(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 - frozen, so a shared default is safe
    seeds: int = 20,
    scenarios: list[str] | None = None,
    target_far: float = 0.01,
    store_dir: str | None = None,
    run_date: date | None = None,
) -> dict:
    """Measure every detector on labelled outbreaks and publish the comparison.

    Args:
        config: The pipeline's settings: the LSTM (train) and the detectors (detect, extract.threshold_pct).
        seeds: Series per scenario (seeds 0 .. seeds-1); more seeds, smaller spread.
        scenarios: Simulated scenarios (very_low, low, medium, high, very_high) and/or "real" (outbreaks
            injected into the shipped series); empty means all.
        target_far: False-alarm rate per non-outbreak day at which detectors are also compared.
        store_dir: Root folder of the artifact store; empty means the project's data/ folder.
        run_date: Partition to write; empty means today.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    if not 0 < target_far < 1:
        raise ValueError(f"target_far must be between 0 and 1, got {target_far}")
    day = run_date or date.today()
    store = ArtifactStore(store_dir)
    outputs = backtest(store, day, config, seeds, list(scenarios or DEFAULT_SCENARIOS), target_far)
    published = publish_backtest(store, outputs)
    return published | {"status": outputs["status"], "partition": str(store.partition("backtest", day))}
