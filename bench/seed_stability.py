"""How much the verdict depends on the random seed: ``train.seed`` 0..N-1 on the shipped data.

For each seed, the decider's hotspot (region, day, direction) set on the shipped series, computed with the
pipeline's own functions (ingest, the gap-explicit calendar, the study LSTM of the predict stage and the
forecaster's walk-forward ensemble, the registry's detectors); prints hotspots per seed, the median and
minimum pairwise Jaccard of the sets, and how many are flagged under every seed. ``--detector lstm_ewma``
gives the previous default for comparison (it uses the study LSTM, whose seed keys are the pipeline's).

Run: ``.venv/bin/python bench/seed_stability.py [--regions national|all] [--seeds 10] [--detector NAME]``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np
import pandas as pd

import tasks  # noqa: F401 - environment defaults before TensorFlow starts
from tasks import lstm
from tasks.config import IngestConfig, PipelineConfig
from tasks.detectors.registry import SPECS
from tasks.detectors.run import run_detectors
from tasks.detectors.schema import detector_config
from tasks.evaluation.forecasts import ensemble_forecasts, lstm_forecasts
from tasks.ingest.read import ingest_file
from tasks.scale import to_calendar
from tasks.store import SHIPPED_INPUT


def shipped_frames(regions: str) -> dict[str, pd.DataFrame]:
    """region -> frame (date, actual, driver) of the shipped national file, or of it and the province file."""
    paths = [SHIPPED_INPUT] + ([SHIPPED_INPUT.with_name("china_nhc_provinces_2022.csv")] if regions == "all" else [])
    table = pd.concat([ingest_file(p, IngestConfig()).table for p in paths], ignore_index=True)
    config = PipelineConfig()
    daily = to_calendar(table, sorted(table["region"].unique()), config.series)
    return {
        str(r): g.reset_index(drop=True).rename(columns={"target": "actual"})[["date", "actual", "driver"]]
        for r, g in daily.groupby("region", sort=True)
    }


def flagged(frames: dict[str, pd.DataFrame], detector: str, seed: int) -> tuple[set[tuple[str, str, str]], float]:
    """The (region, day, direction) hotspots of ``detector`` with every model seeded by ``seed``; fit seconds."""
    config = PipelineConfig()
    detect = detector_config(config.detect, config.extract.threshold_pct)
    names, items = list(frames), list(frames.values())
    started = time.perf_counter()
    if SPECS[detector].needs_ensemble:
        ensembles = ensemble_forecasts(items, config.forecast, seed, names)
        forecasts = [np.full(len(f), np.nan) for f in items]
    else:
        usable = [i for i, f in enumerate(items) if np.isfinite(f["driver"]).sum() > 10 and np.nanstd(f["driver"]) > 0]
        train = config.train.model_copy(update={"seed": seed})
        fitted = lstm_forecasts([items[i] for i in usable], train, [lstm.series_id(names[i]) for i in usable])
        forecasts = [np.full(len(f), np.nan) for f in items]
        for i, forecast in zip(usable, fitted, strict=True):
            forecasts[i] = forecast
        ensembles = [None] * len(items)
    seconds = time.perf_counter() - started
    out: set[tuple[str, str, str]] = set()
    for name, frame, forecast, ensemble in zip(names, items, forecasts, ensembles, strict=True):
        rows = run_detectors(frame, [detector], forecast, detect, ensemble=ensemble)
        rows = rows[rows["is_hotspot"]]
        out |= {(name, f"{d:%Y-%m-%d}", str(x)) for d, x in zip(rows["date"], rows["direction"], strict=True)}
    return out, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", choices=["national", "all"], default="national")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--detector", default=PipelineConfig().detect.decider)
    args = parser.parse_args()
    frames = shipped_frames(args.regions)
    sets, seconds = [], []
    for seed in range(args.seeds):
        found, took = flagged(frames, args.detector, seed)
        sets.append(found)
        seconds.append(took)
        surges = sum(1 for *_, d in found if d == "surge")
        print(f"  seed {seed}: {len(found)} hotspot(s) ({surges} surge, {len(found) - surges} drop); fit {took:.1f} s",
              flush=True)  # fmt: skip
    jaccard = [len(a & b) / len(a | b) if (a | b) else 1.0 for a, b in itertools.combinations(sets, 2)]
    core = set.intersection(*sets)
    print(f"\n{args.detector} on {len(frames)} region(s), seeds 0..{args.seeds - 1}: hotspots per seed "
          f"{[len(s) for s in sets]}; pairwise Jaccard median {np.median(jaccard):.2f}, min {np.min(jaccard):.2f}; "
          f"{len(core)} flagged under every seed; median fit {np.median(seconds):.1f} s")  # fmt: skip
    if args.regions == "national":
        print("in every seed:", ", ".join(sorted(f"{d} {x}" for _, d, x in core)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
