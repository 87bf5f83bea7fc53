"""Scale-out: region chunks of the heavy stages (train, predict's forecaster, extract's detectors) on an
existing Dask cluster through Prefect's Dask task runner, or one after the other in this process.

Every heavy stage splits its regions into chunks of ``compute.regions_per_chunk`` (:func:`tasks.lstm_keys.
chunk_bounds`) and hands a pure, picklable function and the chunks to :func:`for_each_chunk` (or
:func:`map_chunks`, which collects the results). Without
``compute.dask_address`` the chunks run here, in order; with it, a subflow whose task runner is
``prefect_dask.DaskTaskRunner(address=...)`` submits one ``region-chunk`` task per chunk. The chunks and the
function are the same either way and each region's seeds depend only on its name, so both give the same bits.

Chunk tasks take and return plain arrays and DataFrames, so workers need the project's code and packages but
no access to the artifact store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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


class Chunks:
    """The chunks as one opaque flow parameter. Prefect stores a flow run's parameters in its database as JSON;
    tables of thousands of regions do not belong there, and encoding them would cost seconds before failing.
    This holder cannot be encoded at once (no ``__dict__``, not iterable), so the run shows ``<Chunks>``."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items


@flow(name="chunks-on-dask", validate_parameters=False)
def chunks_on_dask(
    function: Callable[..., T], chunks: Chunks, stage: str, consume: Callable[[T], None] | None = None
) -> list[T]:
    """Submit every chunk to the flow's task runner and take the results in chunk order: handed to ``consume``
    one by one (and then dropped, so the driver holds one chunk's result at a time) or, without it, returned."""
    logger = get_run_logger()
    futures = [run_chunk.submit(function, chunk, stage, k) for k, chunk in enumerate(chunks.items, 1)]
    chunks.items = []  # the futures hold them now
    out = []
    for k in range(len(futures)):
        result = futures[k].result()
        futures[k] = None  # type: ignore[call-overload]  # let the worker's copy go once it is consumed
        if consume is None:
            out.append(result)
        else:
            consume(result)
        logger.info("%s: chunk %d/%d done", stage, k + 1, len(futures))
    return out


def for_each_chunk(
    function: Callable[..., T], chunks: Iterable[Any], address: str, stage: str, consume: Callable[[T], None]
) -> None:
    """``consume(function(c))`` for every chunk in order, here (``address`` empty: one chunk in memory at a time,
    ``chunks`` read lazily) or on the Dask scheduler at ``address`` (every chunk submitted, results consumed in
    order as they arrive)."""
    if not address:
        for chunk in chunks:
            consume(function(chunk))
        return
    from prefect_dask import DaskTaskRunner

    runner = chunks_on_dask.with_options(task_runner=DaskTaskRunner(address=address))
    runner(function, Chunks(list(chunks)), stage, consume)


def map_chunks(function: Callable[..., T], chunks: Sequence[Any], address: str, stage: str) -> list[T]:
    """``[function(c) for c in chunks]``, here (``address`` empty) or on the Dask scheduler at ``address``."""
    out: list[T] = []
    for_each_chunk(function, chunks, address, stage, out.append)
    return out


def region_chunks(frame: pd.DataFrame, regions_per_chunk: int) -> Iterator[pd.DataFrame]:
    """The rows of ``frame`` in chunks of ``regions_per_chunk`` regions (regions sorted by name, rows kept in
    their order), made one at a time: the unit of work of every chunked stage, here and on Dask alike."""
    regions = sorted(frame["region"].unique())
    for lo, hi in chunk_bounds(len(regions), regions_per_chunk):
        yield frame[frame["region"].isin(regions[lo:hi])]


def chunk_count(frame: pd.DataFrame, regions_per_chunk: int) -> int:
    """How many chunks :func:`region_chunks` makes of ``frame``."""
    return len(chunk_bounds(int(frame["region"].nunique()), regions_per_chunk))


def stack(parts: Sequence[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """The chunks' tables one after the other (``empty`` when there is no chunk)."""
    return pd.concat(parts, ignore_index=True) if parts else empty
