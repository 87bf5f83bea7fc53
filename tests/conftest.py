"""Shared fixtures: a temporary Prefect API for flow tests and small synthetic series."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tasks  # noqa: F401 - sets the environment defaults before TensorFlow or Prefect start

# Flow calls in tests use temporary stores; the flow confines path parameters to allowed folders.
os.environ.setdefault("HOTSPOT_ALLOWED_ROOTS", tempfile.gettempdir())

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "source" / "china_nhc_national_2022.csv"


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server and database for the whole session (start-up costs ~10 s)."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    results = tmp_path_factory.mktemp("prefect-results")
    # No heartbeat thread: it adds ~1 s to every flow call and detects nothing in tests.
    with (
        temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: results, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=90),
    ):
        yield


def synthetic_pair(days: int = 90, surge: tuple[int, ...] = (), seed: int = 0, factor: float = 1.6) -> pd.DataFrame:
    """A smooth driver and a target proportional to it, with the target raised on the surge days.

    Counts stay in the hundreds so the study's 10 % rule is meaningful (it is not at small counts).
    Returns the frame date, region, confirmed, asymptomatic (float counts), days x 4.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    driver = np.round(1000 + 200 * np.sin(t / 9.0) + rng.normal(0, 5, days))
    target = np.round(0.5 * driver)
    for day in surge:
        target[day] = np.round(target[day] * factor)
    return pd.DataFrame(
        {
            "date": pd.date_range("2022-01-01", periods=days, freq="D", unit="us"),
            "region": "CN",
            "confirmed": target,
            "asymptomatic": driver,
        }
    )
