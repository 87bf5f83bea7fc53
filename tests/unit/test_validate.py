import html
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.read import ingest_file
from tasks.results import Ingested, Validated
from tasks.schemas import CANONICAL_COLUMNS, GAP_COLUMNS, QUARANTINE_COLUMNS, VALID_COLUMNS
from tasks.store import ArtifactStore, publish_folder, sha256_file
from tasks.validate import validate
from tasks.validate.data_docs import DOCS_INDEX, validate_with_docs
from tasks.validate.rules import CANONICAL_TYPES, build_validation_view
from tasks.validate.split import ValidationFailed, ValidationOutcome, summary_markdown, validate_canonical

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "source" / "china_nhc_national_2022.csv"
RUN_DATE = date(2026, 11, 27)

BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
NOT_NULL = "expect_column_values_to_not_be_null"
LENGTHS = "expect_column_value_lengths_to_be_between"
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
    return ingest_file(SHIPPED, IngestConfig()).table


def test_schema_matches_ingest() -> None:
    assert list(CANONICAL_TYPES) == CANONICAL_COLUMNS


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


def test_data_docs_site_stays_small(shipped: pd.DataFrame, tmp_path: Path) -> None:
    # Its time (about 0.3 s: validation plus HTML) is measured by bench/validation.py, not asserted here.
    site = tmp_path / "data_docs"
    validate_with_docs(shipped, RUN_DATE, ValidateConfig(), site)
    validate_with_docs(shipped, RUN_DATE, ValidateConfig(), site)  # a rebuild replaces the site
    assert sum(f.stat().st_size for f in site.resolve().rglob("*") if f.is_file()) < 2_000_000  # ~0.8 MB


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
        ({"region": "R" * 101}, ValidateConfig(), LENGTHS, "region is longer than 100 characters"),
        (
            {"date": pd.NaT, "ingest_error": "date: unreadable 'x'"},
            ValidateConfig(),
            f"{NOT_NULL};{IN_SET}",
            "date is missing (NaT); ingest error: date: unreadable 'x'",
        ),
    ],
    ids=["negative", "fractional", "above-max-count", "future-date", "ingest-error", "region-too-long", "nat-date"],
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


# -- Data Docs ------------------------------------------------------------------------


def docs_text(site: Path) -> str:
    """Every HTML page of a Data Docs site, concatenated."""
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(site.rglob("*.html")))


def results_page(site: Path, suite: str) -> str:
    """The visible text of a suite's validation result page (the index is drawn by JavaScript, so it is not used)."""
    (page,) = site.glob(f"validations/{suite}/*/*/*.html")
    assert f"validations/{suite}/" in (site / DOCS_INDEX).read_text(encoding="utf-8")  # linked from the index
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def checks_showing(page: str, text: str) -> list[str]:
    """The checks on a results page whose rendered result contains ``text``."""
    # Each check starts with its description "rule: expect_...(...)"; what follows is its result.
    return [check for check in re.split(r" (?=\w+: expect_\w+\()", page)[1:] if text in check]


def test_data_docs_show_the_failing_expectation(tmp_path: Path) -> None:
    table = canonical()
    table.loc[2, "confirmed"] = -3.0
    site = tmp_path / "02_validate" / "run_date=2026-11-27" / "data_docs"
    outcome = validate_with_docs(table, RUN_DATE, ValidateConfig(), site)

    # The same run as the pure function: the docs add HTML, never other results.
    plain = validate_canonical(table, RUN_DATE, ValidateConfig())
    pd.testing.assert_frame_equal(outcome.quarantine, plain.quarantine)
    pd.testing.assert_frame_equal(outcome.valid, plain.valid)
    assert outcome.quarantine["expectation"].tolist() == [BETWEEN]

    assert (site / DOCS_INDEX).is_file()
    assert site.is_symlink() and site.resolve().parent == site.parent.resolve() and site.resolve().name.startswith(".")
    page = results_page(site, "validation_view_suite")
    assert "Unsuccessful Expectations 1 " in page
    (failed,) = checks_showing(page, "-3.0")  # the bad value is listed under one check: the one that failed
    assert failed.startswith("non_negative: expect_column_values_to_be_between(min_value=0); failing rows")
    assert "1 unexpected values found" in failed
    # Only the built site and its link: no staging leftovers.
    assert sorted(p.name for p in site.parent.iterdir()) == sorted([site.name, site.resolve().name])


def test_data_docs_are_written_when_no_valid_row_remains(tmp_path: Path) -> None:
    table = canonical(5)
    table["asymptomatic"] = 0.5
    site = tmp_path / "data_docs"
    with pytest.raises(ValidationFailed, match="no valid rows: 5 quarantined"):
        validate_with_docs(table, RUN_DATE, ValidateConfig(), site)
    failed = checks_showing(results_page(site, "validation_view_suite"), "5 unexpected values found")
    assert [check.split("(")[0] for check in failed] == ["whole_number: expect_column_values_to_be_in_set"]

    # A table-level rejection documents the table suite it failed.
    with pytest.raises(ValidationFailed, match="missing column asymptomatic"):
        validate_with_docs(canonical().drop(columns="asymptomatic"), RUN_DATE, ValidateConfig(), site)
    page = results_page(site, "canonical_suite")
    assert "Unsuccessful Expectations 2 " in page  # the column is missing, so its type cannot be checked
    assert "column_exists: expect_column_to_exist(); a failure rejects the whole table" in page
    (failed,) = checks_showing(page, "raised an exception")
    assert failed.startswith("column_type: expect_column_values_to_be_of_type(type_=float64)")
    assert "validation_view" not in docs_text(site)  # the row suite never ran
    assert len(list(tmp_path.iterdir())) == 2  # the link and one build: the previous build was removed


def test_publish_folder_switches_atomically_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "site"

    def build(text: str):
        def write(folder: Path) -> None:
            folder.mkdir()
            (folder / "index.html").write_text(text)

        return write

    publish_folder(target, build("one"))
    first = target.resolve()
    publish_folder(target, build("two"))
    assert (target / "index.html").read_text() == "two" and not first.exists()

    # A build that fails leaves the published folder as it was and nothing half-built.
    def broken(folder: Path) -> None:
        folder.mkdir()
        (folder / "index.html").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_folder(target, broken)
    assert (target / "index.html").read_text() == "two"
    assert len(list(tmp_path.iterdir())) == 2

    # Leftovers of a builder that died are swept; a live builder's folder is not touched.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".site.{dead_pid}.0badc0de").mkdir()
    (tmp_path / f".site.{dead_pid}.0badc0de.link").symlink_to(f".site.{dead_pid}.0badc0de")
    live = tmp_path / f".site.{os.getpid()}.5ca1ab1e"
    live.mkdir()
    publish_folder(target, build("three"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["site", target.resolve().name, live.name])

    # A real folder where the link belongs (a store copied with links followed) is replaced too.
    live.rmdir()
    real = target.resolve()
    target.unlink()
    real.rename(target)
    publish_folder(target, build("four"))
    assert target.is_symlink() and (target / "index.html").read_text() == "four"
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_task_returns_the_data_docs_also_when_reused(tmp_path: Path) -> None:
    from prefect import flow
    from prefect.artifacts import Artifact

    @flow(validate_parameters=False)  # inside a flow run, as in the pipeline (task logs need one)
    def run(day: date) -> Validated:
        return validate(store, day, ingested, ValidateConfig())

    store = ArtifactStore(tmp_path / "store")
    table = canonical()
    table.loc[2, "confirmed"] = -3.0
    ref = store.write_table("ingest", RUN_DATE, "canonical", table)
    ingested = Ingested(canonical=ref, revisions=ref)

    first = run(RUN_DATE)
    assert first.status == "ran"
    index = store.resolve(first.data_docs)
    assert index == store.data_docs(RUN_DATE) / DOCS_INDEX and index.is_file()
    assert first.summary["rows_quarantined"] == 1
    manifest = store.read_json("validate", RUN_DATE, "_manifest")
    assert manifest["outputs"]["data_docs"] == {
        "path": "02_validate/run_date=2026-11-27/data_docs/index.html", "sha256": sha256_file(index), "rows": None
    }  # fmt: skip
    link = Artifact.get("validation-docs")
    assert link is not None and index.as_uri() in str(link.data)

    again = run(RUN_DATE)
    later = run(RUN_DATE + timedelta(days=1))
    for result in (again, later):
        assert result.status == f"skipped (same as {RUN_DATE.isoformat()})"
        assert store.resolve(result.data_docs) == index and result.valid == first.valid

    # Docs that no longer match their manifest are not trusted: the stage runs again and rebuilds them.
    (index.parent / DOCS_INDEX).write_text("tampered")
    rebuilt = run(RUN_DATE)
    assert rebuilt.status == "ran" and "non_negative" in docs_text(index.parent)
