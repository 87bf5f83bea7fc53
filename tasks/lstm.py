"""Grouped LSTM engine: S independent LSTM(units) -> Dense(1) models trained in one TensorFlow graph.

The reference study trains one ``LSTM(4) -> Dense(1)`` per series with Adam and MSE through
``model.fit``. This module keeps that mathematics per series but

* groups the series: every weight carries a leading series axis (block-diagonal model, no
  sharing), and each series' loss is its own batch MSE, so its gradient is the one it gets alone;
* replaces ``fit`` by one ``tf.function`` whose ``tf.while_loop``s run a whole block of epochs
  (all of them when no progress callback is given), with backpropagation through the two time
  steps written out and Keras' Adam written out per series, so that series which have run out of
  batches are masked (weights, moments and step counter untouched);
* chunks the series axis (``chunk_size``) so graph memory is bounded for any S;
* takes F input features per time step (X[s] of shape (N, look_back, F); the study's F = 1 keeps its
  (N, look_back) windows, its (S, 4H) kernel and its exact graph) and optional per-window sample
  weights (series s's loss on a batch = sum(w * squared error) / windows in the batch, as Keras'
  ``sample_weight`` with the default reduction; a window of weight 0 is dropped before batching, so
  it changes nothing at all).

Randomness never depends on which other series are trained alongside: initial weights come from
a NumPy generator seeded with ``(seed, series index)`` (Keras' default initializer distributions)
and each epoch's shuffle from TensorFlow's stateless ``RandomIndexShuffle`` keyed by ``(seed,
series index, epoch)``. So a series' result never depends on other series' data, and runs repeat
bit for bit across processes. Across different chunk sizes they agree bit for bit for the study's
shapes (tested); for some other shapes (seen with units 3, batch 2) TensorFlow's vectorised kernels
round the last bit differently as S changes, so chunked results then agree to float32 rounding only.

TensorFlow and Keras are imported inside functions, so ``import tasks.lstm`` is cheap.
The Keras model that holds trained weights (layers, save, load, predict) is :mod:`tasks.lstm_model`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tasks.config import TrainConfig
from tasks.lstm_keys import (  # noqa: F401 - part of this module's interface (callers use lstm.series_id etc.)
    _GOLDEN,
    _MIX_1,
    _MIX_2,
    SHUFFLES,
    _seed_i64,
    _seed_u64,
    chunk_bounds,
    series_id,
    shuffle_order,
    sort_shuffle_order,
)
from tasks.lstm_layout import (  # noqa: F401 - part of this module's interface
    WEIGHT_NAMES,
    Weights,
    _pack,
    _unpack,
    _weight_tail_shapes,
    features_of,
    n_parameters,
)

if TYPE_CHECKING:
    import tensorflow as tf

ADAM_EPSILON = 1e-7  # keras.optimizers.Adam default; the study does not change it
PROGRESS_EVERY = 5  # epochs per compiled block when a progress callback is given


# -- plain NumPy helpers (no TensorFlow) -------------------------------------------------


def steps_per_epoch(n_windows: Sequence[int] | np.ndarray, batch_size: int) -> np.ndarray:
    """(S,) window counts -> (S,) optimizer steps per epoch, ceil(N_s / batch); the last partial batch counts."""
    return -(-np.asarray(n_windows, dtype="int64") // batch_size)


def initial_weights(config: TrainConfig, series_ids: Sequence[int] | np.ndarray, features: int = 1) -> Weights:
    """Keras-default initial weights for the given series, each from its own ``(seed, series id)`` generator.

    Same distributions as ``LSTM(units)`` and ``Dense(1)``: glorot-uniform input kernel, orthogonal
    recurrent kernel, zero bias with forget-gate bias 1, glorot-uniform head, zero head bias.
    Returns kernel (S, 4H) for one feature or (S, F, 4H), recurrent_kernel (S, H, 4H), bias (S, 4H),
    head_kernel (S, H), head_bias (S,). For F = 1 the draws are the same as before F existed.
    """
    ids = np.asarray(series_ids, dtype="int64")
    h = config.units
    s = ids.size
    kernel = np.empty((s, features, 4 * h))
    normals = np.empty((s, 4 * h, h))
    head = np.empty((s, h))
    kernel_limit = math.sqrt(6.0 / (features + 4 * h))  # fan_in = F features, fan_out = 4H
    head_limit = math.sqrt(6.0 / (h + 1))
    for row, key in enumerate(ids):
        rng = np.random.default_rng([_seed_u64(config.seed), int(key)])
        kernel[row] = rng.uniform(-kernel_limit, kernel_limit, (features, 4 * h))
        normals[row] = rng.standard_normal((4 * h, h))
        head[row] = rng.uniform(-head_limit, head_limit, h)
    # Orthogonal initializer as Keras does it: QR of a (4H, H) normal matrix, column signs fixed by
    # diag(R), transposed to (H, 4H) so the rows are orthonormal.
    q, r = np.linalg.qr(normals)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, np.newaxis, :]
    recurrent = np.swapaxes(q, 1, 2)
    bias = np.zeros((s, 4 * h))
    bias[:, h : 2 * h] = 1.0  # unit_forget_bias=True
    if features == 1:
        kernel = kernel[:, 0]  # the study's shape, so its saved models and registry entries stay valid
    return (
        kernel.astype("float32"),
        recurrent.astype("float32"),
        bias.astype("float32"),
        head.astype("float32"),
        np.zeros(s, dtype="float32"),
    )


# -- the model's mathematics (shared by the training engine and the Keras layers) ---------


class _Step(NamedTuple):
    """What the backward pass needs from one LSTM time step (all (S, M, H) but x_t: (S, M) or (S, M, F))."""

    x_t: Any
    h_prev: Any  # None at the first step (zero state)
    c_prev: Any  # None at the first step
    i: Any
    f: Any
    g: Any  # tanh candidate
    o: Any
    tanh_c: Any


def _lstm_steps(kernel: Any, recurrent: Any, bias: Any, x: Any) -> tuple[Any, list[_Step]]:
    """S grouped LSTM cells: x (S, M, L) with kernel (S, 4H), or (S, M, L, F) with kernel (S, F, 4H)
    -> (last hidden state (S, M, H), per-step cache).

    Same order of operations as keras.layers.LSTM (implementation 2): z = x k + h R + b split into
    gates i, f, c, o; the zero initial state is skipped, which changes no value (0 + a and f * 0 are
    exact). Written with keras.ops so the Keras layers and the training engine share it.

    With F > 1 the input projection of all look_back steps is one batched matmul (S, M L, F) @ (S, F, 4H)
    rather than one per step: a batched matmul of S tiny matrices costs about the same per matrix
    whatever its size, so fewer, larger products are cheaper (broadcast-multiply-and-sum forms were
    measured slower still: TensorFlow's broadcasting Mul is slow). The study's F = 1 path is unchanged,
    so its results do not move by a bit.
    """
    from keras import ops

    one_feature = len(x.shape) == 3
    if one_feature:
        kernel = ops.expand_dims(kernel, 1)  # (S, 1, 4H)
        inputs = None
    else:
        # Input projection of every time step at once: (S, M L, F) @ (S, F, 4H) -> (S, M, L, 4H).
        s_, m_, l_, f_ = ops.shape(x)
        projected = ops.matmul(ops.reshape(x, (s_, m_ * l_, f_)), kernel)
        inputs = ops.unstack(ops.reshape(projected, (s_, m_, l_, ops.shape(kernel)[-1])), axis=2)
    bias = ops.expand_dims(bias, 1)
    h = c = None
    cache = []
    for step, x_t in enumerate(ops.unstack(x, axis=2)):  # look_back is static: unrolled at trace time
        # One input feature: x @ kernel is a broadcast product; F > 1: the projection computed above.
        z = ops.expand_dims(x_t, -1) * kernel if inputs is None else inputs[step]
        if h is not None:
            z = z + ops.matmul(h, recurrent)
        z = z + bias
        # One sigmoid over the whole (S, M, 4H) block, then split: fewer ops than four sigmoids, and every
        # series' gates then take the same (vectorised) code path in the kernel whatever S is; the
        # scalar path used for a tensor's tail rounds sigmoid differently in the last bit.
        i, f, _, o = ops.split(ops.sigmoid(z), 4, axis=-1)
        g = ops.tanh(ops.split(z, 4, axis=-1)[2])
        c_next = i * g if c is None else f * c + i * g
        tanh_c = ops.tanh(c_next)
        cache.append(_Step(x_t, h, c, i, f, g, o, tanh_c))
        h, c = o * tanh_c, c_next
    return h, cache


def _dense_head(h: Any, head_kernel: Any, head_bias: Any) -> Any:
    """Per-series Dense(1): h (S, M, H) -> (S, M)."""
    from keras import ops

    return ops.squeeze(ops.matmul(h, ops.expand_dims(head_kernel, -1)), -1) + ops.expand_dims(head_bias, 1)


def _backward(weights: Sequence[Any], h_last: Any, cache: list[_Step], d_pred: Any) -> list[Any]:
    """Gradients of a loss w.r.t. the weights (WEIGHT_NAMES order), given d loss / d predictions (S, M).

    Backpropagation through time written out: with look_back 2 and 4 units an autodiff graph is
    four times as many ops, and at this size every op costs about the same (tests compare with
    tf.GradientTape and with plain Keras).
    """
    import tensorflow as tf

    _, recurrent, _, head_kernel, _ = weights
    one_feature = len(cache[0].x_t.shape) == 2
    d_head_kernel = tf.reduce_sum(h_last * d_pred[..., tf.newaxis], axis=1)  # (S, H)
    d_head_bias = tf.reduce_sum(d_pred, axis=1)  # (S,)
    dh = d_pred[..., tf.newaxis] * head_kernel[:, tf.newaxis, :]  # (S, M, H)
    dc_next = None
    d_kernel = d_bias = d_recurrent = None
    dz_steps, h_steps = [], []  # F > 1: kernel and recurrent gradients over all steps at once, after the loop
    for step in reversed(cache):
        dc = dh * step.o * (1 - step.tanh_c * step.tanh_c)
        if dc_next is not None:
            dc = dc + dc_next
        d_i = dc * step.g * step.i * (1 - step.i)
        d_f = tf.zeros_like(dc) if step.c_prev is None else dc * step.c_prev * step.f * (1 - step.f)
        d_g = dc * step.i * (1 - step.g * step.g)
        d_o = dh * step.tanh_c * step.o * (1 - step.o)
        dz = tf.concat([d_i, d_f, d_g, d_o], axis=-1)  # (S, M, 4H)
        db = tf.reduce_sum(dz, axis=1)
        d_bias = db if d_bias is None else d_bias + db
        if one_feature:
            dk = tf.reduce_sum(dz * step.x_t[..., tf.newaxis], axis=1)  # (S, 4H)
            d_kernel = dk if d_kernel is None else d_kernel + dk
        else:
            dz_steps.append(dz)
        if step.h_prev is not None:
            if one_feature:
                dr = tf.matmul(step.h_prev, dz, transpose_a=True)  # (S, H, 4H)
                d_recurrent = dr if d_recurrent is None else d_recurrent + dr
            else:
                h_steps.append(step.h_prev)
            dh = tf.matmul(dz, recurrent, transpose_b=True)
            dc_next = dc * step.f
    if not one_feature:
        # One (S, F, M L) @ (S, M L, 4H) product for the kernel and one for the recurrent kernel, instead of
        # one per step (see _lstm_steps on the cost of batched matmuls).
        x = tf.concat([step.x_t for step in cache], axis=1)  # (S, L M, F), steps oldest first
        dz_all = tf.concat(dz_steps[::-1], axis=1)  # (S, L M, 4H), same order
        d_kernel = tf.matmul(x, dz_all, transpose_a=True)  # (S, F, 4H)
        if h_steps:
            m = tf.shape(dz_steps[0])[1]
            h_all = tf.concat(h_steps[::-1], axis=1)  # (S, (L - 1) M, H): the states entering steps 2..L
            d_recurrent = tf.matmul(h_all, dz_all[:, m:], transpose_a=True)  # (S, H, 4H)
    if d_recurrent is None:  # look_back 1: the recurrent kernel never meets a non-zero state
        d_recurrent = tf.zeros_like(recurrent)
    return [d_kernel, d_recurrent, d_bias, d_head_kernel, d_head_bias]


# -- the training engine -----------------------------------------------------------------

_ENGINES: dict[tuple[Any, ...], Any] = {}


def _engine(config: TrainConfig, features: int = 1, weighted: bool = False, shuffle: str = "index") -> Any:
    """The compiled training block for this model shape and optimizer, traced once per process.

    Signature: (x (S, P, L) or (S, P, L, F), y (S, P), w (S, P), n (S,), series_ids (S,), seed, first_epoch,
    n_epochs, theta, m, v (S, n_params), t (S,)) -> (theta, m, v, t, losses (n_epochs, S)); P is a multiple
    of the batch. The weights travel packed in one (S, n_params) tensor, so Adam is a dozen graph ops per
    step instead of a dozen per weight tensor: at this model size op count, not arithmetic, sets the pace.
    ``w`` (per-window sample weights) is read only by the ``weighted`` graph; the unweighted one is the
    study's graph op for op, so its results do not move by a bit. ``shuffle``: see :data:`SHUFFLES`.
    """
    key = (
        config.look_back, config.units, config.batch_size, config.learning_rate, config.beta_1, config.beta_2,
        features, weighted, shuffle,
    )  # fmt: skip
    if key in _ENGINES:
        return _ENGINES[key]
    import tensorflow as tf

    batch = config.batch_size
    lr, beta_1, beta_2 = config.learning_rate, config.beta_1, config.beta_2
    shapes = _weight_tail_shapes(config, features)
    n_params = sum(math.prod(shape) for shape in shapes)
    f32, i64 = tf.float32, tf.int64
    x_shape = [None, None, config.look_back] if features == 1 else [None, None, config.look_back, features]
    head = _dense_head
    u64 = tf.uint64

    def mix(z: tf.Tensor) -> tf.Tensor:
        # _splitmix64 on uint64 tensors (TensorFlow's uint64 multiply wraps, as NumPy's does).
        z = z + tf.constant(_GOLDEN, u64)
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(30, u64))) * tf.constant(_MIX_1, u64)
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(27, u64))) * tf.constant(_MIX_2, u64)
        return tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(31, u64)))

    signature = [
        tf.TensorSpec(x_shape, f32),
        tf.TensorSpec([None, None], f32),
        tf.TensorSpec([None, None], f32),
        tf.TensorSpec([None], i64),
        tf.TensorSpec([None], i64),
        tf.TensorSpec([], i64),
        tf.TensorSpec([], i64),
        tf.TensorSpec([], i64),
        tf.TensorSpec([None, n_params], f32),
        tf.TensorSpec([None, n_params], f32),
        tf.TensorSpec([None, n_params], f32),
        tf.TensorSpec([None], i64),
    ]

    def unpack(theta: tf.Tensor) -> list[tf.Tensor]:
        out, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            out.append(tf.reshape(theta[:, start : start + size], [-1, *shape]))
            start += size
        return out

    def adam(active: tf.Tensor, t: tf.Tensor, theta: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor) -> tuple:
        # Keras Adam.update_step, per series: each series has its own step counter, and a series
        # without a batch this step keeps its weights and moments (tf.where, not a zero gradient,
        # because a zero gradient would still decay the moments and move the weights).
        step = tf.cast(t, f32)[:, tf.newaxis]
        alpha = lr * tf.sqrt(1 - tf.pow(tf.constant(beta_2, f32), step)) / (1 - tf.pow(tf.constant(beta_1, f32), step))
        m_next = m + (grad - m) * (1 - beta_1)
        v_next = v + (tf.square(grad) - v) * (1 - beta_2)
        theta_next = theta - (m_next * alpha) / (tf.sqrt(v_next) + ADAM_EPSILON)
        on = active[:, tf.newaxis]
        return tf.where(on, theta_next, theta), tf.where(on, m_next, m), tf.where(on, v_next, v)

    @tf.function(input_signature=signature, autograph=False)
    def train_block(
        x: tf.Tensor,
        y: tf.Tensor,
        w: tf.Tensor,
        n: tf.Tensor,
        series_ids: tf.Tensor,
        seed: tf.Tensor,
        first_epoch: tf.Tensor,
        n_epochs: tf.Tensor,
        theta: tf.Tensor,
        m: tf.Tensor,
        v: tf.Tensor,
        t: tf.Tensor,
    ) -> tuple[Any, ...]:
        s = tf.shape(x)[0]
        p = tf.shape(x, out_type=i64)[1]
        steps_max = p // batch
        position = tf.range(p, dtype=i64)[tf.newaxis, :]  # (1, P)
        weight = tf.cast(position < n[:, tf.newaxis], f32)  # (S, P): 1 where position p of series s holds a window
        last = tf.maximum(n[:, tf.newaxis] - 1, 0)
        clipped = tf.minimum(position, last)
        flat_index = tf.reshape(clipped, [-1])
        flat_max = tf.reshape(tf.broadcast_to(last, tf.shape(clipped)), [-1])
        n_f = tf.maximum(tf.cast(n, f32), 1.0)  # the idle row has no windows
        seed_row = mix(tf.fill([s], tf.cast(seed, u64)))  # (S,), "sort" shuffle only

        def step(
            j: tf.Tensor,
            xs: tf.Tensor,
            ys: tf.Tensor,
            ws: tf.Tensor,
            theta: tf.Tensor,
            m: tf.Tensor,
            v: tf.Tensor,
            t: tf.Tensor,
            sse: tf.Tensor,
        ) -> tuple[Any, ...]:
            lo = j * batch
            xb, yb, wb = xs[:, lo : lo + batch], ys[:, lo : lo + batch], weight[:, lo : lo + batch]
            active = lo < n  # (S,): series s still has a batch in this epoch
            weights = unpack(theta)
            h_last, cache = _lstm_steps(*weights[:3], xb)
            err = head(h_last, *weights[3:]) - yb  # (S, B)
            # Sample weights ride on the padding mask (1 x w is exact, so weights of 1 change no bit); the
            # batch's divisor stays its count of windows, as Keras divides a weighted loss by the batch size.
            sw = wb * ws[:, lo : lo + batch] if weighted else wb
            se = tf.square(err) * sw  # padded slots contribute nothing
            # d loss_s / d pred for loss_s = sum(w se_s) / count_s, series s's own batch MSE (the mean over the
            # windows it really has in this batch, as fit does for a last partial batch). Series share no
            # weights, so this is all of its gradient.
            d_pred = 2.0 * err * sw / tf.maximum(tf.reduce_sum(wb, axis=1, keepdims=True), 1.0)
            grad = tf.concat(
                [tf.reshape(g, [s, -1]) for g in _backward(weights, h_last, cache, d_pred)], axis=1
            )  # (S, n_params), packed like theta
            t = t + tf.cast(active, i64)
            theta, m, v = adam(active, tf.maximum(t, 1), theta, grad, m, v)
            return j + 1, xs, ys, ws, theta, m, v, t, sse + tf.reduce_sum(se, axis=1)

        def epoch(
            e: tf.Tensor, theta: tf.Tensor, m: tf.Tensor, v: tf.Tensor, t: tf.Tensor, losses: tf.TensorArray
        ) -> tuple[Any, ...]:
            # This epoch's permutation of each series' own windows, keyed by (seed, series, epoch) only.
            if shuffle == "index":
                keys = tf.stack([tf.fill([s], seed), series_ids, tf.fill([s], first_epoch + e)], axis=1)  # (S, 3)
                flat_keys = tf.reshape(tf.repeat(keys[:, tf.newaxis, :], p, axis=1), [-1, 3])
                order = tf.raw_ops.RandomIndexShuffle(index=flat_index, seed=flat_keys, max_index=flat_max)
                order = tf.reshape(order, tf.shape(clipped))
            else:
                # sort_shuffle_order in graph form; padded positions (>= n) get +inf and stay last, in order.
                row = mix(mix(seed_row ^ tf.cast(series_ids, u64)) ^ tf.cast(first_epoch + e, u64))  # (S,)
                hashed = mix(row[:, tf.newaxis] ^ tf.cast(position, u64))  # (S, P)
                keys = tf.cast(tf.bitwise.right_shift(hashed, tf.constant(11, u64)), tf.float64)
                keys = tf.where(position < n[:, tf.newaxis], keys, tf.constant(np.inf, tf.float64))
                order = tf.argsort(keys, axis=1, stable=True)
            order = tf.cast(order, i64)
            xs = tf.gather(x, order, batch_dims=1)  # (S, P, L[, F]) shuffled windows
            ys = tf.gather(y, order, batch_dims=1)
            ws = tf.gather(w, order, batch_dims=1) if weighted else w
            init = (tf.constant(0, i64), xs, ys, ws, theta, m, v, t, tf.zeros([s], f32))
            _, _, _, _, theta, m, v, t, sse = tf.while_loop(lambda j, *_: j < steps_max, step, init)
            return e + 1, theta, m, v, t, losses.write(tf.cast(e, tf.int32), sse / n_f)

        losses = tf.TensorArray(f32, size=tf.cast(n_epochs, tf.int32))
        init = (tf.constant(0, i64), theta, m, v, t, losses)
        _, theta, m, v, t, losses = tf.while_loop(lambda e, *_: e < n_epochs, epoch, init)
        return theta, m, v, t, losses.stack()

    _ENGINES[key] = train_block
    return train_block


@dataclass
class _Chunk:
    """One chunk of series and its training state (tensors), carried between compiled blocks.

    ``ids`` are the chunk's series; the tensors may carry one extra idle row (see ``_make_chunk``).
    """

    ids: np.ndarray
    keys: Any
    x: Any
    y: Any
    w: Any
    n: Any
    theta: Any
    m: Any
    v: Any
    t: Any


def _make_chunk(
    x_list: Sequence[np.ndarray],
    y_list: Sequence[np.ndarray],
    ids: np.ndarray,
    config: TrainConfig,
    w_list: Sequence[np.ndarray] | None = None,
    start: np.ndarray | None = None,
) -> _Chunk:
    """Pad a chunk's windows to (rows, P, L[, F]) with P = max steps x batch (zeros, masked in the engine).

    x_list[k], y_list[k] (and w_list[k], its sample weights) are the windows of series ``ids[k]`` (its seed key);
    ``start`` (k, n_params) packed weights to continue from instead of the initial weights.

    A chunk of one series gets a second, idle row (no windows, never updated): TensorFlow's batched
    matmul takes another kernel for a batch of one, which changes the last bit of some gradients, and
    with the idle row a series trained alone matches the same series trained in a group.
    """
    import tensorflow as tf

    rows = max(ids.size, 2)
    n = np.zeros(rows, dtype="int64")
    n[: ids.size] = [len(part) for part in y_list]
    p = int(steps_per_epoch(n, config.batch_size).max()) * config.batch_size
    features = 1 if x_list[0].ndim == 2 else x_list[0].shape[2]
    x = np.zeros((rows, p, *x_list[0].shape[1:]), dtype="float32")
    y = np.zeros((rows, p), dtype="float32")
    w = np.ones((rows, 1 if w_list is None else p), dtype="float32")  # unread by the unweighted graph
    for row in range(ids.size):
        x[row, : n[row]] = x_list[row]
        y[row, : n[row]] = y_list[row]
        if w_list is not None:
            w[row, : n[row]] = w_list[row]
    keys = np.full(rows, -1, dtype="int64")  # the idle row's shuffle key; its order is never used
    keys[: ids.size] = ids
    n_params = n_parameters(config, features)
    theta = np.zeros((rows, n_params), dtype="float32")
    theta[: ids.size] = _pack(initial_weights(config, ids, features)) if start is None else start
    zeros = tf.zeros((rows, n_params), tf.float32)
    return _Chunk(
        ids,
        tf.constant(keys),
        tf.constant(x),
        tf.constant(y),
        tf.constant(w),
        tf.constant(n),
        tf.constant(theta),
        zeros,
        zeros,
        tf.zeros(rows, tf.int64),
    )


def _check_inputs(
    x_list: Sequence[np.ndarray],
    y_list: Sequence[np.ndarray],
    config: TrainConfig,
    w_list: Sequence[np.ndarray] | None = None,
) -> tuple[list, list, list | None, int]:
    """Checked float32 arrays (copied only where needed) -> (xs, ys, ws or None, F); windows of weight 0 are
    dropped here."""
    if len(x_list) != len(y_list) or not x_list:
        raise ValueError(f"need one y per X and at least one series; got {len(x_list)} X and {len(y_list)} y")
    if w_list is not None and len(w_list) != len(y_list):
        raise ValueError(f"need one sample-weight array per series; got {len(w_list)} for {len(y_list)}")
    first = np.asarray(x_list[0])
    features = first.shape[2] if first.ndim == 3 else 1
    tail = (config.look_back,) if features == 1 else (config.look_back, features)
    xs, ys, ws = [], [], []
    for s, (xi, yi) in enumerate(zip(x_list, y_list, strict=True)):
        xi = np.asarray(xi, dtype="float32")
        yi = np.asarray(yi, dtype="float32").reshape(-1)
        if xi.shape[1:] != tail or xi.shape[0] != yi.shape[0]:
            raise ValueError(f"series {s}: X must be (N, {', '.join(map(str, tail))}) and y (N,); got {xi.shape} "
                             f"and {yi.shape} (every series needs the same number of features)")  # fmt: skip
        if not (np.isfinite(xi).all() and np.isfinite(yi).all()):
            raise ValueError(f"series {s}: windows contain NaN or inf; drop windows that touch a gap")
        if w_list is not None:
            wi = np.asarray(w_list[s], dtype="float32").reshape(-1)
            if wi.shape != yi.shape or not np.isfinite(wi).all() or (wi < 0).any():
                raise ValueError(f"series {s}: sample weights must be {yi.shape[0]} finite values >= 0")
            # A weight-0 window is removed, not just silenced: left in, it would still take a batch slot
            # and shift which windows share a batch, and every step count and shuffle after it.
            kept = wi > 0
            if not kept.all():  # copy only when something is dropped: the windows are most of the memory
                xi, yi, wi = xi[kept], yi[kept], wi[kept]
            ws.append(wi)
        if xi.shape[0] == 0:
            raise ValueError(f"series {s}: no training windows")
        xs.append(xi)
        ys.append(yi)
    return xs, ys, ws if w_list is not None else None, features


class Fitted(NamedTuple):
    """Trained weights of S series as plain arrays (what a remote worker sends back).

    packed: (S, n_params) float32 weights, see ``model_from_packed``; loss_history: (epochs, S);
    steps: (S,) optimizer updates per series.
    """

    packed: np.ndarray
    loss_history: np.ndarray
    steps: np.ndarray


def fit_weights(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    config: TrainConfig,
    series_ids: Sequence[int] | np.ndarray | None = None,
    on_epoch: Callable[[int, np.ndarray], None] | None = None,
    chunk_size: int = 1024,
    progress_every: int = PROGRESS_EVERY,
    sample_weight: Sequence[np.ndarray] | None = None,
    shuffle: str = "index",
    start: np.ndarray | None = None,
) -> Fitted:
    """Train S independent LSTM -> Dense models in one graph; X[s] (N_s, look_back) or (N_s, look_back, F)
    float32 (F the same for every series), y[s] (N_s,), optional sample_weight[s] (N_s,) >= 0.

    Each series gets exactly what ``model.fit(epochs, batch_size, shuffle=True, sample_weight=w)`` gives it
    alone: ceil(N_s / batch) Adam updates per epoch on its own shuffles, last partial batch kept, batch
    loss sum(w se) / windows in the batch. Windows of weight 0 are dropped first (so N_s and the steps
    count only the others); without ``sample_weight`` the study's unweighted graph runs. ``shuffle`` picks
    how epochs are ordered (:data:`SHUFFLES`; "index", the default, is the study's). ``start`` (S, n_params):
    packed weights to continue training from (fresh Adam moments and step counters; epochs are numbered
    from 0 again, so give a continuation another ``config.seed`` if its shuffles should differ).
    ``series_ids`` (S,) key each series' seeds (default: 0..S-1; see :func:`series_id`).
    ``on_epoch(epoch, losses (S,))`` (epoch 1-based) is called for every epoch, but in bursts after
    each compiled block of ``progress_every`` epochs; without a callback all epochs run in one call.
    Seeds come from ``config.seed``; results repeat bit for bit across processes and, for the study's
    shapes, do not depend on ``chunk_size`` (see the module docstring).
    """
    import tensorflow as tf

    xs, ys, ws, features = _check_inputs(X, y, config, sample_weight)
    if chunk_size < 1 or progress_every < 1:
        raise ValueError("chunk_size and progress_every must be >= 1")
    ids = np.arange(len(xs), dtype="int64") if series_ids is None else np.asarray(series_ids, dtype="int64")
    if ids.shape != (len(xs),) or (ids < 0).any():
        raise ValueError(f"series_ids must be {len(xs)} non-negative ints; got shape {ids.shape}")
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {SHUFFLES}; got {shuffle!r}")
    train_block = _engine(config, features, ws is not None, shuffle)
    if start is not None:
        start = np.asarray(start, dtype="float32")
        if start.shape != (len(xs), n_parameters(config, features)):
            raise ValueError(f"start must be ({len(xs)}, {n_parameters(config, features)}); got {start.shape}")
    s_total = len(xs)
    bounds = chunk_bounds(s_total, chunk_size)
    chunks: list[_Chunk | None] = [None] * len(bounds)
    block = progress_every if on_epoch is not None else config.epochs
    seed = tf.constant(_seed_i64(config.seed), tf.int64)
    history = np.empty((config.epochs, s_total), dtype="float32")
    packed = np.empty((s_total, n_parameters(config, features)), dtype="float32")
    steps = np.empty(s_total, dtype="int64")
    # Epoch blocks outside, chunks inside, so a callback sees every series' loss for each epoch.
    # A chunk's padded data lives only while it still has epochs to run: without a callback there is
    # one block, and at most one chunk's tensors exist at a time.
    for first in range(0, config.epochs, block):
        count = min(block, config.epochs - first)
        done = first + count == config.epochs
        for k, (lo, hi) in enumerate(bounds):
            chunk = chunks[k] or _make_chunk(
                xs[lo:hi], ys[lo:hi], ids[lo:hi], config, None if ws is None else ws[lo:hi],
                None if start is None else start[lo:hi],
            )  # fmt: skip
            chunk.theta, chunk.m, chunk.v, chunk.t, losses = train_block(
                chunk.x,
                chunk.y,
                chunk.w,
                chunk.n,
                chunk.keys,
                seed,
                tf.constant(first, tf.int64),
                tf.constant(count, tf.int64),
                chunk.theta,
                chunk.m,
                chunk.v,
                chunk.t,
            )
            history[first : first + count, lo:hi] = losses.numpy()[:, : hi - lo]
            if done:
                packed[lo:hi] = chunk.theta.numpy()[: hi - lo]
                steps[lo:hi] = chunk.t.numpy()[: hi - lo]
            chunks[k] = None if done else chunk
        if on_epoch is not None:
            for epoch in range(first, first + count):
                on_epoch(epoch + 1, history[epoch].copy())
    return Fitted(packed, history, steps)
