"""Driver-conditioned forecaster: a seed ensemble of small LSTMs per region, refitted walk-forward.

The study's model (tasks/train.py) is trained on the driver and applied to the target's last two days,
so it never sees the driver when it forecasts the target. This one forecasts the target of day t from

* the target's previous ``look_back`` days (t - L .. t - 1),
* the driver's days t - L .. t (today included: it is published together with today's target),
* the day of the week,

and is trained on the region's own target with the driver as covariate. Everything here is a pure
function of arrays (NaN = not published) apart from the grouped training call into :mod:`tasks.lstm`.

Design (the choices were made on simulated design seeds; see the R&D report):

* **Sequence.** L + 1 time steps, one per day u = t - L .. t, each with F = 13 features: the scaled
  target of day u (as the robust level filter accepted it: a past outbreak enters clipped at
  ``input_clip_z`` robust sd) and a flag that it is known (0 on day t itself, whose target is being
  forecast), the scaled driver of day u and a flag that it was published, the target's robust
  exponential level after u - 1 and the driver's level after u (``level_lambda``: a long-memory
  summary of the same past days, which an L-day window cannot hold), and the day of week of u
  (one-hot, 7). The flags let one model take driver gaps (a missing day is 0 with flag 0, nothing is
  filled in).
* **No usable driver** (never published, constant, too few complete days, or identical to the target):
  the region's driver inputs and flags are all 0. The model is then exactly the same network without
  driver inputs (a zero input adds nothing to the gates and gets a zero gradient, so those kernel rows
  never move), and every region still trains in the same compiled graph and the same grouped call.
* **Scaling.** log1p, centred per series on the training days' mean and divided by the target's
  training sd of log1p (the same spread for the driver, so that "target = ratio x lagged driver"
  stays a shift of 1:1 slopes). Counts differ by orders of magnitude between regions and
  epidemic phases; errors are multiplicative.
* **Few epochs.** The networks are trained for few epochs (15 + 5): with ~100-300 noisy windows per
  region more training fits the noise (forecast error against the true mean grew with epochs on the
  design seeds), so the epoch count is the regulariser.
* **Robust two-pass training.** Pass 1 fits every member; the ensemble's in-sample residuals are
  standardised by their MAD, windows with |z| > ``robust_z`` get weight (robust_z / z)^2 (the
  Farrington / Noufaily reweighting), and pass 2 continues each member from its pass-1 weights for
  ``robust_epochs`` epochs on the reweighted windows, so past outbreaks do not teach the model that
  such jumps are normal.
* **Ensemble.** ``members`` models per region, each its own series in the grouped engine with its own
  seed key (region name, member); forecast = their mean in counts, spread = their sd.
* **Walk-forward.** A model fitted on the days before d forecasts days d .. d + refit_days - 1 (the
  retrain policy ``when_stale`` with max_age_days 7); every (region, refit, member) is one series of
  one grouped training call. A day's forecast therefore uses only data published before it (plus the
  same day's driver), in the backtest and in the pipeline alike.

TensorFlow is imported only by the training and prediction calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks import lstm
from tasks.config import ForecastConfig, TrainConfig

N_DOW = 7
N_FEATURES = 6 + N_DOW
"""Features per time step: target (winsorised against its robust level), target known, driver, driver published,
the target's robust level and the driver's level (long-memory summaries, see :func:`robust_level`), day of week
one-hot (7)."""
DRIVER_FEATURES = [2, 3, 5]
"""Feature columns of the driver (value, published flag, level): what driver_effect's counterfactual changes."""
MIN_SPREAD = 0.1  # floor of the log-scale spread: a near-constant series must not blow its inputs up


# -- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesInput:
    """One region's daily series: target and driver (T,) floats (NaN = not published), dates (T,) consecutive days,
    and ``name``, the key of its seeds (a region name)."""

    name: str
    target: np.ndarray
    driver: np.ndarray
    dates: np.ndarray


def driver_problem(target: np.ndarray, driver: np.ndarray, look_back: int, min_windows: int) -> str:
    """Why a region's (T,) driver cannot be an input ("" when it can): never published, constant, identical to
    the target, or fewer than ``min_windows`` days with the driver published on all of t - L .. t."""
    d = np.asarray(driver, dtype="float64")
    y = np.asarray(target, dtype="float64")
    seen = np.isfinite(d)
    if not seen.any():
        return "no driver value published"
    if np.nanmin(d) == np.nanmax(d):
        return f"driver is constant ({d[seen][0]:g} on every published day)"
    both = seen & np.isfinite(y)
    if both.any() and np.array_equal(d[both], y[both]):
        return "driver is identical to the target"
    full = int(_window_all(seen, look_back + 1).sum())
    if full < min_windows:
        return f"driver is published on all {look_back + 1} days of only {full} window(s) (< {min_windows})"
    return ""


def _window_all(flags: np.ndarray, width: int) -> np.ndarray:
    """(T,) bool -> (T,) bool: flags[t - width + 1 .. t] all True (False for t < width - 1)."""
    out = np.zeros(flags.shape[0], dtype=bool)
    if flags.shape[0] >= width:
        out[width - 1 :] = np.lib.stride_tricks.sliding_window_view(flags, width).all(axis=1)
    return out


@dataclass(frozen=True)
class LogScaler:
    """z = (log1p(x) - centre) / spread, one centre per role and one spread (the target's) for both."""

    centre_target: float
    centre_driver: float
    spread: float

    def target(self, values: np.ndarray) -> np.ndarray:
        """(n,) counts -> (n,) scaled target; NaN stays NaN."""
        return (np.log1p(np.asarray(values, dtype="float64")) - self.centre_target) / self.spread

    def driver(self, values: np.ndarray) -> np.ndarray:
        """(n,) counts -> (n,) scaled driver; NaN stays NaN."""
        return (np.log1p(np.asarray(values, dtype="float64")) - self.centre_driver) / self.spread

    def target_counts(self, scaled: np.ndarray) -> np.ndarray:
        """(n,) scaled target -> (n,) counts, clipped at 0."""
        return np.maximum(np.expm1(np.asarray(scaled, dtype="float64") * self.spread + self.centre_target), 0.0)


def robust_level(
    values: np.ndarray, lam: float, clip_z: float, lam_scale: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Robust exponential smoothing of a (T,) log series -> (level after day t (T,), accepted value of day t (T,)).

    level_t = level_t-1 + lam x clip(x_t - level_t-1, +-clip_z s_t-1), with s the running winsorised sd of
    the innovations (weight lam_scale), started from the first 14 observed days (Gelper, Fried & Croux 2010,
    in its simplest form) and never below the Poisson noise of the level (exp(-level / 2) in log1p units).
    ``accepted`` is level_t-1 + the clipped innovation: the day as the filter took it, so a past outbreak
    enters the model's inputs at most clip_z sd high. Past-only by construction; a missing
    day leaves level and scale unchanged (NaN accepted). ``clip_z`` <= 0 turns the clipping off.
    """
    x = np.asarray(values, dtype="float64")
    n = x.shape[0]
    level_out = np.full(n, np.nan)
    accepted = np.full(n, np.nan)
    seen = np.flatnonzero(np.isfinite(x))
    if seen.size == 0:
        return level_out, accepted
    start = x[seen[:14]]
    diffs = np.diff(start)
    scale = (
        max(1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0), 0.05) if diffs.size > 2 else 0.3
    )
    level = np.nan
    kappa = 1.0  # winsorised innovations understate the variance; corrected below for the Gaussian case
    if clip_z > 0:
        from scipy import stats

        kappa = float(1.0 - 2.0 * clip_z * stats.norm.pdf(clip_z) - 2.0 * (1 - clip_z**2) * stats.norm.sf(clip_z))
    values_list = x.tolist()
    for t in range(n):
        value = values_list[t]
        if value != value:  # NaN: nothing published, nothing learned
            level_out[t] = level
            continue
        if level != level:
            level = value
            accepted[t] = value
            level_out[t] = level
            continue
        innovation = value - level
        # The counts' own noise bounds the scale from below: the sd of log1p of a Poisson count of mean m is
        # about 1 / sqrt(m + 1) = exp(-level / 2). Without it a run of zeros shrinks the scale to nothing and
        # the filter can never follow a new epidemic (every later day clipped back to the zero level).
        scale = max(scale, float(np.exp(-level / 2.0)))
        bound = clip_z * scale if clip_z > 0 else np.inf
        clipped = min(max(innovation, -bound), bound)
        accepted[t] = level + clipped
        level = level + lam * clipped
        scale = float(np.sqrt((1.0 - lam_scale) * scale * scale + lam_scale * clipped * clipped / kappa))
        level_out[t] = level
    return level_out, accepted


def fit_scaler(target: np.ndarray, driver: np.ndarray, days: np.ndarray) -> LogScaler:
    """Scaler from the observed target and driver of the (T,) bool ``days`` (a fit's training days)."""
    y = np.log1p(np.asarray(target, dtype="float64")[days])
    d = np.log1p(np.asarray(driver, dtype="float64")[days])
    y, d = y[np.isfinite(y)], d[np.isfinite(d)]
    centre_y = float(y.mean()) if y.size else 0.0
    spread = max(float(y.std()) if y.size > 1 else 0.0, MIN_SPREAD)
    return LogScaler(centre_y, float(d.mean()) if d.size else 0.0, spread)


@dataclass(frozen=True)
class Levels:
    """Past-only robust summaries of one series, in log1p counts (all (T,)): the target as the robust filter
    accepted it, the target's level after each day, the driver's level after each day (incl. that day)."""

    target_accepted: np.ndarray
    target_level: np.ndarray
    driver_level: np.ndarray


def series_levels(target: np.ndarray, driver: np.ndarray, lam: float, clip_z: float) -> Levels:
    """:class:`Levels` of a (T,) target and driver. The driver's level is not clipped: a driver surge is
    the explanation the model should see, not an outlier to ignore."""
    accepted_level, accepted = robust_level(np.log1p(np.asarray(target, dtype="float64")), lam, clip_z)
    driver_level, _ = robust_level(np.log1p(np.asarray(driver, dtype="float64")), lam, 0.0)
    return Levels(accepted, accepted_level, driver_level)


def design(
    target: np.ndarray,
    driver: np.ndarray,
    dates: np.ndarray,
    look_back: int,
    scaler: LogScaler,
    use_driver: bool,
    levels: Levels | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The model input of every day -> (x (T, look_back + 1, N_FEATURES) float32, complete (T,) bool).

    Row t is the window for forecasting day t: steps u = t - L .. t. ``complete[t]``: the target was
    published on all of t - L .. t - 1 (a window with a target gap is never used). Driver gaps are
    allowed (value 0, flag 0); so is a missing target on day t itself (then the day has a forecast
    but no training pair). Rows that are not complete hold zeros. With ``levels`` the target inputs are
    the robust filter's accepted values and the two level features are filled (else 0).
    """
    y = scaler.target(target)
    y_in = y if levels is None else (levels.target_accepted - scaler.centre_target) / scaler.spread
    n = y.shape[0]
    width = look_back + 1
    x = np.zeros((n, width, N_FEATURES), dtype="float32")
    complete = _window_all(np.isfinite(np.concatenate([[np.nan], y[:-1]])), look_back) if n else np.zeros(0, bool)
    complete &= np.arange(n) >= look_back
    if not complete.any():
        return x, complete
    rows = np.flatnonzero(complete)
    days = rows[:, None] + np.arange(-look_back, 1)[None, :]  # (R, L + 1) day of each step
    known = days < rows[:, None]
    x[rows, :, 0] = np.where(known, np.nan_to_num(y_in[days]), 0.0)
    x[rows, :, 1] = known.astype("float32")
    if use_driver:
        d = scaler.driver(driver)
        seen = np.isfinite(d[days])
        x[rows, :, 2] = np.where(seen, d[days], 0.0)
        x[rows, :, 3] = seen
    if levels is not None:
        # Step u carries the target's level after u - 1 (today's target is not known) and the driver's after u.
        before = np.maximum(days - 1, 0)
        x[rows, :, 4] = np.nan_to_num((levels.target_level[before] - scaler.centre_target) / scaler.spread)
        if use_driver:
            x[rows, :, 5] = np.nan_to_num((levels.driver_level[days] - scaler.centre_driver) / scaler.spread)
    dow = pd.DatetimeIndex(np.asarray(dates)).day_of_week.to_numpy()
    x[rows[:, None], np.arange(width)[None, :], 6 + dow[days]] = 1.0
    return x, complete


# -- walk-forward plan -----------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """One refit of one series: trained on the windows ``train`` (indices of days), forecasting ``days``."""

    series: int
    fit_day: int
    train: np.ndarray
    days: np.ndarray
    scaler: LogScaler


def fit_schedule(
    target: np.ndarray, complete_target: np.ndarray, config: ForecastConfig
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Refits of one series -> [(fit day d, training days (n,), forecast days (m,))].

    Training days of the fit at d: t < d with a complete window and a published target, and
    t >= d - max_train_days when that is set. The first fit is the first day with at least
    ``min_windows`` of them; then every ``refit_days``; each forecasts d .. next fit - 1.
    ``complete_target`` (T,) is "the target was published on all of t - L .. t - 1".
    """
    n = target.shape[0]
    trainable = complete_target & np.isfinite(target)
    count = np.concatenate([[0], np.cumsum(trainable)])  # count[d] = trainable days < d
    first = next((d for d in range(n + 1) if count[d] >= config.min_windows), None)
    if first is None or first >= n:
        return []
    out = []
    for d in range(first, n, config.refit_days):
        lo = max(0, d - config.max_train_days) if config.max_train_days else 0
        train = np.flatnonzero(trainable[lo:d]) + lo
        if train.size < config.min_windows:  # a capped window can be short after a long gap
            continue
        out.append((d, train, np.arange(d, min(d + config.refit_days, n))))
    return out


def engine_config(config: ForecastConfig, seed: int, epochs: int | None = None) -> TrainConfig:
    """The grouped engine's settings for the forecaster (look_back + 1 time steps)."""
    return TrainConfig(
        look_back=config.look_back + 1,
        units=config.units,
        learning_rate=config.learning_rate,
        epochs=config.epochs if epochs is None else epochs,
        batch_size=config.batch_size,
        seed=seed,
    )


def member_ids(name: str, members: int) -> np.ndarray:
    """(members,) seed keys of a region's ensemble members: independent of other regions and of refits."""
    return np.array([lstm.series_id(f"{name}#forecast-member-{k}") for k in range(members)], dtype="int64")


def robust_weights(residuals: np.ndarray, z_max: float) -> np.ndarray:
    """(n,) residuals -> (n,) weights: 1 for |z| <= z_max, (z_max / z)^2 beyond; z = r / (1.4826 MAD)."""
    r = np.asarray(residuals, dtype="float64")
    centre = np.median(r)
    mad = 1.4826 * np.median(np.abs(r - centre))
    if not np.isfinite(mad) or mad <= 0:
        return np.ones(r.shape)
    z = np.abs(r - centre) / mad
    return np.where(z > z_max, (z_max / np.maximum(z, 1e-12)) ** 2, 1.0)


# -- training and forecasting ----------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """Walk-forward forecast of one series, all (T,) but ``members`` (K, T): NaN where there is no forecast.

    mean: ensemble mean in counts; spread: sd over members in counts; fit_day: the day the model that
    forecast the day was fitted (-1 = none); use_driver / note: whether the driver was an input, and why not;
    driver_effect: what the day's own driver value added to the forecast, in counts: the ensemble mean minus
    the same models' mean with the day's driver (value, published flag and level) set to the day before's
    (NaN without a driver input).
    """

    mean: np.ndarray
    spread: np.ndarray
    members: np.ndarray
    fit_day: np.ndarray
    use_driver: bool
    note: str
    driver_effect: np.ndarray


def predict_packed(packed: np.ndarray, config: TrainConfig, x: np.ndarray, chunk_size: int = 1024) -> np.ndarray:
    """(S, n_params) packed weights and (S, M, L, F) windows -> (S, M) predictions of series s by its own model.

    Same mathematics as the grouped Keras model (tasks.lstm), without building one; chunked over S.
    """
    import tensorflow as tf

    from tasks.lstm import _dense_head, _lstm_steps, _unpack, features_of

    features = features_of(packed, config)
    out = np.empty(x.shape[:2], dtype="float32")
    for lo, hi in lstm.chunk_bounds(len(packed), chunk_size):
        weights = [tf.constant(w) for w in _unpack(np.asarray(packed[lo:hi], dtype="float32"), config, features)]
        h, _ = _lstm_steps(*weights[:3], tf.constant(x[lo:hi]))
        out[lo:hi] = _dense_head(h, *weights[3:]).numpy()
    return out


def walk_forward(
    series: Sequence[SeriesInput], config: ForecastConfig, seed: int, chunk_size: int = 1024
) -> list[Forecast]:
    """Walk-forward ensemble forecasts of S series: every (series, refit, member) trained in one grouped call
    per pass; the forecast of a day comes from the latest fit before it (see the module docstring)."""
    fits: list[Fit] = []
    uses, notes = [], []
    for s, item in enumerate(series):
        target = np.asarray(item.target, dtype="float64")
        driver = np.asarray(item.driver, dtype="float64")
        note = driver_problem(target, driver, config.look_back, config.min_windows)
        uses.append(not note)
        notes.append(note)
        _, complete = design(target, driver, item.dates, config.look_back, LogScaler(0.0, 0.0, 1.0), False)
        for d, train, days in fit_schedule(target, complete, config):
            fit_days = np.arange(target.shape[0]) < d
            if config.max_train_days:
                fit_days &= np.arange(target.shape[0]) >= d - config.max_train_days
            fits.append(Fit(s, d, train, days, fit_scaler(target, driver if uses[-1] else target * np.nan, fit_days)))
    # Fits with similar numbers of windows share chunks: a chunk runs as many steps as its longest series needs,
    # so mixing 20-window and 300-window fits would pad most of the work away. Chunking never changes a result.
    fits.sort(key=lambda fit: (fit.train.size, fit.series, fit.fit_day))
    k = config.members
    n_jobs = len(fits) * k
    forecasts_members = [np.full((k, len(item.target)), np.nan) for item in series]
    fit_day = [np.full(len(item.target), -1, dtype="int64") for item in series]
    if not fits:
        return [_empty(item, uses[s], notes[s]) for s, item in enumerate(series)]
    # Inputs of every fit (its own scaler), its training pairs and the windows it forecasts.
    xs, ys, forecast_x, forecast_ok, train_offset, forecast_offset = [], [], [], [], [], []
    forecast_alt: list[np.ndarray | None] = []
    levels = [
        series_levels(
            item.target, item.driver if uses[s] else item.driver * np.nan, config.level_lambda, config.input_clip_z
        )
        if config.level_lambda > 0
        else None
        for s, item in enumerate(series)
    ]
    for fit in fits:
        item = series[fit.series]
        x, complete = design(
            item.target, item.driver, item.dates, config.look_back, fit.scaler, uses[fit.series], levels[fit.series]
        )
        xs.append(x[fit.train])
        # With residual_target the network forecasts the day's departure from the target's robust level (the
        # level feature of the window's last step), so an untrained or early-stopped network falls back on a
        # robust exponential smoother rather than on a constant.
        use_offset = config.residual_target and levels[fit.series] is not None
        train_offset.append(x[fit.train, -1, 4].astype("float64") if use_offset else np.zeros(fit.train.size))
        forecast_offset.append(x[fit.days, -1, 4].astype("float64") if use_offset else np.zeros(fit.days.size))
        ys.append((fit.scaler.target(item.target)[fit.train] - train_offset[-1]).astype("float32"))
        forecast_x.append(x[fit.days])
        forecast_ok.append(complete[fit.days])
        if uses[fit.series]:
            # The counterfactual behind driver_effect: today's driver as yesterday's (value, flag, level).
            alt = x[fit.days].copy()
            alt[:, -1, DRIVER_FEATURES] = alt[:, -2, DRIVER_FEATURES]
            forecast_alt.append(alt)
        else:
            forecast_alt.append(None)
    ids = np.concatenate([member_ids(series[fit.series].name, k) for fit in fits])
    job_x = [xs[j // k] for j in range(n_jobs)]
    job_y = [ys[j // k] for j in range(n_jobs)]
    packed = np.empty((n_jobs, lstm.n_parameters(engine_config(config, seed), N_FEATURES)), dtype="float32")
    weights: list[np.ndarray] = [np.ones(len(y)) for y in ys]

    def train(group: np.ndarray, start: np.ndarray | None, epochs: int) -> None:
        """Train the fits ``group`` (indices into fits) -> packed rows of their jobs, robust pass included."""
        jobs = (group[:, None] * k + np.arange(k)[None, :]).reshape(-1)
        gx, gy = [job_x[j] for j in jobs], [job_y[j] for j in jobs]
        fitted = lstm.fit_weights(gx, gy, engine_config(config, seed, epochs), ids[jobs], chunk_size=chunk_size,
                                  shuffle="sort", start=start).packed  # fmt: skip
        if config.robust_epochs:
            in_sample = _predict_jobs(fitted, config, seed, gx, chunk_size)
            group_weights = []
            for row, f in enumerate(group):
                mean = np.mean([in_sample[row * k + m] for m in range(k)], axis=0)
                weights[f] = robust_weights(ys[f] - mean, config.robust_z)
                group_weights += [weights[f]] * k
            fitted = lstm.fit_weights(
                gx, gy, engine_config(config, seed, config.robust_epochs), ids[jobs], chunk_size=chunk_size,
                sample_weight=group_weights, shuffle="sort", start=fitted,
            ).packed  # fmt: skip
        packed[jobs] = fitted

    if config.refit_epochs:
        # Warm start: a series' refit continues its previous fit for refit_epochs epochs on all its windows to
        # date, so a replay costs about one fit instead of one per refit. Refits of the same rank train together.
        rank = np.zeros(len(fits), dtype="int64")
        previous = np.full(len(fits), -1, dtype="int64")
        last: dict[int, int] = {}
        for f in sorted(range(len(fits)), key=lambda i: (fits[i].series, fits[i].fit_day)):
            if fits[f].series in last:
                previous[f] = last[fits[f].series]
                rank[f] = rank[previous[f]] + 1
            last[fits[f].series] = f
        for r in range(int(rank.max()) + 1):
            group = np.flatnonzero(rank == r)
            start = None
            if r:
                before = (previous[group][:, None] * k + np.arange(k)[None, :]).reshape(-1)
                start = packed[before]
            train(group, start, config.epochs if r == 0 else config.refit_epochs)
    else:
        train(np.arange(len(fits)), None, config.epochs)
    predicted = _predict_jobs(packed, config, seed, [forecast_x[j // k] for j in range(n_jobs)], chunk_size)
    with_alt = [j for j in range(n_jobs) if forecast_alt[j // k] is not None]
    predicted_alt = dict(zip(with_alt, _predict_jobs(packed[with_alt], config, seed,
                                                     [forecast_alt[j // k] for j in with_alt], chunk_size),
                             strict=True))  # fmt: skip
    effect_sum = [np.full(len(item.target), np.nan) for item in series]
    factors = np.ones(len(fits))
    if config.bias_factor:
        # The model forecasts log1p counts, i.e. about the median: rescale to the mean with the ratio of sums over
        # the fit's own training days (weighted as in the last pass, so past outbreaks do not inflate it).
        fitted = _predict_jobs(packed, config, seed, job_x, chunk_size)
        for f, fit in enumerate(fits):
            item = series[fit.series]
            counts = np.mean([fit.scaler.target_counts(fitted[f * k + m] + train_offset[f]) for m in range(k)], axis=0)
            observed = np.asarray(item.target, dtype="float64")[fit.train]
            w = np.where(weights[f] >= 1.0, 1.0, 0.0)
            total = float((w * counts).sum())
            factors[f] = float(np.clip((w * observed).sum() / total, 0.25, 4.0)) if total > 0 else 1.0
    for f, fit in enumerate(fits):
        ok = forecast_ok[f]
        effect = np.zeros(fit.days.size)
        for m in range(k):
            counts = factors[f] * fit.scaler.target_counts(predicted[f * k + m] + forecast_offset[f])
            forecasts_members[fit.series][m, fit.days[ok]] = counts[ok]
            if f * k + m in predicted_alt:
                alt = factors[f] * fit.scaler.target_counts(predicted_alt[f * k + m] + forecast_offset[f])
                effect += (counts - alt) / k
        if forecast_alt[f] is not None:
            effect_sum[fit.series][fit.days[ok]] = effect[ok]
        fit_day[fit.series][fit.days[ok]] = fit.fit_day
    out = []
    for s in range(len(series)):
        members = forecasts_members[s]
        with np.errstate(invalid="ignore"):
            mean = members.mean(axis=0)
            spread = members.std(axis=0, ddof=1) if k > 1 else np.zeros(members.shape[1])
        out.append(Forecast(mean, np.where(np.isfinite(mean), spread, np.nan), members, fit_day[s], uses[s], notes[s],
                            np.where(np.isfinite(mean), effect_sum[s], np.nan)))  # fmt: skip
    return out


def _predict_jobs(
    packed: np.ndarray, config: ForecastConfig, seed: int, windows: Sequence[np.ndarray], chunk_size: int
) -> list[np.ndarray]:
    """Job j's model applied to its (M_j, L + 1, F) windows -> list of (M_j,) scaled predictions."""
    out: list[np.ndarray] = []
    tc = engine_config(config, seed)
    for lo, hi in lstm.chunk_bounds(len(windows), chunk_size):
        longest = max(max(len(w), 1) for w in windows[lo:hi])
        block = np.zeros((hi - lo, longest, config.look_back + 1, N_FEATURES), dtype="float32")
        for j in range(lo, hi):
            block[j - lo, : len(windows[j])] = windows[j]
        pred = predict_packed(packed[lo:hi], tc, block, chunk_size)
        out += [pred[j - lo, : len(windows[j])].astype("float64") for j in range(lo, hi)]
    return out


def _empty(item: SeriesInput, use_driver: bool, note: str) -> Forecast:
    n = len(item.target)
    nan = np.full(n, np.nan)
    return Forecast(
        nan, nan.copy(), np.full((1, n), np.nan), np.full(n, -1, dtype="int64"), use_driver, note, nan.copy()
    )


# -- the pipeline's table ----------------------------------------------------------------


def forecast_table(
    scaled: pd.DataFrame, config: ForecastConfig, seed: int, frequency: str = "daily", chunk_size: int = 1024
) -> pd.DataFrame:
    """The scaled table (SCALED_COLUMNS: gap-explicit periods per region) -> FORECAST_COLUMNS, one row per
    region and period: the walk-forward ensemble forecast of the target, its spread, what the day's driver
    added, the fit it came from, and whether the driver was an input (``forecast_on``: driver or target) and
    why not. Weekly data get no forecast (its inputs are days of the week): every row says so.
    """
    from tasks.schemas import FORECAST_COLUMNS

    frame = scaled.sort_values(["region", "date"], kind="stable").reset_index(drop=True)
    groups = list(frame.groupby("region", sort=True))
    if frequency == "weekly":
        out = frame[["date", "region"]].assign(
            forecast=np.nan, forecast_spread=np.nan, driver_effect=np.nan, fit_day=pd.NaT, forecast_on="none",
            forecast_note="the forecaster runs on daily data only",
        )  # fmt: skip
        return out.astype({"fit_day": "datetime64[us]"})[FORECAST_COLUMNS]
    inputs = [
        SeriesInput(str(region), rows["target"].to_numpy(dtype="float64", na_value=np.nan),
                    rows["driver"].to_numpy(dtype="float64", na_value=np.nan), rows["date"].to_numpy())
        for region, rows in groups
    ]  # fmt: skip
    forecasts = walk_forward(inputs, config, seed, chunk_size) if inputs else []
    parts = []
    for (region, rows), item in zip(groups, forecasts, strict=True):
        dates = rows["date"].to_numpy()
        fitted = np.where(item.fit_day >= 0, item.fit_day, 0)
        parts.append(
            pd.DataFrame(
                {
                    "date": dates, "region": str(region), "forecast": item.mean, "forecast_spread": item.spread,
                    "driver_effect": item.driver_effect,
                    "fit_day": np.where(item.fit_day >= 0, dates[fitted], np.datetime64("NaT")),
                    "forecast_on": "driver" if item.use_driver else "target",
                    "forecast_note": item.note if item.note else "",
                }
            )
        )  # fmt: skip
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in FORECAST_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["date"] = out["date"].astype("datetime64[us]")
    out["fit_day"] = out["fit_day"].astype("datetime64[us]")
    return out.astype({"region": "str", "forecast_on": "str", "forecast_note": "str"})[FORECAST_COLUMNS]
