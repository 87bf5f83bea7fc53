"""Many regions: the whole flow (ingest to report) on 1 to 5,000 synthetic regions x 120 days (issue 6).

For each size, one new ``hotspot run`` process on an empty store (embedded Prefect server,
validation, grouped training in chunks, prediction, every detector, report), measured from
outside: wall seconds and peak RSS (the largest process of the run's tree). The flow's own
stage durations come from its task log lines (each stage's "Finished" time minus the previous
one's), and the training stage's fit time from the model card.

The yardstick is the study's method done one region at a time: a plain Keras ``model.fit`` per
region (bench/reference_fit.py), timed on a sample of regions in a separate process of the same
run and extrapolated linearly (sample mean x regions), which is stated as such in the output.
It counts only the fits, not their imports, data handling or any report, so it flatters the
one-by-one approach.

Synthetic data: per region a level drawn log-uniformly from 1 to 1,000 cases a day, a smooth
epidemic wave, negative-binomial noise, a driver about 3 x the target, about 5 % of driver days
missing, and one three-day surge in the target.

Run: ``.venv/bin/python bench/scale.py [--regions 1 34 1000 5000] [--sample 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import measure  # bench/ is not a package: its folder is put on sys.path above

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 34, 1000, 5000])
    parser.add_argument("--sample", type=int, default=3, help="regions fitted one by one with plain Keras")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "HOTSPOT_ALLOWED_ROOTS": tmp}
        biggest = synthetic_regions(max(args.regions))
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
        for n in args.regions:
            source = Path(tmp) / f"regions-{n}.csv"
            biggest[biggest["region"] < f"R{n:05d}"].to_csv(source, index=False, date_format="%Y-%m-%d")
            store = Path(tmp) / f"store-{n}"
            command = [str(BIN / "hotspot"), "run", "--input", str(source), "--store", str(store),
                       "--run-date", "2026-11-27"]  # fmt: skip
            result = measure(command, env)
            stages = stage_seconds(result["err"] + result["out"])
            card = json.loads(next((store / "04_train" / "registry").glob("*/model_card.json")).read_text())
            report = pd.read_parquet(store / "07_report" / "latest" / "report.parquet")
            rows.append(
                {
                    "regions": n,
                    "wall_s": result["seconds"],
                    "per_region_ms": 1000 * result["seconds"] / n,
                    "peak_rss_mib": result["rss_kib"] / 1024,
                    "fit_s": card["fit_seconds"],
                    "hotspots": int(report["is_hotspot"].sum()),
                    "keras_one_by_one_s (extrapolated)": keras_fit * n,
                    "ratio": keras_fit * n / result["seconds"],
                    **{f"{k}_s": v for k, v in stages.items()},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    print("\nWhole flow, new process, empty store (wall = ingest to report incl. Prefect's temporary server):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if len(table) > 1:
        marginal = np.diff(table["wall_s"]) / np.diff(table["regions"])
        sizes = [f"{a}->{b}" for a, b in zip(table["regions"][:-1], table["regions"][1:], strict=True)]
        costs = ", ".join(f"{s}: {1000 * m:.1f}" for s, m in zip(sizes, marginal, strict=True))
        print(f"\nCost per added region (ms): {costs}")


if __name__ == "__main__":
    main()
