"""Train: the study's LSTM(look_back) -> Dense(1) on the driver series.

Windows run forward in time: ``x = s[t-look_back : t]`` predicts ``y = s[t]``. A window
that touches a missing day is not trained on. TensorFlow is imported inside the
functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import TrainConfig
from tasks.store import ArtifactStore, sha256_file

if TYPE_CHECKING:
    import keras

VERSIONED_PACKAGES = ("tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow", "prefect", "great-expectations")


class TrainError(ValueError):
    """There is nothing to train on (too few complete windows)."""


@dataclass(frozen=True)
class Windows:
    """Complete windows of one series: x (n, look_back), y (n,), and index (n,) of each y in the series."""

    x: np.ndarray
    y: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def make_windows(values: np.ndarray, look_back: int) -> Windows:
    """(T,) series -> the windows whose look_back inputs and target are all observed."""
    series = np.asarray(values, dtype="float64")
    if series.size <= look_back:
        empty = np.empty((0, look_back))
        return Windows(empty, np.empty(0), np.empty(0, dtype="int64"))
    frames = np.lib.stride_tricks.sliding_window_view(series, look_back + 1)
    complete = ~np.isnan(frames).any(axis=1)
    index = np.arange(look_back, series.size)[complete]
    return Windows(frames[complete, :look_back].copy(), frames[complete, look_back].copy(), index)


def build_model(config: TrainConfig) -> keras.Model:
    """Input (look_back, 1) -> LSTM(units) -> Dense(1), compiled with the study's Adam and MSE."""
    import keras

    model = keras.Sequential(
        [keras.Input(shape=(config.look_back, 1)), keras.layers.LSTM(config.units), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def fit_model(
    windows: Windows,
    config: TrainConfig,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[keras.Model, list[float]]:
    """Train a fresh, seeded model on (n, look_back) windows -> (model, loss per epoch)."""
    if len(windows) < config.batch_size:
        raise TrainError(
            f"only {len(windows)} complete training window(s); need at least batch_size={config.batch_size}"
        )
    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    callbacks = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: on_epoch(e + 1, logs["loss"])))
    history = model.fit(
        windows.x[..., np.newaxis].astype("float32"),
        windows.y.astype("float32"),
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return model, [float(v) for v in history.history["loss"]]


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a model's numbers."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def model_card(config: TrainConfig, windows: Windows, losses: list[float]) -> dict[str, Any]:
    """What is saved beside a model: its config, data size, final loss and package versions."""
    return {
        "train_config": config.model_dump(),
        "training_windows": len(windows),
        "final_loss": losses[-1] if losses else None,
        "versions": package_versions(),
    }


# -- Prefect task ---------------------------------------------------------------------
PROGRESS_EVERY = 5  # epochs between progress lines in the flow-run log


@task(name="train", cache_policy=NO_CACHE)
def train(store: ArtifactStore, run_date: date, scaled: dict, scaler: dict, config: TrainConfig) -> dict:
    """Train on the driver's scaled windows; save model.keras, scaler, config, versions and loss history."""
    logger = get_run_logger()
    frame = store.load_table(scaled)
    windows = make_windows(frame["driver_scaled"].to_numpy(), config.look_back)
    logger.info(
        "train: %d complete driver windows of %d days (%d skipped: they touch a missing day); %d epochs, batch %d",
        len(windows),
        len(frame),
        max(len(frame) - config.look_back - len(windows), 0),
        config.epochs,
        config.batch_size,
    )

    def progress(epoch: int, loss: float) -> None:
        if epoch % PROGRESS_EVERY == 0 or epoch == config.epochs:
            logger.info("train: epoch %d/%d loss %.5f", epoch, config.epochs, loss)

    started = time.perf_counter()
    model, losses = fit_model(windows, config, on_epoch=progress)
    seconds = time.perf_counter() - started
    model_path = store.path("train", run_date, "model.keras")
    store.write_with(model_path, model.save)
    card = model_card(config, windows, losses) | {"fit_seconds": round(seconds, 3)}
    refs = {
        "scaler": store.write_json("train", run_date, "scaler", store.load_json(scaler)).to_dict(),
        "card": store.write_json("train", run_date, "model_card", card).to_dict(),
        "history": store.write_table(
            "train", run_date, "history", pd.DataFrame({"epoch": range(1, len(losses) + 1), "loss": losses})
        ).to_dict(),
        "model": {"path": str(model_path), "sha256": sha256_file(model_path), "rows": None},
    }
    store.write_manifest("train", run_date, {"inputs": {"scaled": scaled, "scaler": scaler}, "outputs": refs})
    logger.info("train: fitted in %.1f s, final loss %.5f; wrote %s", seconds, losses[-1], model_path)
    return refs
