"""Region chunks of train, predict and extract on a Dask cluster (a scheduler and two workers on 127.0.0.1) give the
in-process result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import hotspot_pipeline
from tasks.config import PipelineConfig
from tasks.overrides import apply_overrides
from tests.conftest import synthetic_pair

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

ROOT = Path(__file__).resolve().parents[2]
RUN_DATE = date(2026, 11, 27)
REGIONS = ("Alpha", "Bravo", "Charlie", "Delta", "Echo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dask scheduler` plus two single-threaded `dask worker` processes, as an operator would start them."""
    from distributed import Client
    from prefect.settings import PREFECT_API_URL

    logs = tmp_path_factory.mktemp("dask-logs")
    address = f"tcp://127.0.0.1:{free_port()}"
    # Workers run Prefect tasks: they need the project importable and the same Prefect API as the flow.
    env = os.environ | {"PYTHONPATH": str(ROOT), "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard"],
        *[[str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"]
          for i in (1, 2)],
    ]  # fmt: skip
    processes = []
    for i, command in enumerate(commands):
        with open(logs / f"{i}.log", "wb") as log:
            processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def regions_input(folder: Path) -> Path:
    """Five synthetic regions of 60 days, each with its own series and one surge."""
    frames = [synthetic_pair(days=60, surge=(40 + k,), seed=k).assign(region=name) for k, name in enumerate(REGIONS)]
    path = folder / "regions.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_dask_cluster_gives_the_in_process_report(dask_cluster: str, tmp_path: Path) -> None:
    source = regions_input(tmp_path)
    config = apply_overrides(PipelineConfig(), {"train.epochs": 3, "compute.regions_per_chunk": 2})
    local = hotspot_pipeline(config=config, input_path=str(source), store_dir=str(tmp_path / "local"),
                             run_date=RUN_DATE)  # fmt: skip
    on_dask = apply_overrides(config, {"compute.dask_address": dask_cluster})
    remote = hotspot_pipeline(config=on_dask, input_path=str(source), store_dir=str(tmp_path / "dask"),
                              run_date=RUN_DATE)  # fmt: skip

    cards = [
        pd.read_json(next((tmp_path / name / "04_train" / "registry").glob("*/model_card.json")), typ="series")
        for name in ("local", "dask")
    ]
    assert cards[0]["trained_where"] == "in process" and cards[1]["trained_where"] == dask_cluster
    assert cards[0]["regions"] == list(REGIONS) == cards[1]["regions"]
    assert cards[0]["final_loss_by_region"] == cards[1]["final_loss_by_region"]  # same chunks, same seeds: same bits

    # The forecaster's and the detectors' chunks ran on the cluster too, and gave the same tables bit for bit.
    for layer, name, where in (("05_predict", "forecasts", "forecast_where"), ("06_extract", "detections",
                                                                                "detect_where")):  # fmt: skip
        tables, places = [], []
        for store in ("local", "dask"):
            folder = next((tmp_path / store / layer).glob("run_date=*"))
            tables.append(pd.read_parquet(folder / f"{name}.parquet"))
            places.append(json.loads((folder / "_manifest.json").read_text())[where])
        assert places == ["in process", dask_cluster]
        pd.testing.assert_frame_equal(tables[0], tables[1])
    a, b = pd.read_parquet(local["report"]), pd.read_parquet(remote["report"])
    assert set(a["region"]) == set(REGIONS) and len(a) == 5 * 58
    pd.testing.assert_frame_equal(a, b)
    assert a["is_hotspot"].any()
