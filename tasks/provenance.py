"""What produced a report, and whether a run is the daily record or an experiment.

The rule (documented in docs/operations.md): a run is the store's **daily record** when it comes from the
``daily`` deployment with the default config, or from outside any deployment (the ``hotspot`` command, the
tests). Every other deployment run (the ``manual`` deployment, or ``daily`` with changed parameters) is an
**experiment**: its partitions and its ``latest/`` live under ``experiments/<name>/`` and the daily record is
never touched. ``record = "daily"`` asks for the daily record explicitly; ``record = "experiment"`` makes any
run an experiment. Pure logic: the flow passes in what Prefect knows about the run.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from tasks.config import PipelineConfig
from tasks.store import fingerprint

Record = Literal["auto", "daily", "experiment"]
DAILY_DEPLOYMENT = "daily"


def config_hash(config: PipelineConfig) -> str:
    """A short hash of the whole config: the same settings, the same hash."""
    return fingerprint(config=config.model_dump(mode="json"))[:12]


def experiment_name(
    config: PipelineConfig, record: Record, deployment: str | None, name: str | None = None
) -> str | None:
    """None for the daily record, else the experiment's name (``name``, or the deployment and the config hash)."""
    if record == "daily":
        return None
    defaults = config.model_dump() == PipelineConfig().model_dump()
    if record == "auto" and (deployment is None or (deployment == DAILY_DEPLOYMENT and defaults)):
        return None
    return name or f"{deployment or 'run'}-{config_hash(config)}"


def provenance(
    config: PipelineConfig,
    run_date: date,
    *,
    flow_run_id: str | None,
    flow_run_name: str | None,
    deployment: str | None,
    experiment: str | None,
    versions: dict[str, str],
) -> dict[str, Any]:
    """Everything that says what produced a report (stored in its Parquet metadata and its summary)."""
    return {
        "run_date": run_date.isoformat(),
        "flow_run_id": flow_run_id,
        "flow_run_name": flow_run_name,
        "deployment": deployment,
        "record": f"experiment {experiment}" if experiment else "daily",
        "config_hash": config_hash(config),
        "config": config.model_dump(mode="json"),
        "versions": versions,
    }


def header_line(meta: dict[str, Any], store: str, run_date: str | None = None) -> str:
    """One line naming what a report is: store, run date, record, model, config hash, the flow run.

    ``run_date``: the partition the report was read from; when the report was computed for an earlier run
    date and reused (the same data), the line says so.
    """
    shown = run_date or meta.get("run_date") or "-"
    if not meta:
        return f"store {store}, run date {shown}: report written before provenance was recorded (no run or config)"
    run = f"flow run {meta.get('flow_run_name') or '-'}"
    if meta.get("deployment"):
        run += f" of deployment {meta['deployment']}"
    if meta.get("run_date") and meta["run_date"] != shown:
        run += f" (computed for run date {meta['run_date']}, reused)"
    return (
        f"store {store}, run date {shown}, {meta.get('record', 'daily')} record, model "
        f"{meta.get('model_id', '-')}, config {meta.get('config_hash', '-')}, {run}"
    )
