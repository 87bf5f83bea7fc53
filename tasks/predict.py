"""Predict: apply each region's model to that region's own target and driver windows, back in counts; and
forecast each region's target with the driver-conditioned forecaster, walk-forward (tasks/forecast.py)."""

from __future__ import annotations

import functools
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import lstm_model
from tasks.config import ComputeConfig, ForecastConfig, SeriesConfig, TrainConfig
from tasks.results import Predicted, Scaled, Trained
from tasks.scale import MinMaxScaler, scaler_arrays, scalers_from_dict
from tasks.schemas import PREDICTION_COLUMNS, ROLES
from tasks.stage import Stage, run_stage
from tasks.store import ArtifactStore

if TYPE_CHECKING:
    import keras


def region_matrix(scaled: pd.DataFrame, column: str, regions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Long frame sorted by region and date -> ((R, T_max) values, NaN-padded after each region's end;
    (N,) position of each row within its region)."""
    position = scaled.groupby("region", sort=False).cumcount().to_numpy()
    row = pd.Index(regions).get_indexer(scaled["region"])
    out = np.full((len(regions), int(position.max()) + 1 if len(position) else 0), np.nan)
    known = row >= 0
    out[row[known], position[known]] = scaled[column].to_numpy(dtype="float64", na_value=np.nan)[known]
    return out, position


def predict_matrix(model: keras.Model, values: np.ndarray, look_back: int) -> np.ndarray:
    """(S, T) scaled series, series s for model s -> (S, T) one-step predictions; NaN where the window is incomplete."""
    s, t = values.shape
    out = np.full((s, t), np.nan)
    if t <= look_back or s == 0:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, look_back, axis=1)[:, : t - look_back]
    complete = np.isfinite(windows).all(axis=2)
    predicted = lstm_model.predict_series(model, np.where(np.isfinite(windows), windows, 0.0)).astype("float64")
    out[:, look_back:] = np.where(complete, predicted, np.nan)
    return out


def predict_regions(
    model: keras.Model,
    model_regions: list[str],
    scaled: pd.DataFrame,
    scalers: dict[str, dict[str, MinMaxScaler | None]],
    look_back: int,
    trained_on: dict[str, str],
    notes: dict[str, str],
) -> pd.DataFrame:
    """Scaled daily frame (sorted by region, date) -> long predictions (PREDICTION_COLUMNS).

    Series s of the grouped model belongs to ``model_regions[s]``; it predicts both of that region's
    series. Role "target" is what hotspots are scored on; role "driver" shows the training fit (of the
    target's own history for a fallback region). Each role is scaled back with its region's scaler.
    Regions without a model get NaN predictions, ``trained_on`` "none" and the note saying why.
    """
    row = pd.Index(model_regions).get_indexer(scaled["region"])
    in_model = row >= 0
    parts = []
    for role in ROLES:
        matrix, position = region_matrix(scaled, f"{role}_scaled", model_regions)
        predicted = predict_matrix(model, matrix, look_back)
        predicted_scaled = np.full(len(scaled), np.nan)
        predicted_scaled[in_model] = predicted[row[in_model], position[in_model]]
        low, span = scaler_arrays(scaled["region"], scalers, role)
        part = pd.DataFrame(
            {
                "date": scaled["date"],
                "region": scaled["region"],
                "role": role,
                "actual": scaled[role],
                "predicted": predicted_scaled * span + low,
                "actual_scaled": scaled[f"{role}_scaled"],
                "predicted_scaled": predicted_scaled,
            }
        )
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["role"] = out["role"].astype("str")
    regions = out["region"].to_numpy()
    out["trained_on"] = pd.Series([trained_on.get(r, "none") for r in regions], index=out.index, dtype="str")
    out["model_note"] = pd.Series([notes.get(r, "") for r in regions], index=out.index, dtype="str")
    return out[PREDICTION_COLUMNS]


def fit_and_predict(
    scaled: pd.DataFrame,
    scalers: dict[str, dict[str, MinMaxScaler | None]],
    train: TrainConfig,
    series: SeriesConfig,
    chunk_size: int = 512,
) -> pd.DataFrame:
    """Train and apply every region's model in memory, exactly as the train and predict stages do.

    scaled, scalers: :func:`tasks.scale.scale_series` output -> long predictions (PREDICTION_COLUMNS).
    """
    from tasks.train import fit_plan, plan_training

    plan = plan_training(scaled, series, train.look_back)
    model = lstm_model.model_from_packed(fit_plan(plan, train, chunk_size).packed, train)
    trained_on = dict(zip(plan.regions, plan.roles, strict=True))
    return predict_regions(model, plan.regions, scaled, scalers, train.look_back, trained_on, plan.notes)


# -- Prefect task ---------------------------------------------------------------------


STAGE = Stage("predict", __name__)


@task(name="predict", cache_policy=NO_CACHE)
def predict(
    store: ArtifactStore,
    run_date: date,
    scaled: Scaled,
    model: Trained,
    look_back: int,
    forecast: ForecastConfig | None = None,
    seed: int = 42,
    compute: ComputeConfig | None = None,
) -> Predicted:
    """Apply each region's model to its target and driver series; write predictions in counts; forecast every
    region's target walk-forward with the forecaster (``forecast``; seeds from ``seed``, train.seed), in region
    chunks of ``compute.regions_per_chunk``, here or on ``compute.dask_address``."""
    from tasks.forecast import forecast_table
    from tasks.scaleout import chunk_count, for_each_chunk, region_chunks

    logger = get_run_logger()
    forecast = forecast or ForecastConfig()
    compute = compute or ComputeConfig()

    def compute_stage() -> Predicted:
        frame = store.load_table(scaled.scaled)
        card = store.load_json(model.model_card)
        plan = store.load_json(model.plan)
        keras_model = lstm_model.load_model(store.resolve(model.model))
        scalers = scalers_from_dict(store.load_json(scaled.scaler))
        predictions = predict_regions(
            keras_model, card["regions"], frame, scalers, look_back, card["trained_on"], plan["notes"]
        )
        counts = predictions.groupby("role")["predicted"].count().to_dict()
        logger.info(
            "predict: %s predictions per role for %d region(s) with model %s",
            counts, len(card["regions"]), model.model_id,
        )  # fmt: skip
        size = compute.regions_per_chunk
        forecast_chunk = functools.partial(
            forecast_table, config=forecast, seed=seed, frequency=scaled.frequency, chunk_size=size
        )
        if compute.dask_address:
            logger.info(
                "predict: forecasting %d chunk(s) of regions on Dask at %s", chunk_count(frame, size),
                compute.dask_address,
            )  # fmt: skip
        tally = {"forecasts": 0, "driver": 0, "target": 0}
        empty = forecast_table(frame.iloc[:0], forecast, seed, scaled.frequency)
        with store.table_parts("predict", run_date, "forecasts", empty) as forecasts:

            def keep(part: pd.DataFrame) -> None:
                # Each chunk's forecasts go to disk as they arrive: memory holds one chunk, not every region.
                forecasts.write(part)
                on = part.drop_duplicates("region")["forecast_on"].value_counts()
                tally["forecasts"] += int(part["forecast"].notna().sum())
                tally["driver"] += int(on.get("driver", 0))
                tally["target"] += int(on.get("target", 0))

            for_each_chunk(forecast_chunk, region_chunks(frame, size), compute.dask_address, "predict", keep)
        logger.info(
            "predict: forecaster (%d member(s), refit every %d days): %d forecasts for %d region(s), driver input "
            "in %d, target history only in %d",
            forecast.members, forecast.refit_days, tally["forecasts"], int(frame["region"].nunique()),
            tally["driver"], tally["target"],
        )  # fmt: skip
        return Predicted(
            predictions=store.write_table("predict", run_date, "predictions", predictions), forecasts=forecasts.ref
        )

    return run_stage(
        store, run_date, STAGE, Predicted,
        inputs={"scaled": scaled.scaled, "scaler": scaled.scaler, "model": model.model, "plan": model.plan},
        settings={"look_back": look_back, "forecast": forecast, "seed": seed, "frequency": scaled.frequency,
                  "regions_per_chunk": compute.regions_per_chunk},
        compute=compute_stage, logger=logger,
        extra={"model_id": model.model_id, "forecast_where": compute.dask_address or "in process"},
    )  # fmt: skip
