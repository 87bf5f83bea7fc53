"""Scale-out: train region chunks on an existing Dask cluster through Prefect's Dask task runner.

The training stage (tasks/train.py) trains in its own process by default. When
``compute.dask_address`` names a Dask scheduler, it calls :func:`train_on_dask` instead: a
subflow whose task runner is ``prefect_dask.DaskTaskRunner(address=...)`` and which submits one
``train-chunk`` task per chunk of ``compute.regions_per_chunk`` regions.

Chunk tasks take and return plain arrays (the windows in, packed weights and losses out), so
workers need the project's code and packages but no access to the artifact store. Chunks are the
same as in-process training and each region's seeds depend only on its name, so both give the
same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import lstm
from tasks.config import TrainConfig


@task(name="train-chunk", cache_policy=NO_CACHE, task_run_name="train-chunk-{lo}")
def train_chunk(
    xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], ids: np.ndarray, config: TrainConfig, lo: int
) -> lstm.Fitted:
    """One chunk of regions, trained in one compiled call on whichever worker runs it."""
    return lstm.fit_weights(xs, ys, config, ids, chunk_size=max(len(xs), 1))


@flow(name="train-on-dask", validate_parameters=False)
def train_chunks(
    xs: list[np.ndarray], ys: list[np.ndarray], ids: np.ndarray, config: TrainConfig, chunk_size: int
) -> lstm.Fitted:
    """Submit every chunk to the flow's task runner and stack the results in region order."""
    logger = get_run_logger()
    bounds = lstm.chunk_bounds(len(xs), chunk_size)
    futures = [train_chunk.submit(xs[lo:hi], ys[lo:hi], ids[lo:hi], config, lo) for lo, hi in bounds]
    parts = []
    for k, future in enumerate(futures, 1):
        parts.append(future.result())
        logger.info("train: chunk %d/%d done (%d regions)", k, len(bounds), len(parts[-1].steps))
    return lstm.Fitted(
        np.concatenate([p.packed for p in parts]),
        np.concatenate([p.loss_history for p in parts], axis=1),
        np.concatenate([p.steps for p in parts]),
    )


def train_on_dask(
    xs: list[np.ndarray], ys: list[np.ndarray], ids: np.ndarray, config: TrainConfig, chunk_size: int, address: str
) -> lstm.Fitted:
    """Train the chunks on the Dask scheduler at ``address`` -> the same arrays as :func:`tasks.lstm.fit_weights`."""
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(address=address)
    return train_chunks.with_options(task_runner=runner)(xs, ys, ids, config, chunk_size)
