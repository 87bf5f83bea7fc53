"""Scale-out: region chunks of the heavy stages (train, predict's forecaster, extract's detectors) on an
existing Dask cluster through Prefect's Dask task runner, or one after the other in this process.

Every heavy stage splits its regions into chunks of ``compute.regions_per_chunk`` (:func:`tasks.lstm_keys.
chunk_bounds`) and hands a pure, picklable function and the chunks to :func:`map_chunks`. Without
``compute.dask_address`` the chunks run here, in order; with it, a subflow whose task runner is
``prefect_dask.DaskTaskRunner(address=...)`` submits one ``region-chunk`` task per chunk. The chunks and the
function are the same either way and each region's seeds depend only on its name, so both give the same bits.

Chunk tasks take and return plain arrays and DataFrames, so workers need the project's code and packages but
no access to the artifact store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.lstm_keys import chunk_bounds

T = TypeVar("T")


@task(name="region-chunk", cache_policy=NO_CACHE, task_run_name="{stage}-chunk-{k}")
def run_chunk(function: Callable[..., T], chunk: Any, stage: str, k: int) -> T:
    """One chunk of regions, computed by ``function(chunk)`` on whichever worker runs it."""
    return function(chunk)


@flow(name="chunks-on-dask", validate_parameters=False)
def chunks_on_dask(function: Callable[..., T], chunks: list[Any], stage: str) -> list[T]:
    """Submit every chunk to the flow's task runner; the results in chunk order."""
    logger = get_run_logger()
    futures = [run_chunk.submit(function, chunk, stage, k) for k, chunk in enumerate(chunks, 1)]
    out = []
    for k, future in enumerate(futures, 1):
        out.append(future.result())
        logger.info("%s: chunk %d/%d done", stage, k, len(futures))
    return out


def map_chunks(function: Callable[..., T], chunks: Sequence[Any], address: str, stage: str) -> list[T]:
    """``[function(c) for c in chunks]``, here (``address`` empty) or on the Dask scheduler at ``address``."""
    if not address:
        return [function(chunk) for chunk in chunks]
    from prefect_dask import DaskTaskRunner

    return chunks_on_dask.with_options(task_runner=DaskTaskRunner(address=address))(function, list(chunks), stage)


def region_chunks(frame: pd.DataFrame, regions_per_chunk: int) -> list[pd.DataFrame]:
    """The rows of ``frame`` in chunks of ``regions_per_chunk`` regions (regions sorted by name, rows kept in
    their order): the unit of work of every chunked stage, here and on Dask alike."""
    regions = sorted(frame["region"].unique())
    bounds = chunk_bounds(len(regions), regions_per_chunk)
    return [frame[frame["region"].isin(regions[lo:hi])] for lo, hi in bounds]


def stack(parts: Sequence[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """The chunks' tables one after the other (``empty`` when there is no chunk)."""
    return pd.concat(parts, ignore_index=True) if parts else empty
