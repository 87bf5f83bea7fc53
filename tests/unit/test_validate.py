import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks import ingest
from tasks.config import IngestConfig, ValidateConfig
from tasks.validate import CANONICAL_COLUMNS as VALIDATE_COLUMNS
from tasks.validate import (
    GAP_COLUMNS,
    QUARANTINE_COLUMNS,
    VALID_COLUMNS,
    ValidationFailed,
    ValidationOutcome,
    build_validation_view,
    summary_markdown,
    validate_canonical,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "source" / "china_nhc_national_2022.csv"
RUN_DATE = date(2026, 11, 27)

BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
NOT_NULL = "expect_column_values_to_not_be_null"
UNIQUE = "expect_compound_columns_to_be_unique"


def canonical(days: int = 6) -> pd.DataFrame:
    """A clean canonical table: region CN, consecutive days from 2022-05-01, source rows 2.."""
    return pd.DataFrame(
        {
            "date": pd.date_range("2022-05-01", periods=days, freq="D", unit="us"),
            "region": pd.Series(["CN"] * days, dtype="str"),
            "confirmed": np.arange(days, dtype="float64") + 10,
            "asymptomatic": np.arange(days, dtype="float64") + 100,
            "source_file": pd.Series(["in.csv"] * days, dtype="str"),
            "source_row": np.arange(2, days + 2, dtype="int64"),
            "ingest_error": pd.Series([""] * days, dtype="str"),
        }
    )


def check_invariant(table: pd.DataFrame, outcome: ValidationOutcome) -> None:
    """Every input row is either valid or quarantined, exactly once."""
    s = outcome.summary
    assert s["rows_in"] == len(table) == s["rows_valid"] + s["rows_quarantined"]
    assert (len(outcome.valid), len(outcome.quarantine)) == (s["rows_valid"], s["rows_quarantined"])
    rows = sorted([*outcome.valid["source_row"], *outcome.quarantine["source_row"]])
    assert rows == sorted(table["source_row"])


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return ingest.ingest_file(SHIPPED, IngestConfig()).table


def test_schema_matches_ingest() -> None:
    assert VALIDATE_COLUMNS == ingest.CANONICAL_COLUMNS


def test_module_import_does_not_load_great_expectations() -> None:
    code = "import sys, tasks.validate; sys.exit('great_expectations' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_shipped_data_passes(shipped: pd.DataFrame) -> None:
    outcome = validate_canonical(shipped, RUN_DATE, ValidateConfig())
    s = outcome.summary
    assert (s["rows_in"], s["rows_valid"], s["rows_quarantined"], s["gaps"]) == (122, 122, 0, 5)
    assert s["success"] is True
    assert s["date_range"] == {"first": "2022-05-14", "last": "2022-09-12"}
    check_invariant(shipped, outcome)

    assert list(outcome.valid.columns) == VALID_COLUMNS
    assert outcome.valid.dtypes.astype(str).to_dict() == {
        "date": "datetime64[us]",
        "region": "str",
        "confirmed": "Int64",
        "asymptomatic": "Int64",
        "source_row": "int64",
    }
    assert outcome.valid["date"].is_monotonic_increasing
    assert list(outcome.quarantine.columns) == QUARANTINE_COLUMNS

    assert list(outcome.gaps.columns) == GAP_COLUMNS
    assert outcome.gaps["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2022-07-18",
        "2022-07-24",
        "2022-07-31",
        "2022-08-05",
        "2022-08-26",
    ]
    assert set(outcome.gaps["column"]) == {"asymptomatic"}
    assert set(outcome.gaps["kind"]) == {"missing_value"}

    json.dumps(s)  # the summary goes into manifests and artifacts as is
    actions = {(e["rule"], e["action"]) for e in s["expectations"]}
    assert {("column_type", "fail_table"), ("unique_key", "quarantine"), ("count_present", "report_gap")} <= actions
    assert "| 122 | 122 | 0 | 5 |" in summary_markdown(outcome)


def test_validation_is_fast_after_import(shipped: pd.DataFrame) -> None:
    validate_canonical(shipped, RUN_DATE, ValidateConfig())  # GX import and first-call costs
    start = time.perf_counter()
    validate_canonical(shipped, RUN_DATE, ValidateConfig())
    assert time.perf_counter() - start < 1.0


def test_view_marks_fractions() -> None:
    table = canonical(4)
    table.loc[0, "confirmed"] = 2.5
    table.loc[1, "confirmed"] = np.nan
    table.loc[2, "confirmed"] = -1.25
    table.loc[3, "confirmed"] = np.inf
    view = build_validation_view(table)
    assert view["confirmed_fraction"].tolist()[0] == 0.5
    assert view["confirmed_fraction"].tolist()[2] == 0.75
    assert view["confirmed_fraction"].isna().tolist() == [False, True, False, True]
    assert (view["asymptomatic_fraction"] == 0).all()


@pytest.mark.parametrize(
    ("cells", "config", "expectation", "reason"),
    [
        ({"confirmed": -3.0}, ValidateConfig(), BETWEEN, "confirmed is negative: -3"),
        ({"asymptomatic": 2.5}, ValidateConfig(), IN_SET, "asymptomatic is not a whole number: 2.5"),
        ({"confirmed": 1001.0}, ValidateConfig(max_count=1000), BETWEEN, "confirmed = 1001 exceeds max_count 1000"),
        ({"date": pd.Timestamp("2026-11-28")}, ValidateConfig(), BETWEEN, "date 2026-11-28 is after the run date"),
        ({"ingest_error": "confirmed: not a number: x"}, ValidateConfig(), IN_SET, "ingest error: confirmed: not a"),
        (
            {"date": pd.NaT, "ingest_error": "date: unreadable 'x'"},
            ValidateConfig(),
            f"{NOT_NULL};{IN_SET}",
            "date is missing (NaT); ingest error: date: unreadable 'x'",
        ),
    ],
    ids=["negative", "fractional", "above-max-count", "future-date", "ingest-error", "nat-date"],
)
def test_bad_row_is_quarantined_by_its_expectation(
    cells: dict, config: ValidateConfig, expectation: str, reason: str
) -> None:
    table = canonical()
    for column, value in cells.items():
        table.loc[2, column] = value
    outcome = validate_canonical(table, RUN_DATE, config)
    bad = outcome.quarantine
    assert bad["source_row"].tolist() == [4]
    assert bad["expectation"].tolist() == [expectation]
    assert reason in bad.at[0, "reason"]
    assert 4 not in outcome.valid["source_row"].tolist()
    check_invariant(table, outcome)


def test_run_date_itself_is_not_future() -> None:
    table = canonical()
    table.loc[5, "date"] = pd.Timestamp(RUN_DATE)
    assert validate_canonical(table, RUN_DATE, ValidateConfig()).summary["rows_quarantined"] == 0


def test_duplicate_key_quarantines_every_copy() -> None:
    table = canonical()
    table.loc[4, "date"] = table.loc[2, "date"]  # source rows 4 and 6 share (CN, 2022-05-03)
    outcome = validate_canonical(table, RUN_DATE, ValidateConfig())
    bad = outcome.quarantine
    assert bad["source_row"].tolist() == [4, 6]
    assert bad["expectation"].tolist() == [UNIQUE, UNIQUE]
    assert set(bad["reason"]) == {"duplicate (region, date) = (CN, 2022-05-03): source rows 4, 6"}
    # the same day in another region is not a duplicate
    other = canonical()
    other.loc[4, "region"] = "Beijing"
    other.loc[4, "date"] = other.loc[2, "date"]
    assert validate_canonical(other, RUN_DATE, ValidateConfig()).summary["rows_quarantined"] == 0
    check_invariant(table, outcome)


def test_null_counts_and_missing_days_are_gaps_not_failures() -> None:
    table = canonical(6).drop(index=[3]).reset_index(drop=True)  # 2022-05-04 absent
    table.loc[1, "confirmed"] = np.nan
    table.loc[0, "confirmed"] = -1.0  # quarantined: its day becomes a missing day, it is no longer in the series
    outcome = validate_canonical(table, RUN_DATE, ValidateConfig())
    gaps = outcome.gaps.assign(date=outcome.gaps["date"].dt.strftime("%Y-%m-%d"))
    assert gaps.to_dict("records") == [
        {"region": "CN", "date": "2022-05-02", "column": "confirmed", "kind": "missing_value"},
        {"region": "CN", "date": "2022-05-04", "column": "all", "kind": "missing_day"},
    ]
    assert outcome.summary["gaps_by_kind"] == {"missing_value": 1, "missing_day": 1}
    assert outcome.summary["rows_valid"] == 4
    assert outcome.valid["confirmed"].isna().sum() == 1
    check_invariant(table, outcome)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda t: t.drop(columns="asymptomatic"), "missing column asymptomatic"),
        (lambda t: t.astype({"confirmed": "str"}), "column confirmed has dtype str, expected float64"),
        (lambda t: t.astype({"date": "str"}), "column date has dtype str, expected datetime64"),
        (lambda t: t.assign(region=np.arange(len(t))), "column region has dtype int64, expected str"),
        (lambda t: t.iloc[:0], "table has 0 rows"),
    ],
    ids=["missing-column", "count-as-str", "date-as-str", "region-as-int", "empty"],
)
def test_table_level_failure_raises(change, column: str) -> None:
    with pytest.raises(ValidationFailed, match="canonical table rejected") as error:
        validate_canonical(change(canonical()), RUN_DATE, ValidateConfig())
    assert column in str(error.value)
    assert "\n" not in str(error.value)


def test_no_valid_row_raises() -> None:
    table = canonical(5)
    table["confirmed"] = -1.0
    with pytest.raises(ValidationFailed, match=r"no valid rows: 5 quarantined \(top reasons: non_negative x5\)"):
        validate_canonical(table, RUN_DATE, ValidateConfig())


def test_invariant_on_a_mixed_table_and_markdown() -> None:
    table = canonical(10)
    table.loc[0, "confirmed"] = -2.0
    table.loc[1, "confirmed"] = 0.5
    table.loc[1, "asymptomatic"] = -0.5  # one row, three failures, two expectation types
    table.loc[3, "date"] = table.loc[4, "date"]
    table.loc[7, "asymptomatic"] = np.nan
    outcome = validate_canonical(table.set_index(table.index + 100), RUN_DATE, ValidateConfig())
    check_invariant(table, outcome)
    assert outcome.summary["rows_quarantined"] == 4
    assert outcome.summary["success"] is False
    row = outcome.quarantine.set_index("source_row").loc[3]
    assert row["expectation"] == f"{IN_SET};{BETWEEN}"  # suite order, each type once
    assert row["reason"] == (
        "confirmed is not a whole number: 0.5; asymptomatic is negative: -0.5; asymptomatic is not a whole number: -0.5"
    )
    assert outcome.summary["quarantine_by_rule"] == {"non_negative": 2, "unique_key": 2, "whole_number": 1}
    markdown = summary_markdown(outcome)
    # gaps: one null asymptomatic + 2022-05-04 and 05-05, whose only rows were the duplicates
    assert outcome.summary["gaps_by_kind"] == {"missing_value": 1, "missing_day": 2}
    assert "| 10 | 6 | 4 | 3 |" in markdown
    assert "duplicate (region, date)" in markdown
