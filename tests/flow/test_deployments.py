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
    assert set(params) <= {"config", "input_path", "store_dir", "run_date"}
    assert deployment.get("enforce_parameter_schema", True) is True
