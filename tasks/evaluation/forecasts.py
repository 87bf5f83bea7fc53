"""The pipeline's forecasts of labelled series, exactly as the pipeline makes them (no proxy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks import lstm_model
from tasks.config import ForecastConfig, TrainConfig
from tasks.scale import fit_minmax
from tasks.train import make_windows


def lstm_forecasts(
    frames: Sequence[pd.DataFrame], config: TrainConfig, series_ids: Sequence[int] | None = None
) -> list[np.ndarray]:
    """The pipeline's LSTM forecast of the target for S series at once -> S arrays ``(T_s,)`` in counts.

    Per series exactly the pipeline's steps: min-max scale driver and target on their own observed
    values (:func:`tasks.scale.fit_minmax`), train the study's LSTM on the driver's complete windows
    (:func:`tasks.train.make_windows`), apply it to the target's windows and scale back with the
    target's scaler (as :func:`tasks.predict.predict_regions`). The S models are trained in one call of
    :func:`tasks.lstm_model.fit_series` (independent weights), so a scenario with 20 seeds costs about one
    model. NaN where the target window touches a missing day.

    Args:
        frames: S frames with ``actual`` (target) and ``driver`` columns, one row per day.
        config: the study's training settings (look_back, units, optimizer, epochs, seed).
        series_ids: (S,) seed keys of the series (default 0..S-1); the pipeline keys a region by
            :func:`tasks.lstm.series_id` of its name.
    """
    look_back = config.look_back
    drivers, targets, x_list, y_list = [], [], [], []
    for frame in frames:
        driver = frame["driver"].to_numpy(dtype="float64")
        target = frame["actual"].to_numpy(dtype="float64")
        if not np.isfinite(driver).any():
            driver = target  # no driver: trained on the target's own history, as the pipeline's fallback
        d_scaler, t_scaler = fit_minmax(driver), fit_minmax(target)
        windows = make_windows(d_scaler.transform(driver), look_back)
        if len(windows) < config.batch_size:
            raise ValueError(f"a series has only {len(windows)} complete driver windows (< batch_size)")
        x_list.append(windows.x.astype("float32"))
        y_list.append(windows.y.astype("float32"))
        drivers.append(d_scaler)
        targets.append((t_scaler, make_windows(t_scaler.transform(target), look_back), target.shape[0]))
    model = lstm_model.fit_series(x_list, y_list, config, series_ids=series_ids).model
    # The grouped model takes one (S, M, look_back) block: pad every series' target windows to the longest.
    longest = max(max(len(w), 1) for _, w, _ in targets)
    block = np.zeros((len(frames), longest, look_back), dtype="float32")
    for s, (_, windows, _) in enumerate(targets):
        block[s, : len(windows)] = windows.x
    predicted = lstm_model.predict_series(model, block).astype("float64")
    out = []
    for s, (scaler, windows, n) in enumerate(targets):
        forecast = np.full(n, np.nan)
        forecast[windows.index] = scaler.inverse(predicted[s, : len(windows)])
        out.append(forecast)
    return out


def ensemble_forecasts(
    frames: Sequence[pd.DataFrame],
    config: ForecastConfig,
    seed: int,
    names: Sequence[str] | None = None,
    chunk_size: int = 1024,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The driver-conditioned forecaster's walk-forward ensemble of S series, exactly as the pipeline's predict
    stage makes it (:func:`tasks.forecast.walk_forward`, all series in one grouped call per pass) -> S pairs of
    ``(T_s,)`` arrays: the ensemble mean and the members' spread, in counts. ``names`` key each series' member
    seeds as a region name does in the pipeline (default "0", "1", ...)."""
    from tasks.forecast import SeriesInput, walk_forward

    keys = [str(s) for s in range(len(frames))] if names is None else list(names)
    inputs = [
        SeriesInput(key, frame["actual"].to_numpy(dtype="float64"), frame["driver"].to_numpy(dtype="float64"),
                    frame["date"].to_numpy())
        for key, frame in zip(keys, frames, strict=True)
    ]  # fmt: skip
    return [(item.mean, item.spread) for item in walk_forward(inputs, config, seed, chunk_size)]
