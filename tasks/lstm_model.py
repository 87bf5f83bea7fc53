"""The grouped model as a Keras model: S independent LSTM(units) -> Dense(1) in two custom layers.

The training engine (:mod:`tasks.lstm`) produces packed weights; this module turns them into a Keras
model that predicts, saves and loads (``.keras`` archives in safe mode, no Python code). The layers use
the engine's own cell mathematics, so a loaded model predicts exactly what was trained. TensorFlow and
Keras are imported inside functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.config import TrainConfig
from tasks.lstm import PROGRESS_EVERY, Weights, _dense_head, _lstm_steps, _unpack, features_of, fit_weights

if TYPE_CHECKING:
    import keras

KERAS_PACKAGE = "HotspotMiner"


@dataclass(frozen=True)
class FitResult:
    """A trained grouped model and how it got there.

    model: Keras model mapping (M, S, look_back) windows to (M, S) predictions (see ``predict_series``).
    loss_history: (epochs, S) mean training MSE per epoch and series, as ``fit`` would log it for that
        series alone (batch losses weighted by batch size, i.e. the epoch's mean squared error).
    steps: (S,) optimizer updates applied per series = epochs * ceil(N_s / batch_size).
    """

    model: keras.Model
    loss_history: np.ndarray
    steps: np.ndarray


# -- Keras layers (defined lazily, registered for safe-mode loading) ----------------------

_LAYERS: dict[str, type] = {}


def ensure_registered() -> dict[str, type]:
    """Define and register the custom layers once per process -> {"GroupedLSTM": cls, "GroupedDense": cls}.

    ``load_model`` calls this, so a model can be loaded before anything was trained in the process.
    """
    if _LAYERS:
        return _LAYERS
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
    class GroupedLSTM(keras.layers.Layer):
        """S independent LSTM(units) cells: (M, S, look_back) (one feature) or (M, S, look_back, F) -> (M, S, units)."""

        def __init__(self, series: int, units: int, features: int = 1, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.series = int(series)
            self.units = int(units)
            self.features = int(features)

        def build(self, input_shape: tuple[int | None, ...]) -> None:
            s, h = self.series, self.units
            shape = (s, 4 * h) if self.features == 1 else (s, self.features, 4 * h)
            self.kernel = self.add_weight(shape=shape, initializer="zeros", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(s, h, 4 * h), initializer="zeros", name="recurrent_kernel")
            self.bias = self.add_weight(shape=(s, 4 * h), initializer="zeros", name="bias")

        def call(self, inputs: Any) -> Any:
            # series-major for the batched matmuls
            x = ops.transpose(inputs, (1, 0, 2) if self.features == 1 else (1, 0, 2, 3))
            h, _ = _lstm_steps(self.kernel, self.recurrent_kernel, self.bias, x)
            return ops.transpose(h, (1, 0, 2))

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (input_shape[0], self.series, self.units)

        def get_config(self) -> dict[str, Any]:
            config = super().get_config() | {"series": self.series, "units": self.units}
            # Written only when F > 1, so the study's saved models keep exactly their config.
            return config | ({"features": self.features} if self.features != 1 else {})

    @keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
    class GroupedDense(keras.layers.Layer):
        """S independent Dense(1) heads: (M, S, units) -> (M, S)."""

        def __init__(self, series: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.series = int(series)

        def build(self, input_shape: tuple[int | None, ...]) -> None:
            units = int(input_shape[-1])
            self.kernel = self.add_weight(shape=(self.series, units), initializer="zeros", name="kernel")
            self.bias = self.add_weight(shape=(self.series,), initializer="zeros", name="bias")

        def call(self, inputs: Any) -> Any:
            out = _dense_head(ops.transpose(inputs, (1, 0, 2)), self.kernel, self.bias)
            return ops.transpose(out, (1, 0))

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (input_shape[0], self.series)

        def get_config(self) -> dict[str, Any]:
            return super().get_config() | {"series": self.series}

    _LAYERS.update(GroupedLSTM=GroupedLSTM, GroupedDense=GroupedDense)
    return _LAYERS


def build_model(
    series: int, config: TrainConfig, weights: Sequence[np.ndarray] | None = None, features: int = 1
) -> keras.Model:
    """Uncompiled grouped model Input((S, look_back)) (or (S, look_back, F)) -> GroupedLSTM -> GroupedDense."""
    import keras

    layers = ensure_registered()
    shape = (series, config.look_back) if features == 1 else (series, config.look_back, features)
    model = keras.Sequential(
        [
            keras.Input(shape=shape),
            layers["GroupedLSTM"](series, config.units, features, name="grouped_lstm"),
            layers["GroupedDense"](series, name="grouped_dense"),
        ],
        name="grouped_lstm_regressor",
    )
    if weights is not None:
        model.set_weights([np.asarray(w, dtype="float32") for w in weights])
    return model


def model_weights(model: keras.Model) -> Weights:
    """The grouped model's weights in WEIGHT_NAMES order (shapes as in :func:`tasks.lstm.initial_weights`)."""
    kernel, recurrent, bias, head_kernel, head_bias = (np.asarray(w) for w in model.get_weights())
    return kernel, recurrent, bias, head_kernel, head_bias


def model_from_packed(packed: np.ndarray, config: TrainConfig) -> keras.Model:
    """(S, n_params) packed weights (from :func:`fit_weights`, possibly stacked from chunks) -> grouped model."""
    packed = np.asarray(packed, dtype="float32")
    features = features_of(packed, config)
    return build_model(len(packed), config, _unpack(packed, config, features), features)


def fit_series(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    config: TrainConfig,
    on_epoch: Callable[[int, np.ndarray], None] | None = None,
    chunk_size: int = 1024,
    progress_every: int = PROGRESS_EVERY,
    series_ids: Sequence[int] | np.ndarray | None = None,
    sample_weight: Sequence[np.ndarray] | None = None,
    shuffle: str = "index",
) -> FitResult:
    """:func:`fit_weights`, returned as a Keras model mapping (M, S, look_back[, F]) to (M, S)."""
    fitted = fit_weights(X, y, config, series_ids, on_epoch, chunk_size, progress_every, sample_weight, shuffle)
    return FitResult(model_from_packed(fitted.packed, config), fitted.loss_history, fitted.steps)


# -- inference and persistence -----------------------------------------------------------


def predict_series(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """X (S, M, look_back) (or (S, M, look_back, F)) scaled windows -> (S, M) float32 predictions, series s
    by its own model.

    Uses a direct model call: ``model.predict`` builds a predict function and is ~10x slower here.
    """
    windows = np.asarray(X, dtype="float32")
    if windows.ndim not in (3, 4):
        raise ValueError(f"X must be (S, M, look_back) or (S, M, look_back, F); got shape {windows.shape}")
    out = model(np.ascontiguousarray(np.swapaxes(windows, 0, 1)), training=False)
    return np.asarray(out).T.copy()


def save_model(model: keras.Model, path: Path) -> None:
    """Write the model as a ``.keras`` archive (config + weights, no Python code)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Keras 3.15 saving passes copy=False to np.array on TF tensors, which NumPy 2.4 reports on every
        # save (plain keras.layers.LSTM models too); it is harmless and not ours to fix.
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
        model.save(path)


def load_model(path: Path) -> keras.Model:
    """Load a ``.keras`` model in safe mode (refuses serialised lambdas); registers the custom layers first."""
    import keras

    ensure_registered()
    return keras.models.load_model(Path(path), safe_mode=True, compile=False)
