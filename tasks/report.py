"""Report: the hotspot table people fetch, the study's figures, and the run's Prefect artifacts.

Files per run date under ``07_report/run_date=YYYY-MM-DD/`` and, once all are written,
copied to ``07_report/latest/``:

- ``report.parquet``: one row per scored (region, date), columns of :data:`tasks.extract.REPORT_COLUMNS`;
- ``unscored.parquet``: the days that could not be scored and why;
- ``fit.png``, ``target.png``, ``loss.png``: training fit, target vs prediction with hotspots, loss curve;
- ``summary.md``: the run in a few lines.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.store import ArtifactStore

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = ("fit", "target", "loss")


def _figure(title: str, ylabel: str) -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    # Figure() directly, not pyplot: no global state, no GUI backend, safe in worker threads.
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_fit(predictions: pd.DataFrame) -> Figure:
    """Driver series: label vs one-step prediction (the study's training-fit figure)."""
    driver = predictions[predictions["role"] == "driver"]
    fig, ax = _figure("Training fit on the driver series (asymptomatic)", "daily count")
    ax.plot(driver["date"], driver["actual"], label="actual", color="tab:blue")
    ax.plot(driver["date"], driver["predicted"], label="predicted", color="tab:orange")
    ax.legend()
    return fig


def plot_target(predictions: pd.DataFrame, report: pd.DataFrame) -> Figure:
    """Target series: actual vs predicted, hotspot days marked."""
    target = predictions[predictions["role"] == "target"]
    fig, ax = _figure("Target series (confirmed): actual vs predicted, hotspots marked", "daily count")
    ax.plot(target["date"], target["actual"], label="actual", color="tab:blue")
    ax.plot(target["date"], target["predicted"], label="predicted", color="tab:orange")
    hot = report[report["is_hotspot"]]
    ax.scatter(hot["date"], hot["actual"], color="tab:red", zorder=3, s=18, label=f"hotspot ({len(hot)})")
    ax.legend()
    return fig


def plot_loss(history: pd.DataFrame) -> Figure:
    """Training loss (MSE on scaled values) per epoch."""
    fig, ax = _figure("Training loss", "MSE (scaled)")
    ax.plot(history["epoch"], history["loss"], marker="o", markersize=3)
    ax.set_xlabel("epoch")
    return fig


def summary_markdown(report: pd.DataFrame, unscored: pd.DataFrame, run_date: date, threshold_pct: float) -> str:
    """A few lines a reader of the Prefect UI needs first."""
    hot = report[report["is_hotspot"]]
    span = f"{report['date'].min():%Y-%m-%d}..{report['date'].max():%Y-%m-%d}" if len(report) else "-"
    lines = [
        f"# Hotspot report, run date {run_date.isoformat()}",
        "",
        f"- days scored: **{len(report)}** ({span}), regions: {', '.join(sorted(report['region'].unique()))}",
        f"- hotspots (deviation > {threshold_pct:g} %): **{len(hot)}** ({len(hot) / max(len(report), 1):.0%})",
        f"- days not scored: {len(unscored)}",
    ]
    for reason, count in unscored["reason"].value_counts().items():
        lines.append(f"  - {count} x {reason}")
    undefined = int(report["deviation_pct"].isna().sum())
    if undefined:
        lines.append(f"- days with actual = 0 (deviation undefined, never a hotspot): {undefined}")
    return "\n".join(lines) + "\n"


def table_records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe records for a Prefect table artifact (dates as text, NaN as null)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(2)
    return out.astype(object).where(out.notna(), None).to_dict("records")


# -- Prefect task ---------------------------------------------------------------------


@task(name="report", cache_policy=NO_CACHE)
def report(
    store: ArtifactStore,
    run_date: date,
    hotspots: dict,
    unscored: dict,
    predictions: dict,
    history: dict,
    threshold_pct: float,
) -> dict:
    """Write the report, figures and summary for the run date, publish them as latest and as artifacts."""
    logger = get_run_logger()
    table = store.load_table(hotspots)
    skipped = store.load_table(unscored)
    preds = store.load_table(predictions)
    losses = store.load_table(history)

    files: dict[str, Path] = {
        "report.parquet": Path(store.write_table("report", run_date, "report", table).path),
        "unscored.parquet": Path(store.write_table("report", run_date, "unscored", skipped).path),
    }
    figures = {"fit": plot_fit(preds), "target": plot_target(preds, table), "loss": plot_loss(losses)}
    for name, fig in figures.items():
        files[f"{name}.png"] = store.write_with(
            store.path("report", run_date, f"{name}.png"), lambda p, f=fig: f.savefig(p, dpi=110)
        )
    markdown = summary_markdown(table, skipped, run_date, threshold_pct)
    files["summary.md"] = store.write_with(
        store.path("report", run_date, "summary.md"), lambda p: p.write_text(markdown, encoding="utf-8")
    )
    store.write_manifest(
        "report",
        run_date,
        {
            "inputs": {"hotspots": hotspots, "unscored": unscored, "predictions": predictions},
            "outputs": {k: str(v) for k, v in files.items()},
        },
    )
    latest = store.publish_latest(files)

    create_table_artifact(key="hotspots", table=table_records(table[table["is_hotspot"]]), description="Hotspot days")
    create_markdown_artifact(key="run-summary", markdown=markdown, description="What this run did")
    create_link_artifact(
        key="hotspot-report", link=latest["report.parquet"].as_uri(), link_text="report.parquet (latest)"
    )
    logger.info(
        "report: %d rows, %d hotspots; latest at %s",
        len(table),
        int(table["is_hotspot"].sum()),
        latest["report.parquet"],
    )
    return {
        "report": str(latest["report.parquet"]),
        "figures": {n: str(latest[f"{n}.png"]) for n in FIGURES},
        "partition": str(files["report.parquet"].parent),
        "summary": markdown,
    }
