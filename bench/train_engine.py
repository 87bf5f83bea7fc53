"""Plain ``model.fit`` vs the grouped engine (tasks/lstm.py), side by side.

Part 1, single series (S = 1), in this process: the shipped national driver series (105 windows, 35
updates per epoch, 30 epochs), seeds 0..n-1: plain fit (the yardstick, see reference_fit.py), plain
fit with ``steps_per_execution`` = steps per epoch (Keras' own way to cut per-step overhead), plain fit
without a global seed (the only way Keras 3.15 reshuffles every epoch), and the engine. The engine is
traced once per process, so its first call ("cold") is reported apart from the later ones.

Fresh process: reference_fit.py and the same work done by the engine, one new process each, since a
pipeline run trains once per process and pays imports and tracing every time.

Part 2, S = 34 real series of unequal length: national asymptomatic and confirmed, plus the local
confirmed series of the 32 provincial units (51..120 windows). The grouped engine trains all 34 in one
call; 34 sequential plain fits are extrapolated from a sample (printed as such); 34 sequential engine
fits (S = 1 each) are measured.

Run: ``TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 python bench/train_engine.py``
(options: ``--seeds 10 --engine-seeds 30 --sample 4 --seed 42``; about a minute and a half).
Timings are wall-clock on whatever else the machine is doing; rerun before quoting them.
"""

from __future__ import annotations

import time

SCRIPT_START = time.perf_counter()

import argparse  # noqa: E402 - the clock above must start before any import
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_fit import (  # noqa: E402 - bench/ is not a package: its folder is put on sys.path above
    NATIONAL,
    ROOT,
    STUDY,
    daily_columns,
    national_driver_windows,
    reference_fit,
    scaled_windows,
    setup,
)

PROVINCES = ROOT / "data" / "source" / "china_nhc_provinces_2022.csv"


def spread(values: list[float], digits: int = 4) -> str:
    """'median [min, max]' of a list."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def thirty_four_series() -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Names and scaled windows of 34 real series of unequal length (see the module docstring)."""
    national = daily_columns(NATIONAL, ["asymptomatic", "confirmed"])["CN"]
    provinces = daily_columns(PROVINCES, ["confirmed"])
    names, xs, ys = [], [], []
    for name, values in [
        ("CN asymptomatic", national["asymptomatic"]),
        ("CN confirmed", national["confirmed"]),
        *((f"{region} confirmed", cols["confirmed"]) for region, cols in provinces.items()),
    ]:
        x, y = scaled_windows(values, STUDY["look_back"])
        names.append(name)
        xs.append(x)
        ys.append(y)
    return names, xs, ys


def fresh_engine_run(seed: int) -> dict[str, float]:
    """What reference_fit.py measures, for the engine: run in a new process (``--fresh-engine``)."""
    started = time.perf_counter()
    import keras  # noqa: F401 - timed like in reference_fit.py
    import tensorflow  # noqa: F401

    tf_import = time.perf_counter() - started
    from tasks.config import TrainConfig
    from tasks.lstm_model import fit_series

    x, y = national_driver_windows()
    started = time.perf_counter()
    result = fit_series([x], [y], TrainConfig(seed=seed))
    fit_seconds = time.perf_counter() - started
    return {
        "tf_import_s": tf_import,
        "fit_s": fit_seconds,
        "total_script_s": time.perf_counter() - SCRIPT_START,
        "final_loss": float(result.loss_history[-1, 0]),
    }


def in_fresh_process(args: list[str]) -> dict[str, float]:
    """Run a bench script in a new Python process and read the JSON line it prints last."""
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_plain(x: np.ndarray, y: np.ndarray, runs: int, seeded: bool, spe: int = 1) -> dict[str, list[float]]:
    """Plain model.fit ``runs`` times -> {"time": [...], "loss": [...]}; seeds 0..runs-1 when seeded."""
    import keras

    out: dict[str, list[float]] = {"time": [], "loss": []}
    for seed in range(runs):
        keras.backend.clear_session()
        _, losses, seconds = reference_fit(x, y, seed if seeded else None, steps_per_execution=spe)
        out["time"].append(seconds)
        out["loss"].append(losses[-1])
    return out


def quartiles(values: list[float]) -> str:
    """'median (IQR q1..q3)' of a list."""
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:.4f} (IQR {q1:.4f}..{q3:.4f})"


def part_one(x: np.ndarray, y: np.ndarray, seeds: int, engine_seeds: int) -> None:
    """S = 1 on the national series: plain fit variants vs the engine, phase by phase."""
    from tasks.config import TrainConfig
    from tasks.lstm import steps_per_epoch
    from tasks.lstm_model import fit_series

    spe = int(steps_per_epoch([len(y)], STUDY["batch"])[0])
    few = min(seeds, 5)
    print(f"national driver series: {len(y)} windows, {spe} updates/epoch, {STUDY['epochs']} epochs")
    # Phases, not interleaving: keras.backend.clear_session() (used between plain fits) makes the next
    # engine call re-instantiate its graph (+0.1 s), which is not what a pipeline run pays.
    plain = timed_plain(x, y, seeds, seeded=True)
    plain_spe = timed_plain(x, y, few, seeded=True, spe=spe)
    unseeded = timed_plain(x, y, few, seeded=False)
    engine: dict[str, list[float]] = {"time": [], "loss": []}
    started = time.perf_counter()
    fit_series([x], [y], TrainConfig(seed=0))
    cold = time.perf_counter() - started
    for seed in range(engine_seeds):
        started = time.perf_counter()
        result = fit_series([x], [y], TrainConfig(seed=seed))
        engine["time"].append(time.perf_counter() - started)
        engine["loss"].append(float(result.loss_history[-1, 0]))
        assert int(result.steps[0]) == spe * STUDY["epochs"]

    base = statistics.median(plain["time"])
    print("\nPart 1: S = 1; time = wall seconds of the training call in this process; n = runs (seeds 0..n-1)")
    print(
        f"{'contender':<46} {'n':>3} {'time s: median [min, max]':<26} {'x faster':>8}   final loss: median [min, max]"
    )
    rows = [
        ("plain model.fit, seeded", seeds, plain["time"], plain["loss"]),
        (f"plain model.fit, steps_per_execution={spe}", few, plain_spe["time"], plain_spe["loss"]),
        ("plain model.fit, unseeded (reshuffles)", few, unseeded["time"], unseeded["loss"]),
    ]
    for name, n, times, losses in rows:
        print(f"{name:<46} {n:>3} {spread(times, 3):<26} {base / statistics.median(times):>8.1f}   {spread(losses)}")
    print(f"{'engine, first call in process (incl. trace)':<46} {1:>3} {cold:<26.3f} {base / cold:>8.1f}   (seed 0)")
    print(
        f"{'engine, later calls':<46} {engine_seeds:>3} {spread(engine['time'], 3):<26} "
        f"{base / statistics.median(engine['time']):>8.1f}   {spread(engine['loss'])}"
    )
    median_engine = statistics.median(engine["loss"])
    inside = min(plain["loss"]) <= median_engine <= max(plain["loss"])
    print(
        f"final loss: engine {quartiles(engine['loss'])} vs seeded plain fit {quartiles(plain['loss'])}; "
        f"engine median {'inside' if inside else 'OUTSIDE'} the plain seed-to-seed range"
    )
    try:
        from scipy.stats import mannwhitneyu

        p_value = mannwhitneyu(engine["loss"], plain["loss"]).pvalue
        print(f"Mann-Whitney U, engine vs seeded plain final losses: p = {p_value:.2f}")
    except ImportError:
        pass
    print(
        "note: Keras 3.15 fit with keras.utils.set_random_seed repeats one shuffle order in every epoch "
        "(reproduced here); unseeded fit and the engine reshuffle every epoch."
    )


def part_fresh(seed: int) -> None:
    """One fresh process each: the whole reference script vs the same work done by the engine."""
    reference = in_fresh_process([str(Path(__file__).with_name("reference_fit.py")), "--seed", str(seed), "--json"])
    engine = in_fresh_process([str(Path(__file__)), "--fresh-engine", "--seed", str(seed)])
    print(f"\nFresh process (one run each, seed {seed}): what a pipeline run pays")
    print(f"{'':<24} {'plain fit':>10} {'engine':>10} {'x faster':>9}")
    for key in ("fit_s", "total_script_s"):
        print(f"{key:<24} {reference[key]:>10.3f} {engine[key]:>10.3f} {reference[key] / engine[key]:>9.1f}")
    print(f"{'tf_import_s':<24} {reference['tf_import_s']:>10.3f} {engine['tf_import_s']:>10.3f}")
    print(f"{'final_loss':<24} {reference['final_loss']:>10.4f} {engine['final_loss']:>10.4f}")


def part_two(sample_size: int) -> None:
    """S = 34 series of unequal length: grouped engine vs one by one."""
    from tasks.config import TrainConfig
    from tasks.lstm import steps_per_epoch
    from tasks.lstm_model import fit_series

    names, xs, ys = thirty_four_series()
    sizes = [len(v) for v in ys]
    config = TrainConfig(seed=0)
    started = time.perf_counter()
    grouped = fit_series(xs, ys, config)
    grouped_seconds = time.perf_counter() - started
    assert (grouped.steps == steps_per_epoch(sizes, STUDY["batch"]) * STUDY["epochs"]).all()

    started = time.perf_counter()
    one_by_one = [fit_series([xs[s]], [ys[s]], config) for s in range(len(xs))]
    engine_sequential = time.perf_counter() - started

    import keras

    sample = np.linspace(0, len(xs) - 1, sample_size).round().astype(int)
    sample_times, sample_losses = [], []
    for s in sample:
        keras.backend.clear_session()
        _, losses, seconds = reference_fit(xs[s], ys[s], seed=0)
        sample_times.append(seconds)
        sample_losses.append(losses[-1])
    plain_sequential = statistics.mean(sample_times) * len(xs)

    print(
        f"\nPart 2: S = {len(xs)} series, {min(sizes)}..{max(sizes)} windows, {int(grouped.steps.sum())} updates in all"
    )
    print(f"{'approach':<58} {'time s':>8} {'vs grouped':>10}")
    rows = [
        ("grouped engine, one call (engine already traced)", grouped_seconds),
        ("34 x engine S=1, sequential (measured)", engine_sequential),
        (f"34 x plain model.fit, EXTRAPOLATED from {sample_size} fits", plain_sequential),
    ]
    for name, seconds in rows:
        print(f"{name:<58} {seconds:>8.2f} {seconds / grouped_seconds:>10.1f}")
    print("sampled series, final epoch loss (plain fit has other random draws, so only the level should agree;")
    print("engine S=1 trains each series as series 0, so its draws match the grouped run for the first series only):")
    print(f"  {'series':<40} {'N':>4} {'plain fit':>10} {'grouped':>10} {'engine S=1':>10}")
    for s, loss in zip(sample, sample_losses, strict=True):
        print(
            f"  {names[s]:<40} {sizes[s]:>4} {loss:>10.4f} {grouped.loss_history[-1, s]:>10.4f}"
            f" {one_by_one[s].loss_history[-1, 0]:>10.4f}"
        )
    all_alone = [r.loss_history[-1, 0] for r in one_by_one]
    print(
        f"final loss over all 34: grouped {spread(grouped.loss_history[-1].tolist())}, one by one {spread(all_alone)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeded plain fits in part 1 (>= 5 for a spread)")
    parser.add_argument("--engine-seeds", type=int, default=30, help="engine runs in part 1 (cheap)")
    parser.add_argument("--sample", type=int, default=4, help="plain fits timed in part 2, then extrapolated")
    parser.add_argument("--seed", type=int, default=42, help="seed of the fresh-process runs")
    parser.add_argument("--fresh-engine", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setup()
    if args.fresh_engine:
        print(json.dumps(fresh_engine_run(args.seed)))
        return
    import keras  # noqa: F401 - imported before any clock starts, for every contender alike
    import tensorflow  # noqa: F401

    print("timings are indicative: 2-core machine shared with other work; rerun before quoting")
    x, y = national_driver_windows()
    part_one(x, y, args.seeds, args.engine_seeds)
    part_fresh(args.seed)
    part_two(args.sample)


if __name__ == "__main__":
    main()
