"""The pipeline's cost against the study's plain Keras script, side by side in one run (issue 7).

Each repetition runs, as new processes, interleaved so that machine load hits all alike:

- reference: ``bench/reference_fit.py`` (imports, data, ``model.fit``): the yardstick;
- cold run: ``hotspot run --input <national file>`` on an empty store (the study's data, one region: validation,
  training, detectors, report, figures);
- no new data: ``hotspot run`` again on that store (every stage skipped);
- both again with a running Prefect server (``PREFECT_API_URL`` set, as the deployments and ``make server`` run
  it) instead of the temporary server the CLI starts and stops in every process;
- for information, a cold run on the default shipped data (national + 32 provinces: 33 models, 33 reports).

The training stage's own time is the ``fit_seconds`` the pipeline records in the model card;
the reference's is its ``fit_s`` (time inside ``model.fit``). Peak RSS is the largest resident
set among the process and the children it waited for (the temporary server is one of them).

Run: ``.venv/bin/python bench/pipeline.py [--repeats 5]``. Prints medians (min-max) and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Measures one command: wall seconds and the peak RSS (KiB) of the command's process tree.
PROBE = (
    "import resource, subprocess, sys, time, json; s = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(json.dumps({'rc': p.returncode, 'seconds': time.perf_counter() - s, "
    "'rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'out': p.stdout, 'err': p.stderr}))"
)


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run a command in a fresh probe process -> {rc, seconds, rss_kib, out, err}; exits if the command failed."""
    done = subprocess.run([sys.executable, "-c", PROBE, *command], env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result['err'][-3000:]}")
    return result


@contextmanager
def prefect_server(env: dict[str, str], port: int = 4297) -> Iterator[str]:
    """A Prefect server on 127.0.0.1 for the length of the benchmark -> its API URL."""
    api = f"http://127.0.0.1:{port}/api"
    log = open(Path(env["PREFECT_HOME"]) / "bench-server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env | {"PREFECT_UI_ENABLED": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"the Prefect server did not start; see {log.name}") from None
                time.sleep(0.5)
        yield api
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
        hotspot = [str(BIN / "hotspot"), "run", "--run-date", "2026-11-27"]
        national = ["--input", str(ROOT / "data" / "source" / "china_nhc_national_2022.csv")]
        # Warm-up: Prefect creates its database once (migrations); no measured run pays for that.
        measure([*hotspot, *national, "--store", str(Path(tmp) / "warm")], env)

        rows: dict[str, dict[str, list[float]]] = {}

        def add(case: str, seconds: float, rss_kib: float, stage_s: float | None = None) -> None:
            row = rows.setdefault(case, {"seconds": [], "rss_mib": [], "stage_s": []})
            row["seconds"].append(seconds)
            row["rss_mib"].append(rss_kib / 1024)
            if stage_s is not None:
                row["stage_s"].append(stage_s)

        def fit_seconds(store: Path) -> float:
            return json.loads(next((store / "04_train" / "registry").glob("*/model_card.json")).read_text())[
                "fit_seconds"
            ]

        with prefect_server(env) as api:
            served = env | {"PREFECT_API_URL": api}
            for i in range(args.repeats):
                ref = measure([sys.executable, str(ROOT / "bench" / "reference_fit.py"), "--json"], env)
                figures = json.loads(ref["out"].strip().splitlines()[-1])
                add("reference script", ref["seconds"], ref["rss_kib"], figures["fit_s"])

                for label, run_env in (("temporary server", env), ("running server", served)):
                    store = Path(tmp) / f"store-{i}-{label.split()[0]}"
                    cold = measure([*hotspot, *national, "--store", str(store)], run_env)
                    add(f"hotspot run, cold, {label}", cold["seconds"], cold["rss_kib"], fit_seconds(store))
                    rerun = measure([*hotspot, "--store", str(store)], run_env)
                    assert "train skipped" in rerun["out"], rerun["out"][-500:]
                    add(f"hotspot run, no new data, {label}", rerun["seconds"], rerun["rss_kib"])

                store = Path(tmp) / f"store-{i}-shipped"
                shipped = measure([*hotspot, "--store", str(store)], env)
                add("hotspot run, cold, 33 regions (shipped data), temporary server", shipped["seconds"],
                    shipped["rss_kib"], fit_seconds(store))  # fmt: skip
                print(
                    f"repeat {i + 1}/{args.repeats}: "
                    + ", ".join(f"{k} {v['seconds'][-1]:.1f} s" for k, v in rows.items()),
                    flush=True,
                )

    ref_total = statistics.median(rows["reference script"]["seconds"])
    ref_fit = statistics.median(rows["reference script"]["stage_s"])
    print(f"\nmedians of {args.repeats} (min-max); ratios are medians over the reference script's")
    print("| case | wall s | vs reference total | training s | vs reference fit | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for case, row in rows.items():
        stage = row["stage_s"]
        training = summary(stage) if stage else "-"
        speedup = f"{ref_fit / statistics.median(stage):.1f}x faster" if stage and case != "reference script" else "-"
        ratio = statistics.median(row["seconds"]) / ref_total
        print(
            f"| {case} | {summary(row['seconds'])} | {ratio:.2f} | {training} | {speedup} | "
            f"{statistics.median(row['rss_mib']):.0f} |"
        )


if __name__ == "__main__":
    main()
