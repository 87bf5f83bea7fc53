"""Validate: the data-quality gate between ingest and scale, as a Great Expectations 1.x suite.

The rules and the row splitting are pure logic: no Prefect, no paths, no clock (the run
date is a parameter). The IO (Data Docs, the Prefect task) is at the end of the module.

Two suites are built in code on an ephemeral GX context for every call:

* **table suite** on the canonical table as received: required columns exist with the
  canonical dtypes, and the table has at least one row. Any failure raises
  :class:`ValidationFailed`, since no row of such a table can be trusted.
* **row suite** on the *validation view* (see :func:`build_validation_view`): one
  expectation per row rule. Each expectation carries ``meta["action"]``:

  ==============  ==================================================================
  action          what the splitting code does with the rows GX lists as unexpected
  ==============  ==================================================================
  ``fail_table``  (table suite only) raise :class:`ValidationFailed`
  ``quarantine``  move the rows to ``quarantine`` with a reason built from the meta
  ``report_gap``  keep the rows; list the null cells in ``gaps`` (kind missing_value)
  ==============  ==================================================================

The code that splits rows reads only the results and their meta, so the suite is the one
place where the rules live. Calendar days missing between a region's first and last valid
date cannot be expressed as a pandas expectation; they are computed from the valid rows
and reported as gaps of kind ``missing_day`` (a day whose only row was quarantined is
therefore a missing day for the downstream series, which is what scale will see).

Every expectation also gets a ``description`` (rule, expectation type, action), which is
what GX Data Docs shows for it, so a person reading the HTML sees the same rule names as
the quarantine reasons.

The pure part ends at :func:`summary_markdown`. After it, :func:`validate_with_docs` writes
the Data Docs site of a validation from the same suites and the same GX run (the rules are
never defined twice), and the Prefect task stores the outputs.

Great Expectations is imported inside the functions: importing it costs ~4 s, and modules
that only import this one (flow parsing, most tests) should not pay that.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.config import ValidateConfig
from tasks.ingest import CANONICAL_COLUMNS, COUNT_COLUMNS
from tasks.store import ArtifactStore, code_version, fingerprint
from tasks.text import CONTROL_CHARACTERS

if TYPE_CHECKING:  # only for annotations; the real import is lazy
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations import Expectation

# The GX type name checked for each column of ingest's canonical table. "str" is the only
# name that matches the pandas 3 string dtype, and "datetime64" accepts any resolution
# (ingest writes [us]; the valid output is cast to [us]). Tests check it covers every column.
CANONICAL_TYPES: dict[str, str] = {
    "date": "datetime64",
    "region": "str",
    "confirmed": "float64",
    "asymptomatic": "float64",
    "source_file": "str",
    "source_row": "int64",
    "ingest_error": "str",
}
KEY_COLUMNS = ("region", "date")
MAX_REGION_CHARS = 100


VALID_COLUMNS = ["date", "region", "confirmed", "asymptomatic", "source_row"]
QUARANTINE_COLUMNS = [*CANONICAL_COLUMNS, "reason", "expectation"]
GAP_COLUMNS = ["region", "date", "column", "kind"]

FAIL_TABLE = "fail_table"
QUARANTINE = "quarantine"
REPORT_GAP = "report_gap"
ACTION_TEXT: dict[str, str] = {
    FAIL_TABLE: "a failure rejects the whole table",
    QUARANTINE: "failing rows are quarantined",
    REPORT_GAP: "empty cells are reported as gaps, not errors",
}

DOCS_SITE = "hotspot"
DOCS_INDEX = "index.html"  # GX's fixed entry page inside a built site


class ValidationFailed(ValueError):
    """The table as a whole is unusable, or no valid row remains (one-line message).

    ``quarantine`` carries the rejected rows when the failure is "no valid rows", so the
    caller can still store them with their reasons.
    """

    def __init__(self, message: str, quarantine: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        self.quarantine = quarantine


@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames with == is ambiguous
class ValidationOutcome:
    """Result of :func:`validate_canonical`.

    valid:      (n_valid, 5) date datetime64[us], region str, confirmed/asymptomatic Int64,
                source_row int64; sorted by region, date; RangeIndex.
    quarantine: (n_bad, 8) the canonical columns as received + reason + expectation (str).
    gaps:       (n_gaps, 4) region, date, column ("confirmed"/"asymptomatic"/"all"),
                kind ("missing_value"/"missing_day"); sorted by region, date, column.
    summary:    JSON-serialisable dict (see :func:`validate_canonical`).
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    gaps: pd.DataFrame
    summary: dict[str, Any]


class _Failure(NamedTuple):
    """Why one row is quarantined by one expectation."""

    reason: str
    expectation: str
    rule: str


# -- the validation view ----------------------------------------------------------------


def build_validation_view(table: pd.DataFrame) -> pd.DataFrame:
    """Canonical table (n, 6) -> validation view (n, 8) with the same RangeIndex positions.

    Columns: date, region, confirmed, asymptomatic, source_row (as received), plus

    * ``ingest_error``: as received, with a missing value read as "" (no error recorded);
    * ``<count>_fraction`` for each count column: the fractional part ``x - floor(x)``,
      0.0 for a whole number, NaN where the count is NaN or infinite. GX has no "is a whole
      number" expectation, so the row suite expects this column to be in {0.0}. Infinite
      counts are left to the range expectations (they fail ``max_count`` or ``>= 0``).

    Index labels are positions 0..n-1, which is what GX returns in ``unexpected_index_list``.
    """
    view = table[CANONICAL_COLUMNS].reset_index(drop=True).copy()
    view["ingest_error"] = view["ingest_error"].fillna("").astype("str")
    for col in COUNT_COLUMNS:
        finite = view[col].where(np.isfinite(view[col]))
        view[f"{col}_fraction"] = finite - np.floor(finite)
    return view


# -- the suites ---------------------------------------------------------------------------


def _meta(action: str, rule: str, message: str, column: str = "", **params: Any) -> dict[str, Any]:
    """Meta attached to every expectation: what to do with failures and how to explain them.

    ``message`` is a str.format template; its fields are the canonical row values plus
    ``column``, ``value`` (that column's value), ``rows`` and the keyword ``params``.
    """
    return {"action": action, "rule": rule, "message": message, "column": column, "params": params}


def _arg(value: Any) -> str:
    """One expectation argument as short text (strings inside lists quoted, so '' stays visible)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(repr(v) if isinstance(v, str) else _fmt(v) for v in value) + "]"
    return _fmt(value)


def _described(expectations: list[Expectation]) -> list[Expectation]:
    """Give each expectation the description Data Docs shows: rule, expectation type, arguments, action.

    GX's own wording omits the type and the rule, and people compare the docs with the
    quarantine table, whose reasons and ``expectation`` column use exactly these names.
    The column is left out: Data Docs groups expectations under their column already.
    """
    for expectation in expectations:
        meta = expectation.meta
        args = ", ".join(f"{k}={_arg(v)}" for k, v in expectation.configuration.kwargs.items() if k != "column")
        expectation.description = (
            f"{meta['rule']}: {expectation.expectation_type}({args}); {ACTION_TEXT[meta['action']]}"
        )
    return expectations


def _table_expectations() -> list[Expectation]:
    """Table-level checks on the canonical table as received (all ``fail_table``)."""
    import great_expectations.expectations as gxe

    expectations: list[Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, meta=_meta(FAIL_TABLE, "has_rows", "table has {observed} rows, expected at least 1")
        )
    ]
    for col, type_ in CANONICAL_TYPES.items():
        expectations.append(
            gxe.ExpectColumnToExist(column=col, meta=_meta(FAIL_TABLE, "column_exists", "missing column {column}", col))
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeOfType(
                column=col,
                type_=type_,
                meta=_meta(FAIL_TABLE, "column_type", "column {column} has dtype {observed}, expected {type_}", col),
            )
        )
    return _described(expectations)


def _row_expectations(run_date: date, config: ValidateConfig) -> list[Expectation]:
    """Row-level checks on the validation view, in the order reasons are listed."""
    import great_expectations.expectations as gxe

    expectations: list[Expectation] = [
        gxe.ExpectColumnValuesToNotBeNull(
            column="date", meta=_meta(QUARANTINE, "date_not_null", "date is missing (NaT)", "date")
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="region", meta=_meta(QUARANTINE, "region_not_null", "region is missing", "region")
        ),
        # A region that a spreadsheet would run as a formula (=, +, -, @, tab, CR) is refused:
        # reports are opened in spreadsheets, and no real region name starts that way.
        gxe.ExpectColumnValuesToNotMatchRegex(
            column="region",
            regex=r"^[=+\-@\t\r]",
            meta=_meta(QUARANTINE, "region_plain_text", "region {region!r} looks like a spreadsheet formula", "region"),
        ),
        # Region names reach terminals, shells and reports: control characters (ANSI escapes, bidi
        # overrides, zero-width marks) are refused, and so are names longer than any real region's.
        gxe.ExpectColumnValuesToNotMatchRegex(
            column="region",
            regex=CONTROL_CHARACTERS,
            meta=_meta(QUARANTINE, "region_printable", "region {region!r} contains a control character", "region"),
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="region",
            max_value=MAX_REGION_CHARS,
            meta=_meta(
                QUARANTINE,
                "region_length",
                "region is longer than {max_chars} characters",
                "region",
                max_chars=MAX_REGION_CHARS,
            ),
        ),
        # A row that ingest could not read cleanly is not trusted, whatever its other cells say.
        gxe.ExpectColumnValuesToBeInSet(
            column="ingest_error",
            value_set=[""],
            meta=_meta(QUARANTINE, "ingest_clean", "ingest error: {ingest_error}", "ingest_error"),
        ),
        # Rows with a null key are already quarantined above; skipping them here keeps two
        # unreadable dates from being reported as a duplicate of each other.
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(KEY_COLUMNS),
            ignore_row_if="any_value_is_missing",
            meta=_meta(
                QUARANTINE,
                "unique_key",
                "duplicate (region, date) = ({region}, {date}): source rows {rows}",
                "region, date",
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="date",
            max_value=pd.Timestamp(run_date),
            meta=_meta(
                QUARANTINE, "not_future", "date {date} is after the run date {run_date}", "date", run_date=str(run_date)
            ),
        ),
    ]
    for col in COUNT_COLUMNS:
        # Null counts are gaps: the map expectations below ignore nulls, and this one
        # reports them without failing the row.
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=col, meta=_meta(REPORT_GAP, "count_present", "{column} has no figure", col)
            )
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=col, min_value=0, meta=_meta(QUARANTINE, "non_negative", "{column} is negative: {value}", col)
            )
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=f"{col}_fraction",
                value_set=[0.0],
                meta=_meta(QUARANTINE, "whole_number", "{column} is not a whole number: {value}", col),
            )
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=col,
                max_value=config.max_count,
                meta=_meta(
                    QUARANTINE,
                    "max_count",
                    "{column} = {value} exceeds max_count {max_count}",
                    col,
                    max_count=config.max_count,
                ),
            )
        )
    return _described(expectations)


def _new_context() -> AbstractDataContext:
    """A fresh in-memory GX context (~0.03 s); nothing is written to disk."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX announces a throw-away docs folder at INFO on every context; it tells the user nothing.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in task logs
    return context


def _run_suite(
    context: AbstractDataContext, name: str, frame: pd.DataFrame, expectations: list[Expectation]
) -> list[ExpectationValidationResult]:
    """Run one suite on one DataFrame; results come back in suite order, COMPLETE format."""
    import great_expectations as gx

    batch = context.data_sources.add_pandas(name=f"{name}_source").add_dataframe_asset(name=name)
    suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_suite", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{name}_validation", data=batch.add_batch_definition_whole_dataframe("all"), suite=suite
        )
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
    # GX does not keep suite order in results; the reasons should follow the suite.
    order = {exp.id: i for i, exp in enumerate(suite.expectations)}
    return sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))


# -- reading results ------------------------------------------------------------------


def _kind(result: ExpectationValidationResult) -> tuple[str, dict[str, Any]]:
    meta = dict(result.expectation_config.meta or {})
    return str(meta.get("action", "")), meta


def _raised(result: ExpectationValidationResult) -> str | None:
    """The exception message when GX could not evaluate the expectation, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error").splitlines()[0]
    return None


def _fmt(value: Any) -> str:
    """One cell as short text: dates as ISO days, whole floats without '.0', nulls as 'null'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _table_failures(results: list[ExpectationValidationResult]) -> list[str]:
    """One message per failed table-level expectation (a missing column is named once)."""
    missing = {
        r.expectation_config.kwargs["column"]
        for r in results
        if r.expectation_config.type == "expect_column_to_exist" and not r.success
    }
    messages: list[str] = []
    for result in results:
        action, meta = _kind(result)
        if action != FAIL_TABLE or result.success:
            continue
        column = meta.get("column", "")
        if column in missing and result.expectation_config.type != "expect_column_to_exist":
            continue  # its dtype cannot be checked; "missing column" already says why
        error = _raised(result)
        if error is not None:
            messages.append(f"{result.expectation_config.type} on {column or 'table'} could not run: {error}")
            continue
        observed = _fmt(result.result.get("observed_value"))
        if result.result.get("unexpected_count"):
            # Object columns are checked value by value, so GX reports counts, not a dtype.
            observed = f"object with {result.result['unexpected_count']} value(s) of another type"
        fields = {**result.expectation_config.kwargs, "column": column, "observed": observed}
        messages.append(meta["message"].format(**fields))
    return messages


def _row_reasons(
    table: pd.DataFrame, results: list[ExpectationValidationResult]
) -> tuple[dict[int, list[_Failure]], dict[int, list[str]]]:
    """Split GX row results by action.

    Returns ({position: [failure, ...]} for quarantine, {position: [count column, ...]} for report_gap).
    """
    quarantined: dict[int, list[_Failure]] = {}
    gap_cells: dict[int, list[str]] = {}
    for result in results:
        action, meta = _kind(result)
        exp_type = result.expectation_config.type
        error = _raised(result)
        if error is not None:
            # Rows can no longer be split reliably; better to stop than to pass them.
            raise ValidationFailed(f"row check {meta.get('rule')} ({exp_type}) could not run: {error}")
        if result.success:
            continue
        positions = [int(i) for i in result.result.get("unexpected_index_list") or []]
        if len(positions) != int(result.result.get("unexpected_count") or 0):
            raise ValidationFailed(f"row check {meta.get('rule')} ({exp_type}) did not list its failing rows")
        if action == REPORT_GAP:
            for pos in positions:
                gap_cells.setdefault(pos, []).append(meta["column"])
            continue
        if action != QUARANTINE:
            raise ValidationFailed(f"row check {meta.get('rule')} ({exp_type}) has unknown action {action!r}")
        # Rows that share a key are listed together (for duplicates: "source rows 5, 9").
        key_cols = list(result.expectation_config.kwargs.get("column_list") or [])
        flagged = table.iloc[positions]
        rows_by_key: dict[tuple[Any, ...], str] = {}
        if key_cols:
            for key, group in flagged.groupby(key_cols, sort=False, dropna=False):
                rows_by_key[key if isinstance(key, tuple) else (key,)] = ", ".join(
                    str(r) for r in sorted(group["source_row"])
                )
        for pos, (_, row) in zip(positions, flagged.iterrows(), strict=True):
            fields = {col: _fmt(row[col]) for col in CANONICAL_COLUMNS}
            column = meta.get("column", "")
            fields |= {k: _fmt(v) for k, v in meta.get("params", {}).items()}
            fields |= {"column": column, "value": fields.get(column, ""), "rows": ""}
            if key_cols:
                fields["rows"] = rows_by_key.get(tuple(row[c] for c in key_cols), "")
            quarantined.setdefault(pos, []).append(_Failure(meta["message"].format(**fields), exp_type, meta["rule"]))
    return quarantined, gap_cells


def _missing_days(valid: pd.DataFrame) -> pd.DataFrame:
    """Calendar days between each region's first and last valid date that have no row."""
    frames = []
    for region, dates in valid.groupby("region", sort=True)["date"]:
        calendar = pd.date_range(dates.min(), dates.max(), freq="D", unit="us")
        missing = calendar.difference(pd.DatetimeIndex(dates))
        if len(missing):
            frames.append(pd.DataFrame({"region": region, "date": missing, "column": "all", "kind": "missing_day"}))
    return pd.concat(frames, ignore_index=True) if frames else _empty_gaps()


def _empty_gaps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype="datetime64[us]"),
            "column": pd.Series([], dtype="str"),
            "kind": pd.Series([], dtype="str"),
        }
    )


def _summary_entry(result: ExpectationValidationResult) -> dict[str, Any]:
    action, meta = _kind(result)
    count = result.result.get("unexpected_count")
    return {
        "expectation": result.expectation_config.type,
        "rule": str(meta.get("rule", "")),
        "column": str(meta.get("column", "")),
        "success": bool(result.success),
        "unexpected_count": None if count is None else int(count),
        "action": action,
    }


# -- public API -------------------------------------------------------------------------


def validate_canonical(table: pd.DataFrame, run_date: date, config: ValidateConfig) -> ValidationOutcome:
    """Check a canonical table (n, 6) and split it into valid rows, quarantine and gaps.

    Raises ValidationFailed when a table-level expectation fails (missing column, wrong
    dtype, no rows) or when no valid row remains.

    ``summary`` keys: rows_in, rows_valid, rows_quarantined, success (no row quarantined;
    gaps do not count), run_date, max_count, date_range {first, last} of the valid rows,
    regions, gaps, gaps_by_kind {missing_value, missing_day}, quarantine_by_rule
    {rule: rows}, expectations [{expectation, rule, column, success, unexpected_count, action}].
    """
    return _validate(_new_context(), table, run_date, config)


def _validate(
    context: AbstractDataContext, table: pd.DataFrame, run_date: date, config: ValidateConfig
) -> ValidationOutcome:
    """:func:`validate_canonical` on a given context, which keeps the suites and results for Data Docs."""
    received = table.reset_index(drop=True)
    table_results = _run_suite(context, "canonical", received, _table_expectations())
    failures = _table_failures(table_results)
    if failures:
        raise ValidationFailed("canonical table rejected: " + "; ".join(failures))

    canonical = received[CANONICAL_COLUMNS]
    view = build_validation_view(canonical)
    row_results = _run_suite(context, "validation_view", view, _row_expectations(run_date, config))
    reasons, gap_cells = _row_reasons(canonical, row_results)

    bad = np.zeros(len(canonical), dtype=bool)
    bad[list(reasons)] = True
    rows_in, rows_quarantined = len(canonical), int(bad.sum())
    rows_valid = rows_in - rows_quarantined

    quarantine = canonical[bad].copy()
    quarantine["reason"] = pd.Series({pos: "; ".join(f.reason for f in reasons[pos]) for pos in reasons}, dtype="str")
    quarantine["expectation"] = pd.Series(
        {pos: ";".join(dict.fromkeys(f.expectation for f in reasons[pos])) for pos in reasons}, dtype="str"
    )
    quarantine = quarantine.reset_index(drop=True)[QUARANTINE_COLUMNS]

    rule_counts = Counter(rule for failures in reasons.values() for rule in dict.fromkeys(f.rule for f in failures))
    if rows_valid == 0:
        top = ", ".join(f"{rule} x{n}" for rule, n in rule_counts.most_common(3))
        raise ValidationFailed(f"no valid rows: {rows_quarantined} quarantined (top reasons: {top})", quarantine)

    kept = canonical[~bad]
    valid = pd.DataFrame(
        {
            "date": kept["date"].astype("datetime64[us]"),
            "region": kept["region"].astype("str"),
            "confirmed": kept["confirmed"].astype("Int64"),  # whole numbers or NaN, checked above
            "asymptomatic": kept["asymptomatic"].astype("Int64"),
            "source_row": kept["source_row"].astype("int64"),
        }
    )
    valid = valid.sort_values(["region", "date"], kind="stable").reset_index(drop=True)

    value_gaps = pd.DataFrame(
        [
            {"region": canonical.at[pos, "region"], "date": canonical.at[pos, "date"], "column": col}
            for pos, cols in gap_cells.items()
            if not bad[pos]  # a quarantined row's empty cells are not part of any series
            for col in cols
        ],
        columns=["region", "date", "column"],
    ).assign(kind="missing_value")
    gaps = pd.concat([_empty_gaps(), value_gaps, _missing_days(valid)], ignore_index=True).astype(
        {"region": "str", "date": "datetime64[us]", "column": "str", "kind": "str"}
    )
    gaps = gaps.sort_values(["region", "date", "column"], kind="stable").reset_index(drop=True)

    if rows_in != rows_valid + rows_quarantined or len(valid) != rows_valid or len(quarantine) != rows_quarantined:
        # Never drop a row silently: every input row is either valid or quarantined.
        raise AssertionError(f"row count mismatch: {rows_in} in, {len(valid)} valid, {len(quarantine)} quarantined")

    summary: dict[str, Any] = {
        "rows_in": rows_in,
        "rows_valid": rows_valid,
        "rows_quarantined": rows_quarantined,
        "success": rows_quarantined == 0,
        "run_date": run_date.isoformat(),
        "max_count": int(config.max_count),
        "date_range": {
            "first": valid["date"].min().date().isoformat(),
            "last": valid["date"].max().date().isoformat(),
        },
        "regions": int(valid["region"].nunique()),
        "gaps": len(gaps),
        "gaps_by_kind": {kind: int((gaps["kind"] == kind).sum()) for kind in ("missing_value", "missing_day")},
        "quarantine_by_rule": dict(sorted(rule_counts.items())),
        "expectations": [_summary_entry(r) for r in [*table_results, *row_results]],
    }
    return ValidationOutcome(valid=valid, quarantine=quarantine, gaps=gaps, summary=summary)


def summary_markdown(outcome: ValidationOutcome, max_rows: int = 10) -> str:
    """Short markdown for a Prefect artifact: counts, failed expectations, first quarantined rows and gaps."""
    s = outcome.summary
    lines = [
        f"# Validation {'passed' if s['success'] else 'passed with quarantine'} (run date {s['run_date']})",
        "",
        "| rows in | valid | quarantined | gaps | dates |",
        "|---:|---:|---:|---:|---|",
        f"| {s['rows_in']} | {s['rows_valid']} | {s['rows_quarantined']} | {s['gaps']} "
        f"| {s['date_range']['first']} .. {s['date_range']['last']} |",
        "",
    ]
    failed = [e for e in s["expectations"] if not e["success"]]
    if failed:
        lines += ["| expectation | rule | column | unexpected | action |", "|---|---|---|---:|---|"]
        lines += [
            f"| {e['expectation']} | {e['rule']} | {e['column']} | {e['unexpected_count']} | {e['action']} |"
            for e in failed
        ]
        lines.append("")
    else:
        lines += [f"All {len(s['expectations'])} expectations met.", ""]
    if len(outcome.quarantine):
        lines += ["## Quarantined rows", "", "| source row | reason |", "|---:|---|"]
        for row in outcome.quarantine.head(max_rows).itertuples(index=False):
            lines.append(f"| {row.source_row} | {str(row.reason).replace('|', '/')} |")
        if len(outcome.quarantine) > max_rows:
            lines.append(f"| ... | {len(outcome.quarantine) - max_rows} more |")
        lines.append("")
    if len(outcome.gaps):
        lines += ["## Gaps (reported, not errors)", "", "| region | date | column | kind |", "|---|---|---|---|"]
        for gap in outcome.gaps.head(max_rows).itertuples(index=False):
            lines.append(f"| {gap.region} | {gap.date.date().isoformat()} | {gap.column} | {gap.kind} |")
        if len(outcome.gaps) > max_rows:
            lines.append(f"| ... | | | {len(outcome.gaps) - max_rows} more |")
    return "\n".join(lines).rstrip() + "\n"


# -- Data Docs (IO) -------------------------------------------------------------------


def _build_docs(context: AbstractDataContext, folder: Path) -> None:
    """Render every suite and validation result held by ``context`` as a Data Docs site in ``folder``."""
    context.add_data_docs_site(
        site_name=DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    # Only this site: the ephemeral context also carries a default site in a throw-away folder.
    context.build_data_docs(site_names=[DOCS_SITE])
    if not (folder / DOCS_INDEX).is_file():
        raise RuntimeError(f"Great Expectations built no {DOCS_INDEX} in {folder}")
    # GX copies ~3.4 MB of tutorial GIFs that no page links to; every run date would keep a copy.
    texts = [page for page in folder.rglob("*") if page.suffix in {".html", ".css"}]
    pages = " ".join(page.read_text(encoding="utf-8", errors="replace") for page in texts)
    for image in (folder / "static" / "images").glob("*"):
        if image.name not in pages:
            image.unlink()


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _sweep_staged(target: Path) -> None:
    """Remove the staging leftovers of processes that died while building (never the live folder).

    Staged names carry the builder's pid, so a folder that another live run is still
    building is left alone.
    """
    live = target.resolve() if target.is_symlink() else None
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{prefix}*"):
        pid = path.name.removeprefix(prefix).split(".")[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_symlink():
            path.unlink()
        elif path.resolve() != live:
            shutil.rmtree(path)


def publish_folder(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a folder with ``build(folder)`` and make ``target`` show it in one atomic step.

    A non-empty directory cannot be replaced atomically, a symlink can: ``target`` is a
    (relative) symlink to a dot-named sibling holding the newest complete build, switched
    with ``os.replace``. A reader therefore sees the previous complete folder or the new
    one, never a half-built one; a crash leaves only dot-named leftovers, which the next
    publish sweeps. Returns ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_staged(target)
    staged = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    link = staged.with_name(f"{staged.name}.link")
    try:
        build(staged)
        link.symlink_to(staged.name)
        previous = target.resolve() if target.is_symlink() else None
        if target.is_dir() and not target.is_symlink():
            # A store copied with links followed (cp -L, zip) holds a real folder here: set it aside first.
            previous = target.rename(staged.with_name(f"{staged.name}.old"))
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if previous is not None and previous.exists():
        shutil.rmtree(previous)
    return target


def validate_with_docs(table: pd.DataFrame, run_date: date, config: ValidateConfig, site: Path) -> ValidationOutcome:
    """:func:`validate_canonical`, plus the Data Docs of that same run published at ``site``.

    The docs are written also when validation raises ValidationFailed (they then show the
    failing expectations), before the error propagates. ``site / DOCS_INDEX`` is the entry page.
    """
    context = _new_context()
    try:
        outcome = _validate(context, table, run_date, config)
    except ValidationFailed:
        publish_folder(site, lambda folder: _build_docs(context, folder))
        raise
    publish_folder(site, lambda folder: _build_docs(context, folder))
    return outcome


# -- Prefect task ---------------------------------------------------------------------


def _link_docs(index: Path) -> None:
    create_link_artifact(
        key="validation-docs",
        link=index.as_uri(),
        link_text="Great Expectations Data Docs",
        description="Every expectation of this validation and its result, as HTML",
    )


def _result(store: ArtifactStore, outputs: dict[str, Any], summary: dict[str, Any], status: str) -> dict:
    """The task's result: table refs for the next stages, and the Data Docs entry page as a plain path."""
    tables = {name: ref for name, ref in outputs.items() if name != "data_docs"}
    return tables | {"data_docs": str(store.resolve(outputs["data_docs"])), "summary": summary, "status": status}


@task(name="validate", cache_policy=NO_CACHE)
def validate(store: ArtifactStore, run_date: date, canonical: dict, config: ValidateConfig) -> dict:
    """Gate the canonical table: write valid rows, quarantine (with reasons), gaps and Data Docs; publish the summary.

    Returns refs valid, quarantine, gaps; data_docs (path of the Data Docs index.html);
    summary; status. Fails the flow (ValidationFailed) when the table is unusable or nothing
    valid remains, after storing whatever was quarantined and the Data Docs.
    """
    logger = get_run_logger()
    table = store.load_table(canonical)
    # The run date matters only when some row is dated after it (the future-date rule).
    future_cut = run_date.isoformat() if (table["date"] > pd.Timestamp(run_date)).any() else None
    key = fingerprint(
        stage="validate",
        canonical=canonical["sha256"],
        config=config.model_dump(),
        future_cut=future_cut,
        code=code_version(__file__),
    )
    if (hit := store.reuse("validate", run_date, key)) is not None:
        logger.info("validate: skipped, same table as run date %s", hit["reused_from"])
        # The docs are a checked output of the reused run (reuse verified their hash), so the link stays valid.
        _link_docs(store.resolve(hit["outputs"]["data_docs"]))
        return _result(store, hit["outputs"], hit["summary"], f"skipped (same as {hit['reused_from']})")
    site = store.data_docs(run_date)
    index = site / DOCS_INDEX
    try:
        outcome = validate_with_docs(table, run_date, config, site)
    except ValidationFailed as exc:
        if exc.quarantine is not None:
            ref = store.write_table("validate", run_date, "quarantine", exc.quarantine)
            logger.error("validate: %s; quarantined rows with reasons in %s", exc, store.resolve(ref))
        logger.error("validate: the failing expectations are shown in %s", index)
        create_markdown_artifact(key="validation", markdown=f"# Validation failed\n\n{exc}\n")
        _link_docs(index)
        raise
    outputs = {
        "valid": store.write_table("validate", run_date, "valid", outcome.valid).to_dict(),
        "quarantine": store.write_table("validate", run_date, "quarantine", outcome.quarantine).to_dict(),
        "gaps": store.write_table("validate", run_date, "gaps", outcome.gaps).to_dict(),
        # In the manifest as a ref, so a later reuse checks that the docs are still the ones of this run.
        "data_docs": store.ref(index).to_dict(),
    }
    s = outcome.summary
    compact = {k: s[k] for k in ("rows_in", "rows_valid", "rows_quarantined", "gaps", "success")}
    store.write_manifest("validate", run_date, {"fingerprint": key, "summary": compact, "outputs": outputs})
    create_markdown_artifact(key="validation", markdown=summary_markdown(outcome), description="Validation outcome")
    _link_docs(index)
    if len(outcome.quarantine):
        records = outcome.quarantine.astype({"date": "str"})[["source_row", "date", "region", "reason"]]
        create_table_artifact(key="quarantine", table=records.to_dict("records"), description="Quarantined rows")
    logger.info(
        "validate: %d rows in, %d valid, %d quarantined, %d gap(s) reported; %d expectations checked; Data Docs: %s",
        s["rows_in"],
        s["rows_valid"],
        s["rows_quarantined"],
        s["gaps"],
        len(s["expectations"]),
        index,
    )
    return _result(store, outputs, compact, "ran")
