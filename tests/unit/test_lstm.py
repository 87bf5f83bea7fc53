"""Grouped LSTM engine (tasks/lstm.py): independence, step counting, Adam parity, persistence, determinism.

Epochs and series are tiny so the file stays fast; the engine is traced once per process and reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tasks.config import TrainConfig
from tasks.lstm import initial_weights, shuffle_order, steps_per_epoch
from tasks.lstm_model import fit_series, load_model, model_weights, predict_series, save_model

ROOT = Path(__file__).resolve().parents[2]
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}


def windows(n: int, seed: int, look_back: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """n random scaled windows -> X (n, look_back) float32, y (n,) float32."""
    series = np.random.default_rng(seed).random(n + look_back).astype("float32")
    frames = np.lib.stride_tricks.sliding_window_view(series, look_back + 1)
    return frames[:, :look_back].copy(), frames[:, look_back].copy()


def dataset(sizes: list[int], seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One random series per size -> X list of (N_s, 2), y list of (N_s,)."""
    pairs = [windows(n, seed + i) for i, n in enumerate(sizes)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def series_weights(model: Any, s: int) -> list[np.ndarray]:
    """Series s's weights of a grouped model, in WEIGHT_NAMES order without the series axis."""
    return [w[s] for w in model_weights(model)]


def test_import_is_cheap() -> None:
    code = "import sys, tasks.lstm; print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_steps_per_epoch_counts_the_partial_batch() -> None:
    assert steps_per_epoch([7, 3, 1, 6], 3).tolist() == [3, 1, 1, 2]


def test_unequal_series_get_their_own_number_of_updates() -> None:
    config = TrainConfig(epochs=2, batch_size=3)
    X, y = dataset([7, 3])
    result = fit_series(X, y, config)
    assert result.steps.tolist() == [3 * 2, 1 * 2]
    assert result.loss_history.shape == (2, 2)
    assert np.isfinite(result.loss_history).all()


def test_padded_steps_leave_weights_and_moments_untouched() -> None:
    # Series 0 (3 windows, 1 step per epoch) trained beside a longer series must end exactly where it
    # ends alone: any update on its padded steps (weights or Adam moments) would change its weights.
    config = TrainConfig(epochs=3, batch_size=3)
    X, y = dataset([3, 10])
    grouped = fit_series(X, y, config)
    alone = fit_series(X[:1], y[:1], config)
    for a, b in zip(series_weights(grouped.model, 0), series_weights(alone.model, 0), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grouped.loss_history[:, 0], alone.loss_history[:, 0])


def test_series_are_independent() -> None:
    config = TrainConfig(epochs=2, batch_size=3)
    X, y = dataset([8, 6, 5])
    before = fit_series(X, y, config)
    X2, y2 = list(X), list(y)
    X2[0], y2[0] = windows(11, seed=99)  # other values and another length for series 0 only
    after = fit_series(X2, y2, config)
    for s in (1, 2):
        for a, b in zip(series_weights(before.model, s), series_weights(after.model, s), strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(series_weights(before.model, 0)[0], series_weights(after.model, 0)[0])


def test_chunking_and_progress_blocks_do_not_change_results() -> None:
    config = TrainConfig(epochs=3, batch_size=3)
    X, y = dataset([5, 9, 4])
    seen: list[tuple[int, np.ndarray]] = []
    whole = fit_series(X, y, config)
    chunked = fit_series(
        X, y, config, chunk_size=2, on_epoch=lambda e, losses: seen.append((e, losses)), progress_every=2
    )
    for a, b in zip(model_weights(whole.model), model_weights(chunked.model), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole.loss_history, chunked.loss_history)
    assert [e for e, _ in seen] == [1, 2, 3]
    np.testing.assert_array_equal(np.stack([losses for _, losses in seen]), whole.loss_history)


def test_hand_written_backward_matches_autodiff() -> None:
    import tensorflow as tf

    from tasks.lstm import _backward, _dense_head, _lstm_steps

    config = TrainConfig()
    rng = np.random.default_rng(3)
    weights = [tf.constant(w) for w in initial_weights(config, [0, 1, 2])]
    x = tf.constant(rng.random((3, 5, config.look_back)).astype("float32"))
    target = tf.constant(rng.random((3, 5)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(weights)
        h_last, cache = _lstm_steps(*weights[:3], x)
        pred = _dense_head(h_last, *weights[3:])
        loss = tf.reduce_sum(tf.reduce_mean(tf.square(pred - target), axis=1))
    expected = tape.gradient(loss, weights)
    by_hand = _backward(weights, h_last, cache, 2.0 * (pred - target) / 5.0)
    for a, b in zip(by_hand, expected, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_grouped_model_predicts_like_keras_lstm() -> None:
    import keras

    config = TrainConfig(epochs=1)
    X, y = dataset([6, 9])
    result = fit_series(X, y, config)
    probe = np.stack([X[0][:5], X[1][:5]])
    grouped = predict_series(result.model, probe)
    for s in range(2):
        kernel, recurrent, bias, head_kernel, head_bias = series_weights(result.model, s)
        plain = keras.Sequential([keras.Input((2, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
        plain.set_weights([kernel[np.newaxis], recurrent, bias, head_kernel[:, np.newaxis], head_bias.reshape(1)])
        expected = np.asarray(plain(probe[s][..., np.newaxis], training=False))[:, 0]
        np.testing.assert_allclose(grouped[s], expected, rtol=1e-6, atol=1e-7)


def test_first_update_matches_keras_adam_step() -> None:
    # One epoch of 3 windows with batch 3 = exactly one Adam step on the whole set, so the engine's
    # shuffle cannot change which windows form the batch.
    import keras
    import tensorflow as tf

    config = TrainConfig(epochs=1, batch_size=3)
    X, y = windows(3, seed=7)
    kernel, recurrent, bias, head_kernel, head_bias = initial_weights(config, [0])
    start = [kernel[0][np.newaxis], recurrent[0], bias[0], head_kernel[0][:, np.newaxis], head_bias[:1]]

    plain = keras.Sequential([keras.Input((2, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    plain.compile(optimizer=keras.optimizers.Adam(0.01, beta_1=0.9, beta_2=0.999), loss="mse")
    plain.set_weights(start)
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, plain(X[..., np.newaxis]))
    grads = [np.asarray(g) for g in tape.gradient(loss, plain.trainable_weights)]
    keras_loss = plain.train_on_batch(X[..., np.newaxis], y)
    after_keras = plain.get_weights()

    result = fit_series([X], [y], config)
    engine = series_weights(result.model, 0)
    engine = [engine[0][np.newaxis], engine[1], engine[2], engine[3][:, np.newaxis], engine[4].reshape(1)]

    # Adam's first step by hand: m = (1-b1) g, v = (1-b2) g^2, alpha = lr sqrt(1-b2) / (1-b1).
    alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
    for w0, g, w_keras, w_engine in zip(start, grads, after_keras, engine, strict=True):
        by_hand = w0 - alpha * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-7)
        np.testing.assert_allclose(w_engine, w_keras, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(w_engine, by_hand, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.loss_history[0, 0], keras_loss, rtol=1e-6)
    assert result.steps.tolist() == [1]


def test_every_epoch_is_reshuffled() -> None:
    orders = [shuffle_order(20, seed=3, series_id=0, epoch=e) for e in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(20))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def test_whole_run_matches_keras_given_the_same_init_and_order() -> None:
    # 7 windows, batch 3, 3 epochs = 9 updates incl. partial batches: plain Keras train_on_batch fed
    # the engine's initial weights and batch order must land on the engine's weights and losses.
    import keras

    config = TrainConfig(epochs=3, batch_size=3, seed=4)
    X, y = windows(7, seed=8)
    kernel, recurrent, bias, head_kernel, head_bias = initial_weights(config, [0])
    plain = keras.Sequential([keras.Input((2, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    plain.compile(optimizer=keras.optimizers.Adam(0.01, beta_1=0.9, beta_2=0.999), loss="mse")
    plain.set_weights([kernel[0][np.newaxis], recurrent[0], bias[0], head_kernel[0][:, np.newaxis], head_bias[:1]])
    keras_losses = []
    for epoch in range(config.epochs):
        order = shuffle_order(len(y), config.seed, 0, epoch)
        total = 0.0
        for lo in range(0, len(y), config.batch_size):
            batch = order[lo : lo + config.batch_size]
            total += float(plain.train_on_batch(X[batch][..., np.newaxis], y[batch])) * len(batch)
        keras_losses.append(total / len(y))

    result = fit_series([X], [y], config)
    engine = series_weights(result.model, 0)
    engine = [engine[0][np.newaxis], engine[1], engine[2], engine[3][:, np.newaxis], engine[4].reshape(1)]
    for w_engine, w_keras in zip(engine, plain.get_weights(), strict=True):
        np.testing.assert_allclose(w_engine, w_keras, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.loss_history[:, 0], keras_losses, rtol=1e-5)
    assert int(plain.optimizer.iterations.numpy()) == int(result.steps[0]) == 9


def test_save_load_round_trip_and_determinism(tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, batch_size=3, seed=5)
    X, y = dataset([6, 4])
    first = fit_series(X, y, config)
    second = fit_series(X, y, config)
    np.testing.assert_array_equal(first.loss_history, second.loss_history)

    path = tmp_path / "grouped.keras"
    save_model(first.model, path)
    loaded = load_model(path)
    probe = np.stack([X[0][:4], X[1][:4]])  # (S=2, M=4, look_back)
    expected = predict_series(first.model, probe)
    assert expected.shape == (2, 4)
    np.testing.assert_array_equal(predict_series(loaded, probe), expected)


@pytest.mark.slow
def test_fresh_process_loads_the_model_and_trains_identically(tmp_path: Path) -> None:
    # A new process must register the lazily defined layers before loading (safe_mode), and the
    # same seed must give the same losses there (no process-global RNG is involved).
    config = TrainConfig(epochs=2, batch_size=3, seed=11)
    X, y = dataset([5, 7])
    result = fit_series(X, y, config)
    path = tmp_path / "grouped.keras"
    save_model(result.model, path)
    probe = np.stack([X[0][:3], X[1][:3]])
    np.save(tmp_path / "probe.npy", probe)
    code = f"""
import json, numpy as np
from pathlib import Path
from tasks.config import TrainConfig
from tasks.lstm_model import fit_series, load_model, predict_series
from tests.unit.test_lstm import dataset
tmp = Path({str(tmp_path)!r})
pred = predict_series(load_model(tmp / "grouped.keras"), np.load(tmp / "probe.npy"))
X, y = dataset([5, 7])
losses = fit_series(X, y, TrainConfig(epochs=2, batch_size=3, seed=11)).loss_history
print(json.dumps({{"pred": pred.tolist(), "losses": losses.tolist()}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ | TF_ENV | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.asarray(child["pred"], dtype="float32"), predict_series(result.model, probe))
    np.testing.assert_array_equal(np.asarray(child["losses"], dtype="float32"), result.loss_history)


def test_rejects_windows_with_gaps() -> None:
    X, y = windows(4, seed=1)
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_series([X], [y], TrainConfig(epochs=1))


# -- several input features and per-window sample weights ------------------------------------------


def feature_windows(n: int, seed: int, look_back: int = 3, features: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """n random windows with F features -> X (n, look_back, F) float32, y (n,) float32."""
    rng = np.random.default_rng(seed)
    return rng.random((n, look_back, features)).astype("float32"), rng.random(n).astype("float32")


def test_hand_written_backward_matches_autodiff_with_features_and_weights() -> None:
    import tensorflow as tf

    from tasks.lstm import _backward, _dense_head, _lstm_steps

    config = TrainConfig(look_back=4, units=5)
    rng = np.random.default_rng(4)
    weights = [tf.constant(w) for w in initial_weights(config, [0, 1, 2], features=3)]
    assert weights[0].shape == (3, 3, 20)
    x = tf.constant(rng.random((3, 6, 4, 3)).astype("float32"))
    target = tf.constant(rng.random((3, 6)).astype("float32"))
    w = tf.constant(rng.random((3, 6)).astype("float32") * np.array([1, 0, 1, 1, 0.5, 1], dtype="float32"))
    with tf.GradientTape() as tape:
        tape.watch(weights)
        h_last, cache = _lstm_steps(*weights[:3], x)
        pred = _dense_head(h_last, *weights[3:])
        loss = tf.reduce_sum(tf.reduce_sum(w * tf.square(pred - target), axis=1) / 6.0)
    expected = tape.gradient(loss, weights)
    by_hand = _backward(weights, h_last, cache, 2.0 * w * (pred - target) / 6.0)
    for a, b in zip(by_hand, expected, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_unit_weights_are_the_unweighted_fit() -> None:
    for make, config in (
        (lambda n, s: windows(n, s), TrainConfig(epochs=3, batch_size=3)),
        (lambda n, s: feature_windows(n, s), TrainConfig(look_back=3, epochs=3, batch_size=4, units=3)),
    ):
        pairs = [make(n, 20 + i) for i, n in enumerate([7, 10])]
        X, y = [p[0] for p in pairs], [p[1] for p in pairs]
        plain = fit_series(X, y, config)
        ones = fit_series(X, y, config, sample_weight=[np.ones(len(t)) for t in y])
        for a, b in zip(model_weights(plain.model), model_weights(ones.model), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(plain.loss_history, ones.loss_history)


def test_a_zero_weight_window_changes_nothing() -> None:
    # Weight 0 on window 4 of series 0 = training without that window; series 1 is untouched either way.
    config = TrainConfig(look_back=3, epochs=3, batch_size=4, units=3)
    pairs = [feature_windows(n, 30 + i) for i, n in enumerate([9, 8])]
    X, y = [p[0] for p in pairs], [p[1] for p in pairs]
    rng = np.random.default_rng(0)
    w = [rng.uniform(0.2, 1.0, len(t)) for t in y]
    w[0][4] = 0.0
    weighted = fit_series(X, y, config, sample_weight=w)
    keep = np.arange(9) != 4
    removed = fit_series([X[0][keep], X[1]], [y[0][keep], y[1]], config, sample_weight=[w[0][keep], w[1]])
    for a, b in zip(model_weights(weighted.model), model_weights(removed.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert weighted.steps.tolist() == removed.steps.tolist() == [3 * 2, 3 * 2]


@pytest.mark.parametrize("shuffle", ["index", "sort"])
def test_weighted_multi_feature_run_matches_keras(shuffle: str) -> None:
    # F = 3 features, look_back 3, weighted windows, 3 epochs of partial batches: plain Keras train_on_batch with
    # sample_weight, fed the engine's initial weights and batch order, lands on the engine's weights and losses.
    import keras

    from tasks.lstm import sort_shuffle_order

    orders = {"index": shuffle_order, "sort": sort_shuffle_order}[shuffle]

    config = TrainConfig(look_back=3, units=3, epochs=3, batch_size=3, seed=6)
    X, y = feature_windows(8, seed=9)
    w = np.random.default_rng(2).uniform(0.1, 2.0, 8).astype("float32")
    kernel, recurrent, bias, head_kernel, head_bias = initial_weights(config, [0], features=3)
    plain = keras.Sequential([keras.Input((3, 3)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    plain.compile(optimizer=keras.optimizers.Adam(0.01, beta_1=0.9, beta_2=0.999), loss="mse")
    plain.set_weights([kernel[0], recurrent[0], bias[0], head_kernel[0][:, np.newaxis], head_bias[:1]])
    keras_losses = []
    for epoch in range(config.epochs):
        order = orders(len(y), config.seed, 0, epoch)
        total = 0.0
        for lo in range(0, len(y), config.batch_size):
            batch = order[lo : lo + config.batch_size]
            total += float(plain.train_on_batch(X[batch], y[batch], sample_weight=w[batch])) * len(batch)
        keras_losses.append(total / len(y))

    result = fit_series([X], [y], config, sample_weight=[w], shuffle=shuffle)
    engine = series_weights(result.model, 0)
    engine = [engine[0], engine[1], engine[2], engine[3][:, np.newaxis], engine[4].reshape(1)]
    for w_engine, w_keras in zip(engine, plain.get_weights(), strict=True):
        np.testing.assert_allclose(w_engine, w_keras, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.loss_history[:, 0], keras_losses, rtol=1e-5)
    probe = X[np.newaxis, :5]
    np.testing.assert_allclose(
        predict_series(result.model, probe)[0], np.asarray(plain(X[:5], training=False))[:, 0], rtol=1e-5, atol=1e-6
    )


def test_multi_feature_chunks_and_save_load(tmp_path: Path) -> None:
    config = TrainConfig(look_back=3, units=4, epochs=2, batch_size=4, seed=3)
    pairs = [feature_windows(n, 40 + i) for i, n in enumerate([6, 11, 9])]
    X, y = [p[0] for p in pairs], [p[1] for p in pairs]
    w = [np.linspace(0.5, 1.5, len(t)) for t in y]
    whole = fit_series(X, y, config, sample_weight=w)
    chunked = fit_series(X, y, config, sample_weight=w, chunk_size=2)
    for a, b in zip(model_weights(whole.model), model_weights(chunked.model), strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit for this shape (as for the study's)
    path = tmp_path / "features.keras"
    save_model(whole.model, path)
    probe = np.stack([X[0][:4], X[1][:4], X[2][:4]])  # (S=3, M=4, look_back, F)
    np.testing.assert_array_equal(predict_series(load_model(path), probe), predict_series(whole.model, probe))


def test_rejects_bad_sample_weights() -> None:
    X, y = windows(4, seed=1)
    with pytest.raises(ValueError, match="sample weights"):
        fit_series([X], [y], TrainConfig(epochs=1), sample_weight=[np.array([1.0, -1.0, 1.0, 1.0])])
    with pytest.raises(ValueError, match="no training windows"):
        fit_series([X], [y], TrainConfig(epochs=1), sample_weight=[np.zeros(4)])


def test_sort_shuffle_is_a_permutation_per_epoch_and_key() -> None:
    from tasks.lstm import sort_shuffle_order

    orders = [sort_shuffle_order(20, seed=3, series_id=0, epoch=e) for e in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(20))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], sort_shuffle_order(20, seed=3, series_id=1, epoch=0))
