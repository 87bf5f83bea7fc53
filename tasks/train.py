"""Train: the study's LSTM(look_back) -> Dense(1) on the driver series, with a model registry.

Windows run forward in time: ``x = s[t-look_back : t]`` predicts ``y = s[t]``. A window
that touches a missing day is not trained on. Training uses the compiled engine in
:mod:`tasks.lstm` (same model, Adam, batch size, epochs and updates as Keras ``fit``,
without its per-step overhead). TensorFlow is imported only when a model is trained or loaded.

Every trained model is kept in the registry with its scaler, config, package versions and
loss history. Whether a run trains or reuses a model is decided by
:func:`decide_retraining` from the retrain policy.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
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

from tasks import lstm
from tasks.config import RetrainConfig, SeriesConfig, TrainConfig
from tasks.store import ArtifactStore, code_version, fingerprint, sha256_file

if TYPE_CHECKING:
    import keras

VERSIONED_PACKAGES = ("tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow", "prefect", "great-expectations")
MODEL_FILES = ("model.keras", "scaler.json", "history.parquet", "model_card.json")  # card last: it marks completion


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

    def digest(self) -> str:
        """Content hash of the training data (identical windows -> identical model)."""
        return hashlib.sha256(self.x.astype("float64").tobytes() + self.y.astype("float64").tobytes()).hexdigest()


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


def fit_model(
    windows: Windows, config: TrainConfig, on_epoch: Callable[[int, float], None] | None = None
) -> tuple[keras.Model, list[float]]:
    """Train a fresh, seeded model on (n, look_back) windows -> (model, loss per epoch)."""
    if len(windows) < config.batch_size:
        raise TrainError(
            f"only {len(windows)} complete training window(s); need at least batch_size={config.batch_size}"
        )
    callback = None if on_epoch is None else (lambda epoch, losses: on_epoch(epoch, float(losses[0])))
    result = lstm.fit_series([windows.x.astype("float32")], [windows.y.astype("float32")], config, on_epoch=callback)
    return result.model, [float(v) for v in result.loss_history[:, 0]]


def predict_windows(model: keras.Model, windows: Windows) -> np.ndarray:
    """(n, look_back) windows -> (n,) scaled one-step predictions."""
    if not len(windows):
        return np.empty(0)
    return lstm.predict_series(model, windows.x[np.newaxis]).astype("float64")[0]


def decide_retraining(
    policy: RetrainConfig, candidates: list[dict[str, Any]], model_id: str, run_date: date, n_windows: int
) -> tuple[str | None, str]:
    """Choose a registered model to reuse -> (model_id or None to train, reason).

    candidates: model cards of compatible models (same config, series and code) trained on or
    before run_date. A model trained on exactly this data is reused under every policy:
    training again would give the same weights.
    """
    if any(card["model_id"] == model_id for card in candidates):
        return model_id, "a model trained on exactly this data exists"
    if not candidates:
        return None, "no compatible model yet"
    newest = max(candidates, key=lambda card: (card["trained_run_date"], card["model_id"]))
    if policy.policy == "always":
        return None, "retrain policy 'always'"
    if policy.policy == "never":
        return newest["model_id"], "retrain policy 'never'"
    age = (run_date - date.fromisoformat(newest["trained_run_date"])).days
    growth = 100.0 * (n_windows - newest["training_windows"]) / max(newest["training_windows"], 1)
    if age >= policy.max_age_days:
        return None, f"model is {age} day(s) old (limit {policy.max_age_days})"
    if growth > policy.max_growth_pct:
        return None, f"training windows grew {growth:.1f} % (limit {policy.max_growth_pct:g} %)"
    return newest["model_id"], f"model is {age} day(s) old and data grew {growth:.1f} %: still fresh"


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a model's numbers."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# -- Prefect task ---------------------------------------------------------------------


def _registry_refs(store: ArtifactStore, model_id: str) -> dict[str, dict[str, Any]]:
    folder = store.registry(model_id)
    return {
        name.split(".")[0]: {"path": str(folder / name), "sha256": sha256_file(folder / name), "rows": None}
        for name in MODEL_FILES
    }


def _register(
    store: ArtifactStore, model_id: str, model: keras.Model, losses: list[float], scaler: Any, card: dict[str, Any]
) -> None:
    """Write a model's files into the registry, the card last (its presence marks a complete entry)."""
    folder = store.registry(model_id)
    store.write_with(folder / "model.keras", lambda p: lstm.save_model(model, p))
    store.write_with(folder / "scaler.json", lambda p: p.write_text(json.dumps(scaler, indent=2, sort_keys=True)))
    history = pd.DataFrame({"epoch": range(1, len(losses) + 1), "loss": losses})
    store.write_with(folder / "history.parquet", lambda p: history.to_parquet(p, index=False))
    store.write_with(folder / "model_card.json", lambda p: p.write_text(json.dumps(card, indent=2, sort_keys=True)))


@task(name="train", cache_policy=NO_CACHE)
def train(
    store: ArtifactStore,
    run_date: date,
    scaled: dict,
    scaler: dict,
    config: TrainConfig,
    series: SeriesConfig,
    retrain: RetrainConfig,
) -> dict:
    """Train on the driver's scaled windows, or reuse a registered model as the retrain policy allows."""
    logger = get_run_logger()
    frame = store.load_table(scaled)
    windows = make_windows(frame["driver_scaled"].to_numpy(), config.look_back)
    compat = fingerprint(
        train=config.model_dump(), series=series.model_dump(), code=code_version(__file__, lstm.__file__)
    )
    model_id = fingerprint(compat=compat, data=windows.digest())[:16]
    candidates = [
        card
        for card in store.registered_models()
        if card["compat"] == compat and card["trained_run_date"] <= run_date.isoformat()
    ]
    chosen, reason = decide_retraining(retrain, candidates, model_id, run_date, len(windows))

    if chosen is None:
        logger.info(
            "train: training (%s) on %d driver windows of %d days (%d touch a missing day and are skipped); "
            "%d epochs, batch %d",
            reason,
            len(windows),
            len(frame),
            max(len(frame) - config.look_back - len(windows), 0),
            config.epochs,
            config.batch_size,
        )

        def progress(epoch: int, loss: float) -> None:
            if epoch % lstm.PROGRESS_EVERY == 0 or epoch == config.epochs:
                logger.info("train: epoch %d/%d loss %.5f", epoch, config.epochs, loss)

        # Import TensorFlow before the clock starts: fit_seconds is the training itself (graph tracing
        # included), comparable with the time a plain script spends inside model.fit.
        lstm.ensure_registered()
        started = time.perf_counter()
        model, losses = fit_model(windows, config, on_epoch=progress)
        seconds = time.perf_counter() - started
        card = {
            "model_id": model_id,
            "compat": compat,
            "trained_run_date": run_date.isoformat(),
            "training_windows": len(windows),
            "data_end": frame["date"].max().date().isoformat(),
            "train_config": config.model_dump(),
            "series": series.model_dump(),
            "final_loss": losses[-1],
            "fit_seconds": round(seconds, 3),
            "versions": package_versions(),
        }
        _register(store, model_id, model, losses, store.load_json(scaler), card)
        chosen, status = model_id, f"trained ({reason})"
        logger.info("train: fitted in %.2f s, final loss %.5f; registered model %s", seconds, losses[-1], model_id)
    elif chosen == model_id:
        status = f"skipped (model {chosen} was trained on exactly this data)"
        logger.info("train: %s", status)
    else:
        status = f"reused model {chosen} ({reason})"
        logger.info("train: not retrained: %s", status)

    refs = _registry_refs(store, chosen)
    store.write_manifest("train", run_date, {"model_id": chosen, "decision": status, "outputs": refs})
    return refs | {"model_id": chosen, "status": status}
