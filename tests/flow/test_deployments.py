"""Every prefect.yaml entrypoint must import and resolve to a flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

from tasks.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_entrypoint_resolves_to_a_flow(deployment: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    assert flow.name == "hotspot-pipeline"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_deployment_parameters_are_valid_config(deployment: dict) -> None:
    params = deployment.get("parameters") or {}
    PipelineConfig.model_validate(params.get("config", {}))
    assert set(params) <= {"config", "input_path", "store_dir", "run_date", "record", "experiment"}
    assert deployment.get("enforce_parameter_schema", True) is True


def test_daily_runs_every_morning_beijing_time_one_at_a_time() -> None:
    daily = next(d for d in DEPLOYMENTS if d["name"] == "daily")
    [schedule] = daily["schedules"]
    assert schedule["cron"] == "0 10 * * *"  # after the NHC's morning bulletin
    assert schedule["timezone"] == "Asia/Shanghai"
    assert schedule.get("active", True) is True
    assert daily["concurrency_limit"] == 1


def test_manual_has_no_schedule_and_all_use_the_process_pool() -> None:
    manual = next(d for d in DEPLOYMENTS if d["name"] == "manual")
    assert not manual.get("schedules")
    assert {d["work_pool"]["name"] for d in DEPLOYMENTS} == {"hotspot-process"}


def test_no_machine_specific_paths() -> None:
    project = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    [step] = project["pull"]
    assert step["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $PROJECT_ROOT }}"
    assert str(ROOT) not in (ROOT / "prefect.yaml").read_text()


def test_the_daily_schedule_says_its_timezone() -> None:
    daily = next(d for d in DEPLOYMENTS if d["name"] == "daily")
    assert "10:00 Beijing time (Asia/Shanghai, UTC+8)" in daily["description"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_each_run_learns_the_allowed_roots_from_the_deployment(deployment: dict) -> None:
    # Resolved at deploy time from ALLOWED_ROOTS (make deploy), then part of every flow run's environment.
    env = deployment["work_pool"]["job_variables"]["env"]
    assert env == {"HOTSPOT_ALLOWED_ROOTS": "{{ $HOTSPOT_ALLOWED_ROOTS }}"}


def test_an_unresolved_placeholder_allows_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.store import PROJECT_ROOT, allowed_roots

    monkeypatch.setenv("HOTSPOT_ALLOWED_ROOTS", "{{ $HOTSPOT_ALLOWED_ROOTS }}")
    assert allowed_roots() == [PROJECT_ROOT]
    monkeypatch.setenv("HOTSPOT_ALLOWED_ROOTS", "/srv/a:/srv/b")
    assert allowed_roots() == [PROJECT_ROOT, Path("/srv/a"), Path("/srv/b")]
