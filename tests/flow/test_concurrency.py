"""Two runs on one store at once: serialised by the store lock, nothing corrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
HOTSPOT = str(Path(sys.executable).with_name("hotspot"))


def start(store: Path, home: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    # One region keeps the 3000 epochs to a few seconds of training.
    args = [HOTSPOT, "run", "--store", str(store), "--run-date", "2026-11-27", "--region", "CN",
            "--set", "train.epochs=3000", *extra]  # fmt: skip
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(store: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lock = store / ".lock"
        if lock.exists() and lock.read_text().startswith("flow run"):
            return
        time.sleep(0.1)
    raise AssertionError("the first run never took the store lock")


def test_second_run_waits_or_fails_fast_and_nothing_is_corrupted(tmp_path: Path) -> None:
    store, home = tmp_path / "store", tmp_path / "prefect"
    first = start(store, home)  # 3000 epochs: long enough that the others arrive while it holds the lock
    wait_for_lock(store)
    impatient = start(store, home, "--set", "lock_wait_s=0")
    patient = start(store, home)
    out_impatient = impatient.communicate(timeout=300)
    out_first = first.communicate(timeout=300)
    out_patient = patient.communicate(timeout=300)

    assert first.returncode == 0, out_first[1][-2000:]
    assert patient.returncode == 0, out_patient[1][-2000:]
    assert impatient.returncode == 1
    errors = [line for line in out_impatient[1].splitlines() if line.startswith("hotspot: error:")]
    assert len(errors) == 1 and "another run is using the store" in errors[0] and "flow run" in errors[0]

    # The waiting run found everything done and recomputed nothing; the report is whole and readable.
    assert "ingest skipped" in out_patient[0] and "report skipped" in out_patient[0]
    report = pd.read_parquet(store / "07_report" / "latest" / "report.parquet")
    assert len(report) == 120
    ledger = pd.read_parquet(store / "00_raw" / "ledger.parquet")
    assert len(ledger) == 2  # the shipped national and provincial files, each received once
    # No temporary file is left; the only dot-names are the lock and the live folders behind the links
    # that are switched atomically (latest/, data_docs/).
    sites = {p.resolve() for p in store.rglob("*") if p.is_symlink()}
    leftovers = [p for p in store.rglob(".*") if p.name not in {".lock", ".published"} and p.resolve() not in sites]
    assert leftovers == []
