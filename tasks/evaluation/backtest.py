"""The backtest: every detector of the registry on labelled series, at defaults and at a matched false-alarm rate.

Pure functions: :func:`run_backtest` takes scenarios and seeds and returns the per-seed, per-outbreak and
summary tables; the Prefect task that stores them is in flows/backtest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.config import IngestConfig, SeriesConfig, TrainConfig
from tasks.detectors.registry import NAMES
from tasks.detectors.run import run_detectors
from tasks.detectors.schema import DetectorConfig
from tasks.evaluation.forecasts import lstm_forecasts
from tasks.evaluation.metrics import LabelledSeries, evaluate_scenario, summarise
from tasks.evaluation.oracle import oracle_rows
from tasks.evaluation.simulate import SCENARIOS, inject_outbreaks, simulate_pair
from tasks.evaluation.weekly import WEEKLY_SCENARIOS, simulate_weekly
from tasks.scale import to_calendar
from tasks.store import SHIPPED_INPUT

REAL = "real"
"""Scenario name of the shipped real series with injected outbreaks (the others are keys of SCENARIOS)."""
REAL_WARMUP_DAYS = 28  # the calibrated detectors' window; no outbreak starts, and nothing is scored, before it


def labelled_series(scenario: str, seeds: Sequence[int], real: pd.DataFrame | None = None) -> list[LabelledSeries]:
    """The series of one scenario, one per seed: simulated (a key of SCENARIOS) or REAL (outbreaks injected into
    ``real``, a frame date, actual, driver). Days before the warm-up are not scored (``include`` False)."""
    out = []
    for seed in seeds:
        if scenario == REAL:
            if real is None:
                raise ValueError("the 'real' scenario needs the real series")
            frame, mask, ids = inject_outbreaks(real, seed, first_day=REAL_WARMUP_DAYS)
            warmup = REAL_WARMUP_DAYS
        elif scenario in SCENARIOS:
            frame, mask, ids = simulate_pair(scenario, seed)
            warmup = SCENARIOS[scenario].warmup_days
        elif scenario in WEEKLY_SCENARIOS:
            frame, mask, ids = simulate_weekly(scenario, seed)
            warmup = WEEKLY_SCENARIOS[scenario].scored_from
        else:
            known = ", ".join([*SCENARIOS, REAL, *WEEKLY_SCENARIOS])
            raise ValueError(f"unknown scenario {scenario!r}; known: {known}")
        out.append(LabelledSeries(frame, mask, ids, np.arange(len(frame)) >= warmup))
    return out


def run_backtest(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    train_config: TrainConfig,
    detect: DetectorConfig,
    real: pd.DataFrame | None = None,
    target_far: float = 0.01,
    on_scenario: Callable[[str, float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every detector on every scenario x seed -> (per-seed metrics, per-outbreak results, summary).

    The LSTM forecast of each series is the pipeline's (:func:`lstm_forecasts`, one grouped training
    call per scenario); every detector of the registry runs with ``detect``
    (a :class:`tasks.detectors.DetectorConfig`), plus :data:`ORACLE` on simulated scenarios.
    ``on_scenario(name, seconds)`` is called after each.
    """

    per_seed, outbreaks = [], []
    weekly_detect = detect.model_copy(update={"period": "week"})
    for scenario in scenarios:
        started = time.perf_counter()
        config = weekly_detect if scenario in WEEKLY_SCENARIOS else detect
        series = labelled_series(scenario, seeds, real)
        forecasts = lstm_forecasts([s.frame for s in series], train_config)
        detections = [
            run_detectors(s.frame, list(NAMES), forecast, config) for s, forecast in zip(series, forecasts, strict=True)
        ]
        if scenario in SCENARIOS or scenario in WEEKLY_SCENARIOS:
            detections = [
                pd.concat([d, oracle_rows(s, scenario, config)]) for d, s in zip(detections, series, strict=True)
            ]
        metrics, found = evaluate_scenario(scenario, series, seeds, detections, config, target_far)
        per_seed.append(metrics)
        outbreaks.append(found)
        if on_scenario is not None:
            on_scenario(scenario, time.perf_counter() - started)
    per_seed_all = pd.concat(per_seed, ignore_index=True)
    outbreaks_all = pd.concat(outbreaks, ignore_index=True)
    return per_seed_all, outbreaks_all, summarise(per_seed_all, outbreaks_all)


def real_series(series: SeriesConfig, source: Path = SHIPPED_INPUT) -> pd.DataFrame:
    """The shipped national series (date, actual = target, driver) on a gap-explicit daily calendar.

    ``series.region`` must select exactly one region of ``source`` ('all' does: the national file has only CN).
    """
    from tasks.ingest.read import ingest_file

    table = ingest_file(source, IngestConfig()).table
    regions = series.regions(sorted(table["region"].unique()))
    if len(regions) != 1:
        raise ValueError(f"the backtest's real series is one region; {source.name} has {', '.join(regions)}")
    daily = to_calendar(table, regions, series)
    return pd.DataFrame({"date": daily["date"], "actual": daily["target"], "driver": daily["driver"]})
