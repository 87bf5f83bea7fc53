"""The backtest flow: a tiny run (2 seeds, 1 simulated scenario) under a temporary Prefect API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.backtest import hotspot_backtest
from tasks.config import DETECTOR_NAMES
from tasks.evaluation.metrics import SUMMARY_COLUMNS
from tasks.evaluation.oracle import ORACLES
from tasks.store import ArtifactStore

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
RUN_DATE = date(2026, 11, 27)


def test_backtest_flow_writes_the_comparison_and_reuses_it(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    result = hotspot_backtest(seeds=2, scenarios=["medium"], store_dir=str(store.root), run_date=RUN_DATE)
    assert result["status"] == "ran"
    folder = store.partition("backtest", RUN_DATE)
    assert Path(result["partition"]) == folder
    for name in ("per_seed.parquet", "outbreaks.parquet", "summary.parquet", "calibration.parquet", "comparison.md",
                 "_manifest.json"):  # fmt: skip
        assert (folder / name).is_file(), name
    assert (folder / "comparison.png").stat().st_size > 20_000
    summary = pd.read_parquet(result["summary"])
    assert list(summary.columns) == SUMMARY_COLUMNS
    oracles = {f"{name}{side}" for name in ORACLES for side in ("", "_2s")}
    assert set(summary["detector"]) == {*DETECTOR_NAMES, *oracles}
    calibration = pd.read_parquet(folder / "calibration.parquet")
    assert len(calibration) == 2 and calibration["band"].between(0.8, 1.0).all()
    assert (summary.loc[summary["setting"] == "matched_far", "far"] <= 0.01).all()
    assert "## F1 at a matched FAR of 1 %" in result["markdown"] and "oracle_best" in result["markdown"]
    again = hotspot_backtest(seeds=2, scenarios=["medium"], store_dir=str(store.root), run_date=RUN_DATE)
    assert again["status"].startswith("skipped")
    with pytest.raises(ValueError, match="unknown scenario"):
        hotspot_backtest(seeds=2, scenarios=["nope"], store_dir=str(store.root), run_date=RUN_DATE)
