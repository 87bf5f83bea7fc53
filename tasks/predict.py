"""Predict: apply the driver-trained model to each series' own windows, back in counts."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.scale import MinMaxScaler, scalers_from_dict
from tasks.store import ArtifactStore
from tasks.train import make_windows

if TYPE_CHECKING:
    import keras

PREDICTION_COLUMNS = ["date", "region", "role", "actual", "predicted", "actual_scaled", "predicted_scaled"]


def predict_scaled(model: keras.Model, scaled: np.ndarray, look_back: int) -> np.ndarray:
    """(T,) scaled series -> (T,) scaled one-step predictions; NaN where the window is incomplete."""
    windows = make_windows(scaled, look_back)
    out = np.full(np.asarray(scaled).shape[0], np.nan)
    if len(windows):
        # A direct call is ~10x cheaper than model.predict for arrays this small.
        raw = model(windows.x[..., np.newaxis].astype("float32"), training=False)
        out[windows.index] = np.asarray(raw, dtype="float64").reshape(-1)
    return out


def predict_roles(
    model: keras.Model, scaled: pd.DataFrame, scalers: dict[str, MinMaxScaler], look_back: int
) -> pd.DataFrame:
    """Scaled daily frame -> long predictions (PREDICTION_COLUMNS), one row per day and role.

    role "target" is what hotspots are scored on; role "driver" shows the training fit.
    """
    parts = []
    for role, scaler in scalers.items():
        predicted_scaled = predict_scaled(model, scaled[f"{role}_scaled"].to_numpy(), look_back)
        parts.append(
            pd.DataFrame(
                {
                    "date": scaled["date"],
                    "region": scaled["region"],
                    "role": role,
                    "actual": scaled[role],
                    "predicted": scaler.inverse(predicted_scaled),
                    "actual_scaled": scaled[f"{role}_scaled"],
                    "predicted_scaled": predicted_scaled,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[PREDICTION_COLUMNS]


def load_model(path: str) -> keras.Model:
    """Load a saved model; safe mode refuses any serialised Python code."""
    import keras

    return keras.models.load_model(path, safe_mode=True)


# -- Prefect task ---------------------------------------------------------------------


@task(name="predict", cache_policy=NO_CACHE)
def predict(store: ArtifactStore, run_date: date, scaled: dict, model: dict, look_back: int) -> dict:
    """Apply the saved model to the target and driver series; write predictions in counts."""
    logger = get_run_logger()
    frame = store.load_table(scaled)
    scalers = scalers_from_dict(store.load_json(model["scaler"]))
    keras_model = load_model(str(store.resolve(model["model"])))
    predictions = predict_roles(keras_model, frame, scalers, look_back)
    ref = store.write_table("predict", run_date, "predictions", predictions)
    store.write_manifest(
        "predict", run_date, {"inputs": {"scaled": scaled, "model": model}, "outputs": {"predictions": ref.to_dict()}}
    )
    counts = predictions.groupby("role")["predicted"].count().to_dict()
    logger.info("predict: %s predictions per role from %s; wrote %s", counts, model["model"]["path"], ref.path)
    return {"predictions": ref.to_dict()}
