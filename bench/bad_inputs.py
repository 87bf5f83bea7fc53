"""Time the bad-input cases that once cost minutes: what the bad-input tests check, with the clock on.

Run: ``.venv/bin/python bench/bad_inputs.py``. Prints seconds per case (one process, one run each); the
behaviour is asserted in tests/unit/test_bad_inputs.py, never the time.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

import tasks  # noqa: F401 - environment defaults
from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.merge import merge_observations
from tasks.ingest.read import IngestError, ingest_file
from tasks.validate.split import validate_canonical


def gate(path: Path) -> str:
    """Ingest + validation of one file -> a one-line outcome."""
    try:
        table = ingest_file(path, IngestConfig()).table
    except IngestError as exc:
        return f"refused: {str(exc)[:70]}"
    outcome = validate_canonical(merge_observations([table]).table, date(2026, 11, 27), ValidateConfig())
    return f"{outcome.summary['rows_valid']} valid, {outcome.summary['rows_quarantined']} quarantined"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-bad-"))
    cases: dict[str, Path] = {}
    cases["one 5 MB line"] = folder / "one_line.csv"
    cases["one 5 MB line"].write_text("date,confirmed," + "9" * 5_000_000)
    cases["a 5 MB field"] = folder / "field.csv"
    cases["a 5 MB field"].write_text(
        "date,region,confirmed,asymptomatic\n2022-05-14,CN,1,1\n2022-05-15," + "x" * 5_000_000 + ",2,2\n"
    )
    days = pd.date_range("2022-01-01", periods=1000).strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    big = pd.DataFrame(
        {
            "date": np.tile(days, 1000),
            "region": np.repeat([f"R{i:04d}" for i in range(1000)], 1000),
            "confirmed": rng.integers(0, 500, 1_000_000).astype(str),
            "asymptomatic": rng.integers(0, 500, 1_000_000).astype(str),
        }
    )
    cases["10^6 rows"] = folder / "big.csv"
    big.to_csv(cases["10^6 rows"], index=False)
    print(f"{'case':16s} {'seconds':>8s}  outcome")
    for name, path in cases.items():
        started = time.perf_counter()
        outcome = gate(path)
        print(f"{name:16s} {time.perf_counter() - started:8.2f}  {outcome}")


if __name__ == "__main__":
    main()
