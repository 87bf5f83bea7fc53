"""The backtest flow: every detector on labelled outbreaks, simulated and injected into the real series.

It writes the comparison (per-seed and summary Parquet, a markdown table and a PNG chart) into the
store's ``08_backtest/run_date=YYYY-MM-DD/`` and publishes the table and chart as Prefect
artifacts. The same numbers come from ``hotspot backtest`` and (with more seeds) ``bench/backtest.py``;
the evaluation itself is the library tasks/evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.config import PipelineConfig
from tasks.detectors.schema import detector_config
from tasks.evaluation.backtest import REAL, real_series, run_backtest
from tasks.evaluation.events import EVENT_SCENARIOS
from tasks.evaluation.simulate import SCENARIOS
from tasks.evaluation.tables import backtest_markdown, plot_backtest
from tasks.evaluation.weekly import WEEKLY_SCENARIOS
from tasks.report.table import table_records
from tasks.stage import Stage, StageResult, run_stage
from tasks.store import SHIPPED_INPUT, ArtifactRef, ArtifactStore, sha256_file

DEFAULT_SCENARIOS = [*SCENARIOS, REAL, *EVENT_SCENARIOS, *WEEKLY_SCENARIOS]
STAGE = Stage("backtest", __name__)


@dataclass(frozen=True)
class Backtested(StageResult):
    """08_backtest: per-seed, per-outbreak and summary tables, the comparison markdown and chart."""

    per_seed: ArtifactRef
    outbreaks: ArtifactRef
    summary: ArtifactRef
    calibration: ArtifactRef
    markdown: ArtifactRef
    chart: ArtifactRef


@task(name="backtest", cache_policy=NO_CACHE)
def backtest(
    store: ArtifactStore,
    run_date: date,
    config: PipelineConfig,
    seeds: int,
    scenarios: list[str],
    target_far: float,
) -> Backtested:
    """Run every detector on every scenario x seed; write the tables, the chart and its markdown (or reuse them)."""
    logger = get_run_logger()
    unknown = [name for name in scenarios if name not in DEFAULT_SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {', '.join(DEFAULT_SCENARIOS)}")

    def progress(name: str, seconds: float) -> None:
        logger.info("backtest: scenario %s done in %.1f s (%d seeds)", name, seconds, seeds)

    def compute() -> Backtested:
        real = real_series(config.series) if REAL in scenarios else None
        result_ = run_backtest(
            scenarios, range(seeds), config.train, detector_config(config.detect, config.extract.threshold_pct),
            real, target_far, on_scenario=progress, forecast=config.forecast,
        )  # fmt: skip
        summary = result_.summary
        result = Backtested(
            per_seed=store.write_table("backtest", run_date, "per_seed", result_.per_seed),
            outbreaks=store.write_table("backtest", run_date, "outbreaks", result_.outbreaks),
            summary=store.write_table("backtest", run_date, "summary", summary),
            calibration=store.write_table("backtest", run_date, "calibration", result_.calibration),
            markdown=store.write_text("backtest", run_date, "comparison.md", backtest_markdown(summary, seeds,
                                                                                               target_far)),
            chart=store.write_figure("backtest", run_date, "comparison", plot_backtest(summary, target_far)),
        )  # fmt: skip
        logger.info("backtest: %d scenario(s) x %d seed(s); wrote %s", len(scenarios), seeds,
                    store.resolve(result.summary))  # fmt: skip
        return result

    return run_stage(
        store, run_date, STAGE, Backtested,
        inputs={"real": sha256_file(SHIPPED_INPUT) if REAL in scenarios else None},
        settings={
            "scenarios": list(scenarios), "seeds": seeds, "target_far": target_far, "train": config.train,
            "forecast": config.forecast,
            "detect": config.detect, "threshold_pct": config.extract.threshold_pct,
            "series": config.series if REAL in scenarios else None,
        },
        compute=compute, logger=logger,
    )  # fmt: skip


@task(name="publish-backtest", cache_policy=NO_CACHE)
def publish_backtest(store: ArtifactStore, outputs: Backtested) -> dict:
    """Every run: publish the comparison as Prefect artifacts (markdown table, summary rows, chart link)."""
    markdown = store.load_bytes(outputs.markdown).decode("utf-8")
    summary = store.load_table(outputs.summary)
    create_markdown_artifact(key="backtest-comparison", markdown=markdown, description="Detectors compared")
    create_table_artifact(key="backtest-summary", table=table_records(summary), description="Backtest summary rows")
    chart = store.resolve(outputs.chart)
    create_link_artifact(key="backtest-chart", link=chart.as_uri(), link_text=chart.name)
    get_run_logger().info("publish-backtest: comparison at %s", chart)
    return {"summary": str(store.resolve(outputs.summary)), "chart": str(chart), "markdown": markdown}


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
        scenarios: Simulated daily scenarios (very_low, low, medium, high, very_high), "real" (outbreaks
            injected into the shipped series), "both" (half of the events explained by the driver), "drops" (half
            of the events are drops) and weekly families (weekly_very_low .. weekly_very_high, in the
            spirit of Noufaily et al. 2013); empty means all.
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
    return published | {"status": outputs.status, "partition": str(store.partition("backtest", day))}
