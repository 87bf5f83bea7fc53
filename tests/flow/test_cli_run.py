"""The `hotspot` console script as users run it: new processes, the embedded Prefect server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.config import PipelineConfig

pytestmark = pytest.mark.slow
HOTSPOT = str(Path(sys.executable).with_name("hotspot"))


def hotspot(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([HOTSPOT, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_run_report_and_backfill_from_the_command_line(tmp_path: Path) -> None:
    store, home = str(tmp_path / "store"), tmp_path / "prefect"
    fast = ["--set", "train.epochs=2"]
    run = hotspot("run", "--store", store, "--run-date", "2026-11-27", *fast, home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Hotspots (" in run.stdout and f"report:  {store}/07_report/latest/report.parquet" in run.stdout
    assert f"decided by {PipelineConfig().detect.decider}" in run.stdout and "(detection)" in run.stdout
    assert "Traceback" not in run.stderr
    assert "regions of 33 regions" not in run.stdout and " of 33 regions, decided by" in run.stdout
    assert f"regions: {store}/07_report/latest/regions.parquet" in run.stdout and "(top_regions)" in run.stdout

    everything = hotspot("report", "--store", store, "--all", "--format", "json", home=home)
    assert everything.returncode == 0, everything.stderr
    assert len({row["region"] for row in json.loads(everything.stdout)}) == 33  # CN and the 32 provincial units
    rep = hotspot(
        "report", "--store", store, "--date", "2026-11-27", "--all", "--format", "json", "--region", "CN", home=home
    )
    assert rep.returncode == 0, rep.stderr
    rows = json.loads(rep.stdout)
    assert len(rows) == 120 and rows[0]["date"].startswith("2022-05-16")
    assert {row["trained_on"] for row in rows} == {"driver"}
    unknown = hotspot("report", "--store", store, "--region", "Atlantis", home=home)
    assert unknown.returncode == 1 and unknown.stderr.startswith("hotspot: error: region(s) Atlantis not in the report")

    hot = [row for row in rows if row["is_hotspot"]]
    assert hot, "the default detector flags no day of the shipped data"
    day = hot[0]["date"][:10]
    why = hotspot("explain", day, "--store", store, home=home)  # several regions: the national series by default
    assert why.returncode == 0, why.stderr
    assert why.stdout.startswith(f"{day} (CN): HOTSPOT (alarm, {hot[0]['direction']}) by {hot[0]['detector']}")
    ningxia = hotspot("explain", "2022-06-01", "--region", "Ningxia", "--store", store, home=home)
    assert ningxia.returncode == 0 and ningxia.stdout.startswith("2022-06-01 (Ningxia): not a hotspot")
    not_scored = hotspot("explain", "2022-05-14", "--store", store, home=home)
    assert not_scored.returncode == 1 and not_scored.stderr.startswith("hotspot: error: 2022-05-14 is not a scored")

    missing = hotspot("report", "--store", store, "--date", "2020-01-01", home=home)
    assert missing.returncode == 1
    assert missing.stderr.startswith("hotspot: error: no report for run date 2020-01-01")

    back = hotspot("backfill", "--start", "2022-07-01", "--end", "2022-07-02", "--store", store, *fast, home=home)
    assert back.returncode == 0, back.stderr[-2000:]
    lines = [line for line in back.stdout.splitlines() if line.startswith("[")]
    assert [line.split(":")[0] for line in lines] == ["[1/2] 2022-07-01", "[2/2] 2022-07-02"]


def test_bad_input_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("day,cases\n2022-01-01,1\n")
    result = hotspot("run", "--input", str(bad), "--store", str(tmp_path / "s"), home=tmp_path / "prefect")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # the run's stored logs keep it; the terminal gets one line
    errors = [line for line in result.stderr.splitlines() if line.startswith("hotspot: error:")]
    assert len(errors) == 1
    # A driver is optional now: only the target is required, and the message says how to name one's own.
    assert errors[0].startswith(
        "hotspot: error: IngestError: bad.csv: missing required column(s) confirmed; found 'day', 'cases'; accepted:"
    )
    assert errors[0].endswith("or name yours with ingest.target_column")


def test_a_rerun_without_new_data_imports_neither_tensorflow_nor_great_expectations(tmp_path: Path) -> None:
    store, home = str(tmp_path / "store"), tmp_path / "prefect"
    national = str(Path(__file__).resolve().parents[2] / "data" / "source" / "china_nhc_national_2022.csv")
    first = hotspot("run", "--store", store, "--input", national, "--set", "train.epochs=2", home=home)
    assert first.returncode == 0, first.stderr[-2000:]
    probe = (
        "import sys; from flows.cli import main; code = main(sys.argv[1:]); "
        "print('heavy:', sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', "
        "'great_expectations', 'scipy', 'dask', 'distributed'})); sys.exit(code)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    rerun = subprocess.run(
        [sys.executable, "-c", probe, "run", "--store", store, "--set", "train.epochs=2"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "ingest skipped" in rerun.stdout and "report skipped" in rerun.stdout
    assert "heavy: []" in rerun.stdout


def _children(pid: int) -> dict[int, str]:
    """{child pid: command line} of the live children of ``pid`` (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_temporary_server_ends_when_the_command_is_killed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    args = ["run", "--store", str(tmp_path / "store"), "--region", "CN", "--set", "train.epochs=2"]
    proc = subprocess.Popen(
        [HOTSPOT, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline, server = time.monotonic() + 120, None
        while server is None and time.monotonic() < deadline and proc.poll() is None:
            server = next((pid for pid, cmd in _children(proc.pid).items() if "uvicorn" in cmd), None)
            time.sleep(0.05)
        assert server is not None, "the run started no temporary server"
        proc.kill()  # SIGKILL: no exit hook of the command runs
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server), "the temporary server outlived the killed command"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def one_column_file(path: Path, weekly: bool) -> Path:
    """`date,cases`: one series, a custom column name, no driver; daily (200 days) or weekly (5 years)."""
    rng = np.random.default_rng(3)
    n = 260 if weekly else 200
    t = np.arange(n)
    mean = 30 * np.exp(0.3 * np.cos(2 * np.pi * t / 52)) if weekly else 20 + 5 * np.sin(t / 10)
    counts = rng.poisson(mean)
    counts[n - 10] += 80  # a surge: some detector flags it
    dates = pd.date_range("2020-01-06", periods=n, freq="7D" if weekly else "D")
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "cases": counts}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("weekly", [False, True], ids=["daily", "weekly"])
def test_one_column_with_its_own_name_runs_end_to_end(tmp_path: Path, weekly: bool) -> None:
    source = one_column_file(tmp_path / "cases.csv", weekly)
    store, home = str(tmp_path / "store"), tmp_path / "prefect"
    run = hotspot("run", "--input", str(source), "--target-column", "cases", "--store", store, "--run-date",
                  "2025-06-30", "--set", "train.epochs=3", home=home)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "received: input cases.csv: accepted" in run.stdout and "no driver column" in run.stdout
    assert ("scored weeks" if weekly else "scored days") in run.stdout
    rows = json.loads(hotspot("report", "--store", store, "--all", "--format", "json", home=home).stdout)
    assert len(rows) >= (250 if weekly else 190)
    assert {row["trained_on"] for row in rows} == {"target"}
    assert all("no driver was given" in row["model_note"] for row in rows)
    assert all(("-W" in row["period"]) == weekly for row in rows)
    hot = [row for row in rows if row["is_hotspot"]]
    assert hot, "the injected surge is not flagged"
    why = hotspot("explain", hot[-1]["date"][:10], "--store", store, home=home)
    assert why.returncode == 0 and "No driver series was given" in why.stdout
    detections = pd.read_parquet(Path(store) / "07_report" / "latest" / "detections.parquet")
    farrington = detections[detections["detector"] == "farrington"]
    # Weekly: 5 years are enough for b = 4 years of baseline; daily: 200 days are not, and the note says so.
    assert farrington["score"].notna().any() == weekly
    if not weekly:
        assert farrington["note"].str.startswith("needs 4 year(s) of history").all()
