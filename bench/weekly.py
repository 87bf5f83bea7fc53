"""Weekly data at scale: the whole flow on N weekly series of 5 years each, one column, no driver (issue 14).

Each series is a ``date,region,cases`` table (the improved Farrington method needs b = 4 years of history,
so 5 years give a year of scored weeks), run with ``hotspot run --target-column cases`` in a new process on
an empty store; wall seconds, peak RSS and each stage's seconds are printed (as bench/scale.py does).

Run: ``.venv/bin/python bench/weekly.py [--regions 1 1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import measure  # bench/ is not a package: its folder is put on sys.path above
from scale import stage_seconds

BIN = Path(sys.executable).parent
WEEKS = 260


def weekly_regions(n: int, seed: int = 0) -> pd.DataFrame:
    """n regions x 5 years of weekly counts: a log-uniform level from 1 to 500 a week, a yearly season, NB noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS)
    dates = pd.date_range("2020-01-06", periods=WEEKS, freq="7D").strftime("%Y-%m-%d")
    parts = []
    for k in range(n):
        mean = 10 ** rng.uniform(0, 2.7) * np.exp(0.4 * np.cos(2 * np.pi * (t - rng.uniform(0, 52)) / 52))
        counts = rng.negative_binomial(10, 10 / (10 + mean))
        parts.append(pd.DataFrame({"date": dates, "region": f"W{k:05d}", "cases": counts}))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 1000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env |= {"HOTSPOT_ALLOWED_ROOTS": tmp}
        data = weekly_regions(max(args.regions))
        rows = []
        for i, n in enumerate([1, *args.regions]):  # the first run only creates Prefect's database
            source = Path(tmp) / f"weekly-{i}-{n}.csv"
            data[data["region"] < f"W{n:05d}"].to_csv(source, index=False)
            store = Path(tmp) / f"store-{i}"
            result = measure([str(BIN / "hotspot"), "run", "--input", str(source), "--target-column", "cases",
                              "--store", str(store), "--run-date", "2025-01-06"], env)  # fmt: skip
            if i == 0:
                continue
            report = pd.read_parquet(store / "07_report" / "latest" / "report.parquet")
            stages = stage_seconds(result["err"] + result["out"])
            rows.append({"series": n, "wall_s": result["seconds"], "peak_rss_mib": result["rss_kib"] / 1024,
                         "weeks_scored": len(report), "hotspots": int(report["is_hotspot"].sum()),
                         **{f"{k}_s": v for k, v in stages.items()}})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
