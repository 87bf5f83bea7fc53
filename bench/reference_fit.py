"""The reference study's training as a plain Keras script: the yardstick for the fast engine (issue 7).

Data: the shipped national series, driver = local new asymptomatic, min-max scaled on its observed
days; windows of look_back=2 days predict the next day, run forward in time, and any window touching
a missing day is skipped (105 windows). Model: Input((2, 1)) -> LSTM(4) -> Dense(1), Adam(0.01,
0.9, 0.999), MSE, 30 epochs, batch 3, ``model.fit`` defaults otherwise (shuffle every epoch, last
partial batch kept).

Run: ``TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 python bench/reference_fit.py [--seed 42]``.
Prints import, fit and total script time and the final epoch loss. Timings depend on machine load.
"""

from __future__ import annotations

import time

SCRIPT_START = time.perf_counter()

import argparse  # noqa: E402 - the clock above must start before any import
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NATIONAL = ROOT / "data" / "source" / "china_nhc_national_2022.csv"
STUDY = {"look_back": 2, "units": 4, "learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epochs": 30, "batch": 3}

if TYPE_CHECKING:
    import keras


def setup() -> None:
    """Put the project on the path and silence TensorFlow, before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def scaled_windows(values: np.ndarray, look_back: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) counts with NaN gaps -> min-max scaled windows X (N, look_back) float32, y (N,) float32.

    Scaled on the observed values; a window is kept only if its inputs and target are all observed.
    """
    series = np.asarray(values, dtype="float64")
    observed = series[~np.isnan(series)]
    span = observed.max() - observed.min()
    scaled = (series - observed.min()) / (span if span > 0 else 1.0)
    frames = np.lib.stride_tricks.sliding_window_view(scaled, look_back + 1)
    frames = frames[~np.isnan(frames).any(axis=1)]
    return frames[:, :look_back].astype("float32"), frames[:, look_back].astype("float32")


def daily_columns(path: Path, columns: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Canonical table (tasks.ingest) -> {region: {column: (T,) values on a gap-explicit daily calendar}}."""
    import pandas as pd

    from tasks.config import IngestConfig
    from tasks.ingest.read import ingest_file

    table = ingest_file(path, IngestConfig()).table
    out: dict[str, dict[str, np.ndarray]] = {}
    for region, rows in table.groupby("region", sort=True):
        rows = rows.set_index("date").sort_index()
        calendar = pd.date_range(rows.index.min(), rows.index.max(), freq="D")
        out[str(region)] = {c: rows[c].reindex(calendar).to_numpy(dtype="float64", na_value=np.nan) for c in columns}
    return out


def national_driver_windows() -> tuple[np.ndarray, np.ndarray]:
    """The study's training data: X (105, 2), y (105,) from the national asymptomatic series.

    Read with pandas alone, as a plain study script would: the yardstick must not pay for
    this project's imports (Prefect). The file has one row per calendar day; gaps are empty cells.
    """
    import pandas as pd

    table = pd.read_csv(NATIONAL, parse_dates=["date"]).sort_values("date")
    return scaled_windows(table["new_asymptomatic_local"].to_numpy(dtype="float64"), STUDY["look_back"])


def reference_fit(
    x: np.ndarray, y: np.ndarray, seed: int | None, epochs: int = STUDY["epochs"], steps_per_execution: int = 1
) -> tuple[keras.Model, list[float], float]:
    """Plain Keras training -> (model, loss per epoch, seconds spent in model.fit).

    With a seed, ``keras.utils.set_random_seed`` makes the run reproducible, but (Keras 3.15, TF backend)
    ``fit`` then visits the windows in the same shuffled order every epoch; ``seed=None`` reshuffles.
    """
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(STUDY["look_back"], 1)), keras.layers.LSTM(STUDY["units"]), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.Adam(
        learning_rate=STUDY["learning_rate"], beta_1=STUDY["beta_1"], beta_2=STUDY["beta_2"]
    )
    model.compile(optimizer=optimizer, loss="mse", steps_per_execution=steps_per_execution)
    started = time.perf_counter()
    history = model.fit(x[..., np.newaxis], y, epochs=epochs, batch_size=STUDY["batch"], shuffle=True, verbose=0)
    seconds = time.perf_counter() - started
    return model, [float(v) for v in history.history["loss"]], seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    setup()
    started = time.perf_counter()
    import keras  # noqa: F401 - timed here: TensorFlow's import is part of the study's cost
    import tensorflow  # noqa: F401

    tf_import = time.perf_counter() - started
    started = time.perf_counter()
    x, y = national_driver_windows()
    data_seconds = time.perf_counter() - started
    model, losses, fit_seconds = reference_fit(x, y, args.seed)
    total = time.perf_counter() - SCRIPT_START
    result = {
        "windows": len(y),
        "updates": int(model.optimizer.iterations.numpy()),
        "tf_import_s": tf_import,
        "data_s": data_seconds,
        "fit_s": fit_seconds,
        "total_script_s": total,
        "final_loss": losses[-1],
    }
    print(f"reference fit (plain Keras model.fit), seed {args.seed}; timings indicative (shared 2-core machine)")
    for key, value in result.items():
        print(f"  {key:<44} {value:.4f}" if isinstance(value, float) else f"  {key:<44} {value}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
