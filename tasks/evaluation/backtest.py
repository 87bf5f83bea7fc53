"""The backtest: every detector of the registry on labelled series, at defaults and at a matched false-alarm rate.

Pure functions: :func:`run_backtest` takes scenarios and seeds and returns the per-seed, per-outbreak and
summary tables; the Prefect task that stores them is in flows/backtest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.config import ForecastConfig, IngestConfig, SeriesConfig, TrainConfig
from tasks.detectors.registry import NAMES, SPECS
from tasks.detectors.run import run_detectors
from tasks.detectors.schema import DetectorConfig
from tasks.evaluation.calibration import CALIBRATION_COLUMNS, forecast_calibration
from tasks.evaluation.events import EVENT_SCENARIOS, simulate_events
from tasks.evaluation.forecasts import ensemble_forecasts, lstm_forecasts
from tasks.evaluation.metrics import LabelledSeries, evaluate_scenario, summarise
from tasks.evaluation.oracle import all_oracle_rows
from tasks.evaluation.simulate import SCENARIOS, inject_outbreaks, simulate_pair
from tasks.evaluation.weekly import WEEKLY_SCENARIOS, simulate_weekly
from tasks.scale import to_calendar
from tasks.store import SHIPPED_INPUT

REAL = "real"
"""Scenario name of the shipped real series with injected outbreaks (the others are keys of SCENARIOS)."""
REAL_WARMUP_DAYS = 28  # the calibrated detectors' window; no outbreak starts, and nothing is scored, before it


TIMING_COLUMNS = ["scenario", "total_s", "lstm_s", "forecaster_s"]


@dataclass(frozen=True)
class Backtest:
    """The backtest's tables: per_seed (PER_SEED_COLUMNS), outbreaks (OUTBREAK_COLUMNS), summary
    (SUMMARY_COLUMNS), calibration (CALIBRATION_COLUMNS: the forecaster's coverage and PIT per series) and
    timings (TIMING_COLUMNS: seconds per scenario)."""

    per_seed: pd.DataFrame
    outbreaks: pd.DataFrame
    summary: pd.DataFrame
    calibration: pd.DataFrame
    timings: pd.DataFrame


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
        elif scenario in EVENT_SCENARIOS:
            frame, mask, ids, sign, explained = simulate_events(scenario, seed)
            include = np.arange(len(frame)) >= SCENARIOS[EVENT_SCENARIOS[scenario][0]].warmup_days
            out.append(LabelledSeries(frame, mask, ids, include, sign, explained))
            continue
        else:
            known = ", ".join([*SCENARIOS, *EVENT_SCENARIOS, REAL, *WEEKLY_SCENARIOS])
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
    forecast: ForecastConfig | None = None,
) -> Backtest:
    """Every detector on every scenario x seed -> :class:`Backtest` (per-seed metrics, per-outbreak results,
    summary, the forecaster's calibration, seconds per scenario).

    The study LSTM's forecast of each series is the pipeline's (:func:`lstm_forecasts`, one grouped training
    call per scenario), and so is, with ``forecast``, the driver-conditioned forecaster's walk-forward ensemble
    (:func:`ensemble_forecasts`; without it the forecast_* detectors are left out). Every detector of the
    registry runs with ``detect`` (a :class:`tasks.detectors.DetectorConfig`), plus the oracles
    (:func:`tasks.evaluation.oracle.all_oracle_rows`) on simulated scenarios. ``on_scenario(name, seconds)`` is
    called after each.
    """
    per_seed, outbreaks, calibration, timings = [], [], [], []
    weekly_detect = detect.model_copy(update={"period": "week"})
    for scenario in scenarios:
        started = time.perf_counter()
        weekly = scenario in WEEKLY_SCENARIOS
        config = weekly_detect if weekly else detect
        series = labelled_series(scenario, seeds, real)
        forecasts = lstm_forecasts([s.frame for s in series], train_config)
        lstm_seconds = time.perf_counter() - started
        # The forecaster runs on daily data only (its inputs include the day of week), as in the pipeline.
        with_ensemble = forecast is not None and not weekly
        names = [n for n in NAMES if with_ensemble or not SPECS[n].needs_ensemble]
        ensembles: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(series)
        forecaster_seconds = float("nan")
        if with_ensemble:
            begun = time.perf_counter()
            ensembles = list(
                ensemble_forecasts([s.frame for s in series], forecast, train_config.seed,
                                   [f"{scenario}/{int(sd)}" for sd in seeds])
            )  # fmt: skip
            forecaster_seconds = time.perf_counter() - begun
            rng = np.random.default_rng([train_config.seed, 99])
            calibration += [
                {"scenario": scenario, "seed": int(sd)} | forecast_calibration(s, ens, config, rng)
                for sd, s, ens in zip(seeds, series, ensembles, strict=True)
                if ens is not None
            ]
        detections = [
            run_detectors(s.frame, names, lstm, config, ensemble=ens)
            for s, lstm, ens in zip(series, forecasts, ensembles, strict=True)
        ]
        if scenario != REAL:
            detections = [
                pd.concat([d, all_oracle_rows(s, scenario, config)]) for d, s in zip(detections, series, strict=True)
            ]
        metrics, found = evaluate_scenario(scenario, series, seeds, detections, config, target_far)
        per_seed.append(metrics)
        outbreaks.append(found)
        seconds = time.perf_counter() - started
        timings.append(
            {"scenario": scenario, "total_s": seconds, "lstm_s": lstm_seconds, "forecaster_s": forecaster_seconds}
        )
        if on_scenario is not None:
            on_scenario(scenario, seconds)
    per_seed_all = pd.concat(per_seed, ignore_index=True)
    outbreaks_all = pd.concat(outbreaks, ignore_index=True)
    return Backtest(
        per_seed_all, outbreaks_all, summarise(per_seed_all, outbreaks_all),
        pd.DataFrame(calibration, columns=CALIBRATION_COLUMNS), pd.DataFrame(timings, columns=TIMING_COLUMNS),
    )  # fmt: skip


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
