"""Many regions: the whole flow (ingest to report) on 1,000 to 20,000 synthetic regions x 120 days, in process and
on a local Dask cluster (issues 6 and 16).

For each size, one new ``hotspot run`` process on an empty store (embedded Prefect server,
validation, grouped training in chunks, prediction and the forecaster, every detector, report), measured from
outside: wall seconds and peak RSS (the largest process of the run's tree). The flow's own
stage durations come from its task log lines (each stage's "Finished" time minus the previous
one's), and the training stage's fit time from the model card.

``--dask-regions N`` adds one run of N regions with ``compute.dask_address`` set: a Prefect server, a Dask
scheduler and ``--workers`` single-threaded worker processes on 127.0.0.1 (as docs/scaling.md starts them); the
driver's peak RSS is measured as above, each worker's from its /proc status (VmHWM) after the run.

From the in-process sizes it fits each stage's cost as a + b x regions (least squares) and prints the cost
model: seconds per 1,000 regions and per region chunk, MB of peak RSS per 1,000 regions, and what it predicts
for 100,000 regions on 1 to 16 workers (the chunked stages divided over the workers, the rest in the driver).

The yardstick is the study's method done one region at a time: a plain Keras ``model.fit`` per
region (bench/reference_fit.py), timed on a sample of regions in a separate process of the same
run and extrapolated linearly (sample mean x regions), which is stated as such in the output.
It counts only the fits, not their imports, data handling or any report, so it flatters the
one-by-one approach.

Synthetic data: per region a level drawn log-uniformly from 1 to 1,000 cases a day, a smooth
epidemic wave, negative-binomial noise, a driver about 3 x the target, about 5 % of driver days
missing, and one three-day surge in the target.

Run: ``.venv/bin/python bench/scale.py [--regions 1000 10000] [--big] [--dask-regions 10000] [--workers 2]``
(``--big`` adds 20,000 regions in process; ``--dask-regions 0`` skips the Dask run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import measure, prefect_server  # bench/ is not a package: its folder is put on sys.path above

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAYS = 120
FINISHED = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO +\| Task run '([a-z-]+)-[0-9a-f]+' - Finished", re.M)
STARTED = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO +\| Flow run .* - Beginning flow run", re.M)


def synthetic_regions(n: int, seed: int = 0) -> pd.DataFrame:
    """n regions x DAYS days -> canonical-named frame date, region, confirmed, asymptomatic (driver gaps empty)."""
    rng = np.random.default_rng(seed)
    t = np.arange(DAYS)
    frames = []
    for k in range(n):
        level = 10 ** rng.uniform(0, 3)
        wave = level * (0.4 + np.exp(-(((t - rng.uniform(20, 100)) / rng.uniform(10, 30)) ** 2)))
        driver = rng.negative_binomial(20, 20 / (20 + 3 * wave)).astype(float)
        target = rng.negative_binomial(20, 20 / (20 + wave)).astype(float)
        start = rng.integers(30, DAYS - 5)
        target[start : start + 3] += np.ceil(3 * np.sqrt(wave[start : start + 3] + 1) + 3)
        driver[rng.random(DAYS) < 0.05] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.date_range("2022-05-14", periods=DAYS, freq="D"),
                    "region": f"R{k:05d}",
                    "confirmed": target,
                    "asymptomatic": driver,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def stage_seconds(log: str) -> dict[str, float]:
    """Prefect console log -> {stage: seconds from the previous stage's end (or the flow's start) to its end}."""

    def clock(text: str) -> float:
        moment = datetime.strptime(text, "%H:%M:%S.%f")
        return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6

    begun = STARTED.search(log)
    previous = clock(begun.group(1)) if begun else None
    out: dict[str, float] = {}
    for moment, name in FINISHED.findall(log):
        now = clock(moment)
        if previous is not None:
            out[name] = out.get(name, 0.0) + now - previous
        previous = now
    return out


KERAS_SAMPLE = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numpy as np, pandas as pd
from reference_fit import reference_fit, scaled_windows, setup
setup()
import keras  # noqa: F401
frame = pd.read_parquet({data!r})
seconds = []
for region, rows in list(frame.groupby("region"))[: {sample}]:
    x, y = scaled_windows(rows["asymptomatic"].to_numpy(dtype="float64"), 2)
    seconds.append(reference_fit(x, y, seed=0)[2])
print(json.dumps(seconds))
"""


def keras_per_region(frame: pd.DataFrame, sample: int, folder: Path, env: dict[str, str]) -> list[float]:
    """Seconds inside plain Keras ``model.fit`` for each of ``sample`` regions, in one new process."""
    data = folder / "sample.parquet"
    frame.to_parquet(data)
    code = KERAS_SAMPLE.format(root=str(ROOT), bench=str(ROOT / "bench"), data=str(data), sample=sample)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


STAGES = ("ingest", "validate", "scale", "train", "predict", "extract", "report", "publish")
CHUNKED = ("train", "predict", "extract")
"""The stages whose region chunks run on the Dask workers; the others run in the driver."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_peak_rss_mib(pid: int) -> float:
    """Largest VmHWM (peak resident set) among a process and its descendants, in MiB (Linux /proc)."""
    peak, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        peak = max(peak, int(match.group(1)) / 1024 if match else 0.0)
        todo += [int(child) for child in children]
    return peak


@contextmanager
def dask_cluster(env: dict[str, str], workers: int, folder: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and ``workers`` single-threaded workers on 127.0.0.1 -> (address, worker processes)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = env | {"PYTHONPATH": str(ROOT)}
    scheduler = [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                 "--no-dashboard"]  # fmt: skip
    commands = [scheduler] + [
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"]
        for i in range(1, workers + 1)
    ]
    processes = []
    for i, command in enumerate(commands):
        with open(folder / f"dask-{i}.log", "wb") as log:
            processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def one_run(frame: pd.DataFrame, n: int, folder: Path, env: dict[str, str], keras_fit: float, extra: list[str]) -> dict:
    """One ``hotspot run`` of the first n regions on an empty store -> its row of the table."""
    source = folder / f"regions-{n}.csv"
    frame[frame["region"] < f"R{n:05d}"].to_csv(source, index=False, date_format="%Y-%m-%d")
    store = folder / f"store-{n}{'-dask' if extra else ''}"
    command = [str(BIN / "hotspot"), "run", "--input", str(source), "--store", str(store),
               "--run-date", "2026-11-27", *extra]  # fmt: skip
    result = measure(command, env)
    stages = stage_seconds(result["err"] + result["out"])
    card = json.loads(next((store / "04_train" / "registry").glob("*/model_card.json")).read_text())
    report = pd.read_parquet(store / "07_report" / "latest" / "report.parquet")
    source.unlink()
    return {
        "regions": n,
        "where": "dask" if extra else "in process",
        "wall_s": result["seconds"],
        "per_region_ms": 1000 * result["seconds"] / n,
        "peak_rss_mib": result["rss_kib"] / 1024,
        "fit_s": card["fit_seconds"],
        "hotspots": int(report["is_hotspot"].sum()),
        "keras_one_by_one_s (extrapolated)": keras_fit * n,
        "ratio": keras_fit * n / result["seconds"],
        **{f"{k}_s": stages.get(k, float("nan")) for k in STAGES},
    }


def cost_model(table: pd.DataFrame, chunk: int) -> None:
    """Fit a + b x regions per stage on the in-process runs and print the model and its 100k prediction."""
    local = table[table["where"] == "in process"]
    if local["regions"].nunique() < 2:
        return
    x = local["regions"].to_numpy(dtype="float64")
    lines, per_region = [], {}
    for stage in STAGES:
        y = local[f"{stage}_s"].to_numpy(dtype="float64")
        if not np.isfinite(y).all():
            continue
        b, a = np.polyfit(x, y, 1)
        per_region[stage] = (a, b)
        lines.append(f"  {stage:9s} {a:7.1f} s + {1000 * b:7.2f} s per 1,000 regions ({b * chunk:6.2f} s per chunk "
                     f"of {chunk})")  # fmt: skip
    rss_b, rss_a = np.polyfit(x, local["peak_rss_mib"].to_numpy(dtype="float64"), 1)
    print(f"\nCost model (least squares over {', '.join(str(int(v)) for v in x)} regions, in process):")
    print("\n".join(lines))
    print(f"  peak RSS  {rss_a:7.0f} MiB + {1000 * rss_b:7.1f} MiB per 1,000 regions")
    print("\nPredicted for 100,000 regions x 120 days (chunked stages over the workers, the rest in the driver):")
    for workers in (1, 2, 4, 8, 16):
        total = sum(a + b * 100_000 / (workers if stage in CHUNKED else 1) for stage, (a, b) in per_region.items())
        print(f"  {workers:2d} worker(s): {total / 60:7.1f} min")
    print(f"  driver peak RSS (in process): {(rss_a + rss_b * 100_000) / 1024:.1f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--big", action="store_true", help="add 20,000 regions in process")
    parser.add_argument("--dask-regions", type=int, default=10000, help="regions of the Dask run (0 = none)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (one thread each)")
    parser.add_argument("--sample", type=int, default=3, help="regions fitted one by one with plain Keras")
    args = parser.parse_args()
    sizes = sorted(set(args.regions + ([20000] if args.big else [])))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "HOTSPOT_ALLOWED_ROOTS": tmp}
        biggest = synthetic_regions(max([*sizes, args.dask_regions]))
        per_fit = keras_per_region(biggest, args.sample, Path(tmp), env)
        keras_fit = float(np.mean(per_fit))
        print(
            f"plain Keras model.fit, one region at a time: {', '.join(f'{s:.2f}' for s in per_fit)} s for "
            f"{len(per_fit)} sample regions -> {keras_fit:.2f} s per region (fit only; extrapolated below)",
            flush=True,
        )
        # Warm-up: the first run in a new PREFECT_HOME creates Prefect's database; no real run pays that.
        warm = Path(tmp) / "warm.csv"
        biggest[biggest["region"] == "R00000"].to_csv(warm, index=False, date_format="%Y-%m-%d")
        measure([str(BIN / "hotspot"), "run", "--input", str(warm), "--store", str(Path(tmp) / "warm"),
                 "--run-date", "2026-11-27"], env)  # fmt: skip
        for n in sizes:
            rows.append(one_run(biggest, n, Path(tmp), env, keras_fit, []))
            print(json.dumps(rows[-1]), flush=True)
        if args.dask_regions:
            with prefect_server(env, free_port()) as api:
                served = env | {"PREFECT_API_URL": api}
                with dask_cluster(served, args.workers, Path(tmp)) as (address, workers):
                    row = one_run(biggest, args.dask_regions, Path(tmp), served, keras_fit,
                                  ["--set", f"compute.dask_address={address}"])  # fmt: skip
                    peaks = [tree_peak_rss_mib(worker.pid) for worker in workers]
                    row |= {"where": f"dask, {args.workers} workers", "worker_peak_rss_mib": max(peaks)}
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    print("\nWhole flow, new process, empty store (wall = ingest to report incl. Prefect's temporary server):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    cost_model(table, 512)


if __name__ == "__main__":
    main()
