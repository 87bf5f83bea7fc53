"""The grouped engine's packed weight layout: S models' five weight arrays as one (S, n_params) float array.

Order WEIGHT_NAMES: kernel (F, 4H), recurrent kernel (H, 4H), bias (4H,), head kernel (H, 1), head bias (1,),
each flattened per series; F input features, H units. Plain NumPy, shared by the engine (:mod:`tasks.lstm`),
the Keras model (:mod:`tasks.lstm_model`), the forecaster and Dask chunks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tasks.config import TrainConfig

WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias", "head_kernel", "head_bias")
Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _weight_tail_shapes(config: TrainConfig, features: int = 1) -> list[tuple[int, ...]]:
    """Per-series weight shapes in WEIGHT_NAMES order (the leading series axis left out)."""
    h = config.units
    return [(4 * h,) if features == 1 else (features, 4 * h), (h, 4 * h), (4 * h,), (h,), ()]


def n_parameters(config: TrainConfig, features: int = 1) -> int:
    """Weights per series: F 4H + 4H^2 + 4H + H + 1."""
    return sum(math.prod(shape) for shape in _weight_tail_shapes(config, features))


def _pack(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Weights in WEIGHT_NAMES order, each (S, ...) -> one (S, n_params) float32 array."""
    return np.concatenate([np.asarray(w, dtype="float32").reshape(len(w), -1) for w in weights], axis=1)


def _unpack(packed: np.ndarray, config: TrainConfig, features: int = 1) -> list[np.ndarray]:
    """Inverse of ``_pack``: (S, n_params) -> weights in WEIGHT_NAMES order."""
    out, start = [], 0
    for shape in _weight_tail_shapes(config, features):
        size = math.prod(shape)
        out.append(packed[:, start : start + size].reshape(len(packed), *shape))
        start += size
    return out


def features_of(packed: np.ndarray, config: TrainConfig) -> int:
    """Input features F of (S, n_params) packed weights: n_params = F 4H + 4H^2 + 4H + H + 1."""
    h = config.units
    rest = np.asarray(packed).shape[1] - (4 * h * h + 4 * h + h + 1)
    if rest <= 0 or rest % (4 * h):
        raise ValueError(f"packed weights of width {np.asarray(packed).shape[1]} do not fit units = {h}")
    return rest // (4 * h)
