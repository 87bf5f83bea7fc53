"""Time validation on the shipped national series: the GX suites alone and with the Data Docs site.

Run: ``.venv/bin/python bench/validation.py``. Prints seconds (median of 5 after one warm-up call that pays
the Great Expectations import); the behaviour is tested in tests/unit/test_validate.py, never the time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import tasks  # noqa: F401 - environment defaults
from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.read import ingest_file
from tasks.validate.data_docs import validate_with_docs
from tasks.validate.split import validate_canonical

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "source" / "china_nhc_national_2022.csv"
RUN_DATE = date(2026, 11, 27)


def timed(call: object, repeats: int = 5) -> float:
    call()  # warm-up: imports and first-call costs
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    table = ingest_file(SHIPPED, IngestConfig()).table
    site = Path(tempfile.mkdtemp(prefix="bench-docs-")) / "data_docs"
    plain = timed(lambda: validate_canonical(table, RUN_DATE, ValidateConfig()))
    with_docs = timed(lambda: validate_with_docs(table, RUN_DATE, ValidateConfig(), site))
    print(f"validation (122 rows):             {plain:.3f} s")
    print(f"validation + Data Docs (122 rows): {with_docs:.3f} s")


if __name__ == "__main__":
    main()
