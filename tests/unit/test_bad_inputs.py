"""The bad-input corpus (tests/data/bad/, one line each in its README): every case is repaired and said
so, quarantined with a reason naming file, row and column while the valid rows continue, or refused with
one clear line naming the file. No row disappears: rows read = valid + quarantined + identical copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.merge import merge_observations
from tasks.ingest.read import IngestError, ingest_file
from tasks.validate.split import ValidationFailed, validate_canonical

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
RUN_DATE = date(2026, 11, 27)


@dataclass(frozen=True)
class Case:
    """Expected outcome: `fails` (message part), or valid/quarantined row counts, reasons and repairs."""

    fails: str = ""
    valid: int = 0
    quarantined: int = 0
    collapsed: int = 0
    reasons: tuple[str, ...] = ()  # substrings of the quarantine reasons, in row order
    repairs: tuple[str, ...] = ()  # substrings of the repairs reported
    gaps: int = 0
    lines: tuple[int, ...] = ()  # file lines of the quarantined rows (checked when given)
    ignored: tuple[str, ...] = ()  # columns read but not used (checked when given)
    ingest: tuple[tuple[str, str], ...] = ()  # ingest settings (column names) for this file
    frequency: str = ""  # checked when given: the frequency scale infers (a failure there is `fails`)


CASES: dict[str, Case] = {
    "empty.csv": Case(fails="empty.csv: the file is empty"),
    "header_only.csv": Case(fails="header_only.csv: no data rows (header only?)"),
    "semicolon_delimiter.csv": Case(valid=3, repairs=("delimiter ';'",)),
    "tab_delimiter.csv": Case(valid=3, repairs=("delimiter '\\t'",)),
    "missing_column.csv": Case(fails="missing_column.csv: missing required column(s) confirmed"),
    "misspelled_header.csv": Case(fails="missing required column(s) confirmed ('confimed' looks like 'confirmed'?)"),
    "not_a_table.csv": Case(fails="not_a_table.csv: no data rows"),
    "non_numeric_count.csv": Case(valid=3, quarantined=1, reasons=("confirmed: not a number: abc",)),
    "negative_count.csv": Case(valid=3, quarantined=1, reasons=("confirmed",)),
    "non_integer_count.csv": Case(valid=3, quarantined=1, reasons=("confirmed",)),
    "blank_and_nan.csv": Case(valid=5, gaps=3),
    "duplicate_equal.csv": Case(valid=3, collapsed=1),
    "duplicate_conflict.csv": Case(valid=2, quarantined=2, reasons=("duplicate", "duplicate")),
    "out_of_order.csv": Case(valid=3),
    "gap.csv": Case(valid=4, gaps=3),
    "future_date.csv": Case(valid=3, quarantined=1, reasons=("2099-01-01",)),
    "unparseable_date.csv": Case(valid=3, quarantined=1, reasons=("date: unreadable 'yesterday'",)),
    "mixed_date_formats.csv": Case(valid=3, quarantined=1, reasons=("date: unreadable '16/05/2022'",)),
    "outlier_1e9.csv": Case(valid=3, quarantined=1, reasons=("confirmed",)),
    "thousands_separator.csv": Case(valid=2, repairs=("thousands separators in 2 cell(s)",)),
    "truncated_last_line.csv": Case(valid=3, quarantined=1, reasons=("row has 2 of 3 fields",)),
    "formula_injection.csv": Case(valid=3, quarantined=1, reasons=("confirmed: not a number: =cmd",)),
    "formula_region.csv": Case(valid=1, quarantined=1, reasons=("looks like a spreadsheet formula",)),
    "utf8_bom.csv": Case(valid=3, repairs=("byte-order mark",)),
    "gbk_chinese_headers.csv": Case(valid=1, repairs=("GB18030/GBK",)),
    "binary_garbage.csv": Case(fails="binary_garbage.csv:"),
    "wrong_dtypes.parquet": Case(valid=1, quarantined=1, reasons=("confirmed: not a number: x",)),
    "broken.parquet": Case(fails="broken.parquet: not a readable Parquet file"),
    "spreadsheet.xlsx": Case(fails="spreadsheet.xlsx: unsupported file type .xlsx; use .csv or .parquet"),
    # issue 11's adversarial probe
    "blank_region.csv": Case(valid=2, quarantined=1, reasons=("ingest error: region: empty cell",), lines=(4,)),
    "blank_region_only.csv": Case(fails="no valid rows: 2 quarantined (top reasons: ingest_clean x2)"),
    "duplicate_column_names.csv": Case(
        fails="duplicate_column_names.csv: columns 2, 4 have the same name 'confirmed': which one holds the "
        "confirmed figures is ambiguous"
    ),
    "duplicate_ignored_columns.csv": Case(valid=2, ignored=("note", "note")),
    "two_confirmed_headers.csv": Case(
        valid=1, repairs=("confirmed: used column 'confirmed'; also present and not used: 'new_confirmed_local'",)
    ),
    "line_separators_in_quotes.csv": Case(
        valid=3, quarantined=1, reasons=("confirmed: not a number: abc",), lines=(6,)
    ),
    "blank_lines.csv": Case(valid=2, quarantined=1, reasons=("confirmed: not a number: x",), lines=(6,)),
    "ansi_region.csv": Case(
        valid=1, quarantined=1, reasons=("region 'Bei\\x1b[31mjing' contains a control character",)
    ),
    "quote_in_region.csv": Case(valid=1),
    "target_only.csv": Case(valid=3, repairs=("no driver column: every region is modelled on its target's own",)),
    "own_column_names.csv": Case(
        valid=3, ingest=(("date_column", "week"), ("target_column", "cases")), frequency="weekly"
    ),
    "mapped_column_missing.csv": Case(
        fails="mapped_column_missing.csv: ingest.target_column = 'hosp' is not a column of the file; its columns: "
        "'date', 'cases'",
        ingest=(("target_column", "hosp"),),
    ),
    "target_not_a_count.csv": Case(fails="target_not_a_count.csv: the target column 'confirmed' holds no counts"),
    "mixed_daily_weekly.csv": Case(
        fails="the dates are neither daily nor weekly: region CN is weekly on Mondays but has dates on other "
        "weekdays: 2024-01-24 (Wednesday)",
        ingest=(("target_column", "cases"),),
        frequency="weekly",
    ),
    "week_given_twice.csv": Case(
        fails="the dates are neither daily nor weekly: week 2024-W02 of region CN is given twice: 2024-01-08 and "
        "2024-01-10",
        ingest=(("target_column", "cases"),),
        frequency="weekly",
    ),
    "odd_notations.csv": Case(valid=4, repairs=("read 4 cell(s) written otherwise than as plain digits",)),
}


def run_gate(path: Path, case: Case = Case()) -> tuple[object, int, int]:
    """Ingest + validation of one file (+ the frequency scale infers, when the case names one) -> (outcome,
    rows read, identical copies kept once)."""
    result = ingest_file(path, IngestConfig(**dict(case.ingest)))
    merged = merge_observations([result.table])
    outcome = validate_canonical(merged.table, RUN_DATE, ValidateConfig())
    if case.frequency:
        assert outcome.summary["frequency"] == case.frequency
    return (outcome, result), len(result.table), merged.collapsed


def test_corpus_is_complete_and_documented() -> None:
    files = sorted(p.name for p in BAD.iterdir() if p.name not in {"make_corpus.py", "README.md"})
    assert files == sorted(CASES)
    readme = (BAD / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in CASES)
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str) -> None:
    case = CASES[name]
    if case.fails:
        with pytest.raises((IngestError, ValidationFailed)) as exc:
            run_gate(BAD / name, case)
        message = str(exc.value)
        assert case.fails in message and "\n" not in message
        return
    (outcome, result), rows_read, collapsed = run_gate(BAD / name, case)
    summary = outcome.summary
    assert (summary["rows_valid"], summary["rows_quarantined"], collapsed) == (
        case.valid,
        case.quarantined,
        case.collapsed,
    )
    assert rows_read == summary["rows_valid"] + summary["rows_quarantined"] + collapsed  # nothing silently lost
    reasons = outcome.quarantine["reason"].tolist()
    assert len(reasons) == len(case.reasons) and all(part in r for part, r in zip(case.reasons, reasons, strict=True))
    assert (outcome.quarantine["source_file"] == name).all() and outcome.quarantine["source_row"].gt(1).all()
    assert all(any(part in r for r in result.repairs) for part in case.repairs), result.repairs
    assert not case.repairs or result.repairs
    assert summary["gaps"] == case.gaps
    if case.lines:
        assert tuple(outcome.quarantine["source_row"]) == case.lines
    if case.ignored:
        assert tuple(result.ignored_columns) == case.ignored


@pytest.mark.slow
def test_a_million_rows(tmp_path: Path) -> None:
    days = pd.date_range("2022-01-01", periods=1000).strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "date": np.tile(days, 1000),
            "region": np.repeat([f"R{i:04d}" for i in range(1000)], 1000),
            "confirmed": rng.integers(0, 500, 1_000_000).astype(str),
            "asymptomatic": rng.integers(0, 500, 1_000_000).astype(str),
        }
    )
    frame.loc[123_456, "confirmed"] = "-1"
    frame.to_csv(tmp_path / "big.csv", index=False)
    (outcome, _), rows_read, _ = run_gate(tmp_path / "big.csv")  # its time: bench/bad_inputs.py
    assert rows_read == 1_000_000
    assert (outcome.summary["rows_valid"], outcome.summary["rows_quarantined"]) == (999_999, 1)
    assert outcome.quarantine["source_row"].tolist() == [123_458]


def test_a_five_megabyte_field_quarantines_its_row_only(tmp_path: Path) -> None:
    path = tmp_path / "huge_field.csv"
    path.write_text("date,region,confirmed,asymptomatic\n2022-05-14,CN,1,1\n2022-05-15," + "x" * 5_000_000 + ",2,2\n"
                    "2022-05-16,CN,3,3\n")  # fmt: skip
    (outcome, _), rows_read, _ = run_gate(path)
    assert (rows_read, outcome.summary["rows_valid"], outcome.summary["rows_quarantined"]) == (3, 2, 1)
    reason = outcome.quarantine["reason"].iloc[0]
    assert reason.startswith("ingest error: line 3 is 5,000,015 characters long (limit ingest.max_line_chars")
    assert len(outcome.quarantine["region"].iloc[0]) <= 40  # the stored cell is cut short


def test_a_file_that_is_one_long_line_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "one_line.csv"
    path.write_text("date,confirmed," + "9" * 5_000_000)  # time: bench/bad_inputs.py (it took minutes before)
    with pytest.raises(IngestError, match=r"one_line.csv: the first line is 5,000,015 characters long, which is no"):
        ingest_file(path, IngestConfig())


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("date,confirmed,asymptomatic\n" + "2022-05-14,1,1\n" * 100_000)
    with pytest.raises(IngestError, match=r"big.csv: the file is 1.5 MB, larger than ingest.max_file_mb = 1 MB"):
        ingest_file(path, IngestConfig(max_file_mb=1))
