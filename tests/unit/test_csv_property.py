"""Property test of the CSV path (ingest -> merge -> validation) with Hypothesis.

Random tables are written with random quoting and line ends, Unicode region names (with quotes, delimiters,
line breaks, Unicode line separators, escape and direction characters among them), blank cells and counts in
odd notations. Whatever is written: every row is valid, quarantined or an identical copy kept once; a valid
row carries exactly the values written; a quarantined row names the file line where it starts.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.merge import merge_observations
from tasks.ingest.read import ingest_file
from tasks.validate.split import validate_canonical

RUN_DATE = date(2030, 1, 1)
DANGEROUS = "\n\r\u2028\u0085\x1b\u202e\t"
ALPHABET = "AbcÉéß北京市ÇÔ'\"`,;|=+-@ \u3000" + DANGEROUS
LINE_BREAK = re.compile(r"\r?\n")  # only \n and \r\n end a line


def notation(draw: st.DrawFn, value: int | None) -> str:
    """A count as a person or a spreadsheet might write it."""
    if value is None:
        return draw(st.sampled_from(["", "NaN", " "]))
    forms = [str(value), f"+{value}", f"{value}.0", f"{value}e0", f" {value} "]
    if value >= 1000:
        forms.append(f"{value:,}")
    return draw(st.sampled_from(forms))


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, list[dict]]:
    """(CSV text, the rows written: region, day, confirmed, asymptomatic as intended)."""
    n = draw(st.integers(1, 12))
    regions = draw(st.lists(st.text(ALPHABET, min_size=0, max_size=8), min_size=1, max_size=4))
    rows = []
    for _ in range(n):
        rows.append(
            {
                "region": draw(st.sampled_from(regions)),
                "day": draw(st.integers(1, 4)),
                "confirmed": draw(st.one_of(st.none(), st.integers(0, 3000))),
                "asymptomatic": draw(st.one_of(st.none(), st.integers(0, 3000))),
            }
        )
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=quoting, lineterminator=terminator)
    writer.writerow(["date", "region", "confirmed", "asymptomatic"])
    for row in rows:
        row["line"] = len(LINE_BREAK.findall(out.getvalue())) + 1
        cells = [notation(draw, row["confirmed"]), notation(draw, row["asymptomatic"])]
        writer.writerow([f"2022-05-{row['day']:02d}", row["region"], *cells])
    return out.getvalue(), rows


def clean(region: str) -> bool:
    """What the validator accepts as a region name (stripped): no control character, short, not a formula."""
    return bool(region) and not set(region) & set(DANGEROUS) and len(region) <= 100 and region[0] not in "=+-@"


def expected(rows: list[dict]) -> tuple[list[dict], list[int], int]:
    """(valid rows, lines of quarantined rows, copies collapsed) the rules imply for the rows written."""
    valid, quarantined, collapsed = [], [], 0
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        key = row["region"].strip()
        if not key:
            quarantined.append(row["line"])  # an empty region cell
        else:
            groups.setdefault((key, row["day"]), []).append(row)
    for (region, _), group in groups.items():
        distinct: dict[tuple, dict] = {}
        for row in group:
            values = (row["confirmed"], row["asymptomatic"])
            if values in distinct:
                collapsed += 1
            else:
                distinct[values] = row
        if len(distinct) > 1:
            quarantined += [row["line"] for row in distinct.values()]  # conflicting copies of one day
        else:
            (row,) = distinct.values()
            (valid if clean(region) else quarantined).append(row if clean(region) else row["line"])
    return valid, sorted(quarantined), collapsed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables())
def test_every_row_written_is_accounted_for_and_none_is_changed(tmp_path: Path, table: tuple[str, list]) -> None:
    text, rows = table
    path = tmp_path / "random.csv"
    path.write_text(text, encoding="utf-8", newline="")
    result = ingest_file(path, IngestConfig())
    merged = merge_observations([result.table])
    want_valid, want_lines, want_collapsed = expected(rows)
    assert len(result.table) == len(rows)
    assert merged.collapsed == want_collapsed
    if not want_valid:
        return  # the validator refuses a table with no valid row at all (tested in test_bad_inputs)
    outcome = validate_canonical(merged.table, RUN_DATE, ValidateConfig())
    summary = outcome.summary
    assert summary["rows_valid"] + summary["rows_quarantined"] + merged.collapsed == len(rows)
    assert sorted(outcome.quarantine["source_row"].tolist()) == want_lines

    def count(value: object) -> int | None:
        return None if pd.isna(value) else int(value)

    got = sorted(
        (row.region, row.date.day, count(row.confirmed), count(row.asymptomatic)) for row in outcome.valid.itertuples()
    )
    want = sorted((r["region"].strip(), r["day"], r["confirmed"], r["asymptomatic"]) for r in want_valid)
    assert got == want
