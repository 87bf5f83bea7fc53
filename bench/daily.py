"""Daily-operation costs, side by side in one run: full run vs one new day vs no new data.

Each measurement is a new `hotspot run` process (imports, embedded Prefect server, flow), as
the daily schedule would start it. Per repetition, on a fresh temporary store:

1. full:     the shipped history minus its last day, into an empty store (trains a model);
2. new day:  the last day dropped into incoming/, next run date (retrain policy decides);
3. no data:  the same run date again, nothing new.

Run: ``.venv/bin/python bench/daily.py [--repeats 5]``. Prints medians, min-max and ratios, and
which stages ran in each case. Timings depend on machine load; compare within one run only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "source" / "china_nhc_national_2022.csv"
HOTSPOT = str(Path(sys.executable).with_name("hotspot"))


def run(args: list[str], home: Path) -> tuple[float, str]:
    """Time one `hotspot` process -> (seconds, the 'Run date ...' stage line)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    started = time.perf_counter()
    done = subprocess.run([HOTSPOT, "run", *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hotspot {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    stages = next(line for line in done.stdout.splitlines() if line.startswith("Run date"))
    return seconds, stages


def ran(stage_line: str) -> str:
    """'Run date D: ingest ran, validate skipped (...), ...' -> 'ingest, ...' (the stages that computed)."""
    parts = stage_line.split(": ", 1)[1].split(", ")
    names = [p.split(" ")[0] for p in parts if p.split(" ", 1)[1].startswith(("ran", "trained"))]
    return ", ".join(names) or "nothing"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    source = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
    times: dict[str, list[float]] = {"full": [], "new day": [], "no data": []}
    stages: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "prefect"
        source.iloc[:-1].to_csv(work / "history.csv", index=False)
        source.iloc[[-1]].to_csv(work / "last-day.csv", index=False)
        # Warm-up: creates Prefect's database (migrations) so that no measured run pays for it.
        run(["--input", str(work / "history.csv"), "--store", str(work / "warm"), "--run-date", "2022-09-12"], home)
        for i in range(args.repeats):
            store = work / f"store{i}"
            t, line = run(
                ["--input", str(work / "history.csv"), "--store", str(store), "--run-date", "2022-09-12"], home
            )
            times["full"].append(t)
            stages["full"] = ran(line)
            (store / "incoming").mkdir()
            shutil.copy(work / "last-day.csv", store / "incoming" / "last-day.csv")
            t, line = run(["--store", str(store), "--run-date", "2022-09-13"], home)
            times["new day"].append(t)
            stages["new day"] = ran(line)
            t, line = run(["--store", str(store), "--run-date", "2022-09-13"], home)
            times["no data"].append(t)
            stages["no data"] = ran(line)
            print(f"repeat {i + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))

    full = statistics.median(times["full"])
    print("\n| case (new process each) | median s | min-max s | vs full | stages that computed |")
    print("|---|---:|---:|---:|---|")
    for case, values in times.items():
        median = statistics.median(values)
        print(f"| {case} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {median / full:.2f} | {stages[case]} |")


if __name__ == "__main__":
    main()
