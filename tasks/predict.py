"""Predict: apply the driver-trained model to each series' own windows, back in counts."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import lstm
from tasks.scale import MinMaxScaler, scalers_from_dict
from tasks.store import ArtifactStore, code_version, fingerprint
from tasks.train import make_windows, predict_windows

if TYPE_CHECKING:
    import keras

PREDICTION_COLUMNS = ["date", "region", "role", "actual", "predicted", "actual_scaled", "predicted_scaled"]


def predict_scaled(model: keras.Model, scaled: np.ndarray, look_back: int) -> np.ndarray:
    """(T,) scaled series -> (T,) scaled one-step predictions; NaN where the window is incomplete."""
    windows = make_windows(scaled, look_back)
    out = np.full(np.asarray(scaled).shape[0], np.nan)
    out[windows.index] = predict_windows(model, windows)
    return out


def predict_roles(
    model: keras.Model, scaled: pd.DataFrame, scalers: dict[str, MinMaxScaler], look_back: int
) -> pd.DataFrame:
    """Scaled daily frame -> long predictions (PREDICTION_COLUMNS), one row per day and role.

    role "target" is what hotspots are scored on; role "driver" shows the training fit.
    Each role is scaled back with its own current scaler, the one its windows were scaled with.
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


# -- Prefect task ---------------------------------------------------------------------


@task(name="predict", cache_policy=NO_CACHE)
def predict(store: ArtifactStore, run_date: date, scaled: dict, scaler: dict, model: dict, look_back: int) -> dict:
    """Apply the model to the target and driver series; write predictions in counts."""
    logger = get_run_logger()
    key = fingerprint(
        stage="predict",
        scaled=scaled["sha256"],
        scaler=scaler["sha256"],
        model=model["model"]["sha256"],
        look_back=look_back,
        code=code_version(__file__, lstm.__file__),
    )
    if (hit := store.reuse("predict", run_date, key)) is not None:
        logger.info("predict: skipped, same series and model as run date %s", hit["reused_from"])
        return hit["outputs"] | {"status": f"skipped (same as {hit['reused_from']})"}
    frame = store.load_table(scaled)
    keras_model = lstm.load_model(store.resolve(model["model"]))
    predictions = predict_roles(keras_model, frame, scalers_from_dict(store.load_json(scaler)), look_back)
    outputs = {"predictions": store.write_table("predict", run_date, "predictions", predictions).to_dict()}
    store.write_manifest("predict", run_date, {"fingerprint": key, "model_id": model["model_id"], "outputs": outputs})
    counts = predictions.groupby("role")["predicted"].count().to_dict()
    logger.info("predict: %s predictions per role with model %s", counts, model["model_id"])
    return outputs | {"status": "ran"}
