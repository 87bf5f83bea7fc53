"""Train: the study's LSTM(look_back) -> Dense(1) per region on its driver series, with a model registry.

Windows run forward in time: ``x = s[t-look_back : t]`` predicts ``y = s[t]``. A window
that touches a missing day is not trained on. Each region gets its own model; a region whose
driver is too sparse or constant falls back to its target's own history or is skipped
(:func:`plan_training`, ``series.driver_fallback``). All regions train together, in chunks, in
the compiled grouped engine of :mod:`tasks.lstm` (per region the same model, Adam, batch size,
epochs and updates as Keras ``fit``, without its per-step overhead), in this process or on a Dask
cluster (:mod:`tasks.scaleout`). TensorFlow is imported only when a model is trained or loaded.

Every trained model is kept in the registry with its scaler, config, package versions and
loss history. Whether a run trains or reuses a model is decided by
:func:`decide_retraining` from the retrain policy.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import lstm, lstm_model
from tasks.config import ComputeConfig, RetrainConfig, SeriesConfig, TrainConfig
from tasks.results import Scaled, Trained
from tasks.stage import Stage, code_digest, run_stage
from tasks.store import ArtifactStore, fingerprint

if TYPE_CHECKING:
    import keras

VERSIONED_PACKAGES = ("tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow", "prefect", "great-expectations")
MODEL_FILES = ("model.keras", "scaler.json", "history.parquet", "model_card.json")  # card last: it marks completion


NO_DRIVER = "no driver was given (the input has no driver series)"


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


@dataclass(frozen=True)
class TrainingPlan:
    """What each region is trained on, decided before any training.

    regions: modelled regions (sorted), with roles ("driver" or "target") and windows aligned;
    notes: {region: why it is not trained on its driver, or why it is not modelled} for every region
    that is not simply trained on its driver; skipped: the regions left out, with the reason.
    """

    regions: list[str]
    roles: list[str]
    windows: list[Windows]
    notes: dict[str, str]
    skipped: dict[str, str]

    def digest(self) -> str:
        """Content hash of what is trained: regions, roles and windows."""
        parts = [f"{r}:{role}:{w.digest()}" for r, role, w in zip(self.regions, self.roles, self.windows, strict=True)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    @property
    def n_windows(self) -> int:
        return sum(len(w) for w in self.windows)


def _driver_problem(driver: np.ndarray, windows: Windows, min_windows: int) -> str:
    """Why a (T,) raw driver series cannot train a region's model ("" when it can)."""
    observed = driver[~np.isnan(driver)]
    if observed.size == 0:
        return "no driver value published"
    if len(windows) < min_windows:
        return f"driver has {len(windows)} complete window(s), fewer than series.min_windows = {min_windows}"
    if observed.min() == observed.max():
        return f"driver is constant ({observed[0]:g} on every published day)"
    return ""


def plan_training(scaled: pd.DataFrame, series: SeriesConfig, look_back: int) -> TrainingPlan:
    """Scaled daily frame (SCALED_COLUMNS, sorted by region and date) -> which series each region trains on.

    The study's choice, the driver, wherever it has at least ``series.min_windows`` complete
    windows and is not constant; otherwise ``series.driver_fallback``: the target's own history,
    or nothing (the region is skipped).
    """
    regions, roles, windows, notes, skipped = [], [], [], {}, {}
    given = scaled["driver"].notna().any()  # False: target-only input, no region has a driver at all
    for region, group in scaled.groupby("region", sort=True):
        region = str(region)
        driver = make_windows(group["driver_scaled"].to_numpy(), look_back)
        problem = _driver_problem(group["driver"].to_numpy(dtype="float64"), driver, series.min_windows)
        if not given:
            problem = NO_DRIVER
        if not problem:
            regions.append(region), roles.append("driver"), windows.append(driver)
            continue
        if series.driver_fallback == "skip":
            skipped[region] = notes[region] = f"not modelled: {problem} (series.driver_fallback = skip)"
            continue
        target = make_windows(group["target_scaled"].to_numpy(), look_back)
        if len(target) < series.min_windows:
            skipped[region] = notes[region] = (
                f"not modelled: {problem}, and the target has only {len(target)} complete window(s)"
            )
            continue
        regions.append(region), roles.append("target"), windows.append(target)
        notes[region] = f"trained on the target's own history: {problem}"
    return TrainingPlan(regions, roles, windows, notes, skipped)


def fit_plan(
    plan: TrainingPlan,
    config: TrainConfig,
    chunk_size: int,
    on_epoch: Callable[[int, np.ndarray], None] | None = None,
) -> lstm.Fitted:
    """Train every planned region in chunks of ``chunk_size`` in this process -> packed weights (S, P), history."""
    if not plan.regions:
        raise TrainError("no region has enough complete windows to train on")
    xs, ys, ids = chunk_inputs(plan)
    return lstm.fit_weights(xs, ys, config, ids, on_epoch=on_epoch, chunk_size=chunk_size)


def chunk_inputs(plan: TrainingPlan) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The engine's inputs: X[s] (N_s, look_back) float32, y[s] (N_s,) float32, series ids (S,)."""
    xs = [w.x.astype("float32") for w in plan.windows]
    ys = [w.y.astype("float32") for w in plan.windows]
    return xs, ys, np.array([lstm.series_id(r) for r in plan.regions], dtype="int64")


def decide_retraining(
    policy: RetrainConfig, candidates: list[dict[str, Any]], model_id: str, run_date: date, n_windows: int
) -> tuple[str | None, str]:
    """Choose a registered model to reuse -> (model_id or None to train, reason).

    candidates: model cards of compatible models (same config, series, code, regions and what each region is
    trained on) trained on or before run_date. A model trained on exactly this data is reused under every policy:
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


def history_frame(regions: list[str], loss_history: np.ndarray) -> pd.DataFrame:
    """(epochs, S) losses -> long frame epoch, region, loss (history.parquet)."""
    epochs, n = loss_history.shape
    return pd.DataFrame(
        {
            "epoch": np.repeat(np.arange(1, epochs + 1), n),
            "region": pd.Series(np.tile(regions, epochs), dtype="str"),
            "loss": loss_history.astype("float64").reshape(-1),
        }
    )


def _register(
    store: ArtifactStore, model_id: str, model: keras.Model, history: pd.DataFrame, scaler: Any, card: dict[str, Any]
) -> None:
    """Write a model's files into the registry, the card last (its presence marks a complete entry)."""
    folder = store.registry(model_id)
    store.write_with(folder / "model.keras", lambda p: lstm_model.save_model(model, p))
    store.write_with(folder / "scaler.json", lambda p: p.write_text(json.dumps(scaler, indent=2, sort_keys=True)))
    store.write_with(folder / "history.parquet", lambda p: history.to_parquet(p, index=False))
    store.write_with(folder / "model_card.json", lambda p: p.write_text(json.dumps(card, indent=2, sort_keys=True)))


def train_chunk(
    chunk: tuple[Sequence[np.ndarray], Sequence[np.ndarray], np.ndarray], config: TrainConfig
) -> lstm.Fitted:
    """One chunk of regions (windows x, y and seed ids) trained in one compiled call, wherever it runs."""
    xs, ys, ids = chunk
    return lstm.fit_weights(xs, ys, config, ids, chunk_size=max(len(xs), 1))


def _fit(plan: TrainingPlan, config: TrainConfig, compute: ComputeConfig, logger: Any) -> lstm.Fitted:
    """Train the plan in this process (per-epoch progress) or on the Dask cluster (per-chunk progress)."""
    if compute.dask_address:
        from tasks.scaleout import map_chunks

        xs, ys, ids = chunk_inputs(plan)
        logger.info("train: sending %d region(s) in chunks of %d to Dask at %s", len(xs), compute.regions_per_chunk,
                    compute.dask_address)  # fmt: skip
        bounds = lstm.chunk_bounds(len(xs), compute.regions_per_chunk)
        chunks = [(xs[lo:hi], ys[lo:hi], ids[lo:hi]) for lo, hi in bounds]
        parts = map_chunks(functools.partial(train_chunk, config=config), chunks, compute.dask_address, "train")
        return lstm.Fitted(
            np.concatenate([p.packed for p in parts]),
            np.concatenate([p.loss_history for p in parts], axis=1),
            np.concatenate([p.steps for p in parts]),
        )

    def progress(epoch: int, losses: np.ndarray) -> None:
        if epoch % lstm.PROGRESS_EVERY == 0 or epoch == config.epochs:
            spread = f" (median over {len(losses)} regions)" if len(losses) > 1 else ""
            logger.info("train: epoch %d/%d loss %.5f%s", epoch, config.epochs, float(np.median(losses)), spread)

    return fit_plan(plan, config, compute.regions_per_chunk, on_epoch=progress)


STAGE = Stage("train", __name__)


@task(name="train", cache_policy=NO_CACHE)
def train(
    store: ArtifactStore,
    run_date: date,
    scaled: Scaled,
    config: TrainConfig,
    series: SeriesConfig,
    retrain: RetrainConfig,
    compute: ComputeConfig | None = None,
) -> Trained:
    """Train every region's model (grouped, in chunks), or reuse a registered model as the retrain policy allows."""
    logger = get_run_logger()
    compute = compute or ComputeConfig()

    def run() -> Trained:
        frame = store.load_table(scaled.scaled)
        plan = plan_training(frame, series, config.look_back)
        if not plan.regions:
            reasons = "; ".join(f"{r}: {why}" for r, why in list(plan.skipped.items())[:5])
            raise TrainError(f"no region can be trained ({reasons})")
        # Where training runs (chunk size, Dask) does not change the weights, so it is not part of the key.
        compat = fingerprint(train=config.model_dump(), series=series.model_dump(), code=code_digest(__name__))
        model_id = fingerprint(compat=compat, data=plan.digest())[:16]
        trained_on = dict(zip(plan.regions, plan.roles, strict=True))
        # A model is reusable only for the same regions, each trained on the same series.
        candidates = [
            card
            for card in store.registered_models()
            if card["compat"] == compat
            and card["trained_run_date"] <= run_date.isoformat()
            and card.get("trained_on") == trained_on
        ]
        chosen, reason = decide_retraining(retrain, candidates, model_id, run_date, plan.n_windows)
        if chosen is None:
            _train_and_register(store, run_date, frame, plan, config, series, compute, compat, model_id, reason,
                                scaled, logger)  # fmt: skip
            chosen, status = model_id, f"trained ({reason})"
        elif chosen == model_id:
            status = f"skipped (model {chosen} was trained on exactly this data)"
            logger.info("train: %s", status)
        else:
            status = f"reused model {chosen} ({reason})"
            logger.info("train: not retrained: %s", status)
        refs = {name.split(".")[0]: store.ref(store.registry(chosen) / name) for name in MODEL_FILES}
        # What this run's regions get, which may differ from the reused model's own training data.
        plan_ref = store.write_json("train", run_date, "plan", {"trained_on": trained_on, "notes": plan.notes})
        return Trained(**refs, plan=plan_ref, model_id=chosen, status=status)

    # The run date is a setting: whether a registered model is still fresh depends on it (retrain policy).
    return run_stage(
        store, run_date, STAGE, Trained,
        inputs={"scaled": scaled.scaled, "scaler": scaled.scaler},
        settings={"train": config, "series": series, "retrain": retrain, "run_date": run_date.isoformat()},
        compute=run, logger=logger,
    )  # fmt: skip


def _train_and_register(
    store: ArtifactStore,
    run_date: date,
    frame: pd.DataFrame,
    plan: TrainingPlan,
    config: TrainConfig,
    series: SeriesConfig,
    compute: ComputeConfig,
    compat: str,
    model_id: str,
    reason: str,
    scaled: Scaled,
    logger: Any,
) -> None:
    """Train the plan and register the model with its scaler, history and model card."""
    fallback = sum(role == "target" for role in plan.roles)
    logger.info(
        "train: training (%s) %d region(s), %d windows in all (%d on the driver, %d on the target's own history, "
        "%d not modelled); %d epochs, batch %d",
        reason, len(plan.regions), plan.n_windows, len(plan.regions) - fallback, fallback, len(plan.skipped),
        config.epochs, config.batch_size,
    )  # fmt: skip
    for region, note in list(plan.notes.items())[:10]:
        logger.info("train: %s: %s", region, note)
    # Import TensorFlow before the clock starts: fit_seconds is the training itself (graph tracing
    # included), comparable with the time a plain script spends inside model.fit.
    lstm_model.ensure_registered()
    started = time.perf_counter()
    fitted = _fit(plan, config, compute, logger)
    seconds = time.perf_counter() - started
    final = fitted.loss_history[-1].astype("float64")
    card = {
        "model_id": model_id,
        "compat": compat,
        "trained_run_date": run_date.isoformat(),
        "training_windows": plan.n_windows,
        "data_end": frame["date"].max().date().isoformat(),
        "regions": plan.regions,
        "trained_on": dict(zip(plan.regions, plan.roles, strict=True)),
        "region_windows": {r: len(w) for r, w in zip(plan.regions, plan.windows, strict=True)},
        "notes": plan.notes,
        "train_config": config.model_dump(),
        "series": series.model_dump(),
        "final_loss": float(np.median(final)),
        "final_loss_by_region": dict(zip(plan.regions, final.tolist(), strict=True)),
        "fit_seconds": round(seconds, 3),
        "trained_where": compute.dask_address or "in process",
        "versions": package_versions(),
    }
    model = lstm_model.model_from_packed(fitted.packed, config)
    history = history_frame(plan.regions, fitted.loss_history)
    _register(store, model_id, model, history, store.load_json(scaled.scaler), card)
    logger.info(
        "train: fitted %d region(s) in %.2f s, final loss %.5f (median); registered model %s",
        len(plan.regions), seconds, card["final_loss"], model_id,
    )  # fmt: skip
