"""The operating path for real: a Prefect server, the process work pool, prefect.yaml deployed, a worker.

Everything runs in subprocesses through ``scripts/prefect-local.sh`` (what ``make server``, ``make
pool``, ``make deploy`` and ``make stop`` call) with a temporary PREFECT_HOME, a free port and an
explicit environment. This module does not use the session's ``prefect_api`` harness and changes no
setting of the test process, so other tests are unaffected.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OPS = ROOT / "scripts" / "prefect-local.sh"
POOL = "hotspot-process"
RUN_DATE = "2026-11-27"
THRESHOLD = 25.0
REPORT_ARTIFACTS = {"hotspots", "run-summary", "hotspot-report", "figure-detection", "figure-top-regions"}
"""Keys published by tasks/report/publish.py."""

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class LocalServer:
    api: str
    home: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc; the worker starts flow runs in their own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` that are still Prefect processes (a pid may have been reused meanwhile)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"prefect" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def run(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with a hard time limit; on time-out kill it *and* its descendants, then fail."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill([*_descendants(proc.pid), proc.pid])
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"{' '.join(cmd[-4:])} did not finish within {timeout:.0f} s; output tail:\n{out[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def ops(command: str, server: LocalServer, timeout: float = 120) -> str:
    """``scripts/prefect-local.sh COMMAND`` (a make target's body); fails the test unless it succeeds."""
    done = run([str(OPS), command], server.env, timeout)
    assert done.returncode == 0, f"prefect-local.sh {command} failed:\n{done.stdout[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A real Prefect server on a free 127.0.0.1 port, the work pool, and prefect.yaml deployed."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    # Children get exactly this environment: nothing PREFECT_* leaks in from the test session or the shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "PROJECT_ROOT"}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_PORT": str(port),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "BIN": str(BIN),
        "PREFECT_STOP_TIMEOUT": "15",
        # make deploy ALLOWED_ROOTS=...: the deployments' runs may use stores in the temporary folder.
        "ALLOWED_ROOTS": tempfile.gettempdir(),
    }
    local = LocalServer(api=api, home=home, env=env)
    try:
        ops("server", local, timeout=150)
        ops("pool", local)
        assert "already exists" in ops("pool", local)  # idempotent
        ops("deploy", local)
        yield local
    finally:
        pids = [int(p.read_text()) for p in home.glob("*.pid") if p.read_text().strip().isdigit()]
        family = [d for pid in pids for d in _descendants(pid)]
        try:
            run([str(OPS), "stop"], env, timeout=90)
        finally:
            _kill([*family, *pids])  # whatever `stop` left behind


@pytest.fixture(scope="module")
def client(server: LocalServer) -> Iterator[SyncPrefectClient]:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(server.api) as c:
        yield c


def test_prefect_yaml_deploys_daily_and_manual(server: LocalServer, client: SyncPrefectClient) -> None:
    daily = client.read_deployment_by_name("hotspot-pipeline/daily")
    [schedule] = daily.schedules
    assert schedule.active
    assert schedule.schedule.cron == "0 10 * * *"
    assert schedule.schedule.timezone == "Asia/Shanghai"
    assert daily.global_concurrency_limit is not None and daily.global_concurrency_limit.limit == 1

    manual = client.read_deployment_by_name("hotspot-pipeline/manual")
    assert manual.schedules == []
    for deployment in (daily, manual):
        assert deployment.work_pool_name == POOL
        assert deployment.enforce_parameter_schema
        # PROJECT_ROOT was resolved at deploy time: the worker runs flows in this repository.
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]


def test_bad_parameters_are_rejected_by_the_server(server: LocalServer, client: SyncPrefectClient) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    # As a user sees it on the command line ...
    bad = 'config={"train": {"epochs": "abc"}}'
    cmd = [str(BIN / "prefect"), "deployment", "run", "hotspot-pipeline/manual", "-p", bad]
    done = run(cmd, server.env, timeout=60)
    assert done.returncode == 1
    message = " ".join(done.stdout.split())  # rich wraps long lines
    assert "Validation failed for field 'config.train.epochs'" in message
    assert "'abc' is not of type 'integer'" in message

    # ... and as the API answers it.
    manual = client.read_deployment_by_name("hotspot-pipeline/manual")
    with pytest.raises(PrefectHTTPStatusError) as rejected:
        client.create_flow_run_from_deployment(manual.id, parameters={"config": {"train": {"epochs": 0}}})
    assert rejected.value.response.status_code == 409
    detail = rejected.value.response.json()["detail"]
    assert "config.train.epochs" in detail and "0 is less than the minimum of 1" in detail
    with pytest.raises(PrefectHTTPStatusError, match="409"):
        client.create_flow_run_from_deployment(manual.id, parameters={"config": {"extract": {"threshold": 5}}})


def test_manual_deployment_runs_on_a_worker(server: LocalServer, client: SyncPrefectClient, tmp_path: Path) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    store = tmp_path / "store"
    manual = client.read_deployment_by_name("hotspot-pipeline/manual")
    flow_run = client.create_flow_run_from_deployment(
        manual.id,
        parameters={
            "config": {"train": {"epochs": 2}, "extract": {"threshold_pct": THRESHOLD}, "detect": {"decider": "seed"}},
            "store_dir": str(store),
            "run_date": RUN_DATE,
        },
    )

    # One poll of the pool; --run-once returns when the run it picked up has finished.
    started = time.monotonic()
    worker = run([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once"], server.env, timeout=300)
    elapsed = time.monotonic() - started

    state = client.read_flow_run(flow_run.id).state
    assert state is not None and state.is_completed(), (
        f"flow run ended {state and state.name} after {elapsed:.0f} s; worker output tail:\n{worker.stdout[-4000:]}"
    )

    artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    by_key = {a.key: a for a in artifacts if a.key}
    assert set(by_key) >= REPORT_ARTIFACTS, f"artifacts of the run: {sorted(by_key)}"
    assert f"deviation > {THRESHOLD:g} %" in by_key["run-summary"].data
    # A manual run is an experiment (tasks/provenance.py): its record is under experiments/<name>/.
    [experiment] = (store / "experiments").iterdir()
    assert experiment.name.startswith("manual-")
    assert (experiment / "07_report").as_uri() in by_key["hotspot-report"].data
    assert not (store / "07_report").exists()
    hot_rows = json.loads(by_key["hotspots"].data)
    assert all(row["is_hotspot"] and row["deviation_pct"] > THRESHOLD for row in hot_rows)
    # The figures are images in the Artifacts tab: markdown with a data: URI (a browser refuses file:// links).
    for key in ("figure-detection", "figure-top-regions"):
        assert "](data:image/png;base64," in by_key[key].data

    reports = sorted(experiment.glob(f"07_report/*{RUN_DATE}*/report.parquet"))
    assert reports, f"no report for {RUN_DATE} under {store}: {sorted(store.rglob('report.parquet'))}"
    report = pd.read_parquet(reports[0])
    scored = report[report["deviation_pct"].notna()]
    assert len(scored) > 0
    assert (scored["is_hotspot"] == (scored["deviation_pct"] > THRESHOLD)).all()
    assert not report.loc[report["deviation_pct"].isna(), "is_hotspot"].any()
    # Days the default threshold (10 %) would have flagged are not hotspots at 25 %.
    assert (~scored["is_hotspot"] & (scored["deviation_pct"] > 10)).any()


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that keeps every JSON body POSTed to it (the webhook's far end)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return list(self.bodies)


def test_new_hotspots_send_one_notification_per_batch(server: LocalServer, tmp_path: Path) -> None:
    from tests.conftest import synthetic_pair

    receiver = Receiver()
    try:
        out = ops("alerts", LocalServer(server.api, server.home, server.env | {"WEBHOOK_URL": receiver.url}))
        assert "Automation 'hotspot-new-hotspots'" in out and receiver.url in out

        frame = synthetic_pair(days=81, surge=(70,), factor=3.0)
        store, data = tmp_path / "store", tmp_path / "counts.csv"

        def hotspot_run(days: int, run_date: str) -> str:
            frame.head(days).to_csv(data, index=False)
            cmd = [str(BIN / "hotspot"), "run", "--input", str(data), "--store", str(store), "--run-date", run_date,
                   "--set", "train.epochs=3"]  # fmt: skip
            done = run(cmd, server.env, timeout=300)  # PREFECT_API_URL: the run reports to this server
            assert done.returncode == 0, done.stdout[-3000:]
            return " ".join(done.stdout.split())

        # 1. A surge on 2022-03-12: one batch of new hotspots, one notification.
        first = hotspot_run(80, "2026-11-20")
        assert "new hotspot(s) in 1 region(s): CN (" in first and "2022-03-12" in first, first
        [note] = receiver.wait_for(1, timeout=90)
        assert note["event"] == "hotspot.batch"
        assert note["subject"].startswith("Hotspot Miner: ") and "run date 2026-11-20" in note["subject"]
        assert "- CN 2022-03-12: surge, " in note["body"]
        assert "report.parquet" in note["body"]

        # 2. The same data again: no new hotspot, nothing sent.
        assert "; no new hotspot" in hotspot_run(80, "2026-11-21")

        # 3. A new day with its own surge: exactly one more notification, naming only the new day.
        frame.loc[80, "confirmed"] *= 3
        third = hotspot_run(81, "2026-11-22")
        assert "2022-03-22" in third, third
        notes = receiver.wait_for(2, timeout=90)
        time.sleep(10)  # a notification from run 2, had there been one, would have arrived by now
        assert len(receiver.bodies) == 2, [n["subject"] for n in receiver.bodies]
        assert "2022-03-22" in notes[1]["body"] and "2022-03-12" not in notes[1]["body"]
        print(f"\nnotification 1:\n{notes[0]['subject']}\n{notes[0]['body']}\nnotification 2:\n{notes[1]['body']}")
    finally:
        receiver.http.shutdown()
