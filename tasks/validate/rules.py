"""The validation rules: the Great Expectations suites, and the view of the canonical table they check.

Two suites are built in code on an ephemeral GX context for every call:

* **table suite** on the canonical table as received: required columns exist with the canonical
  dtypes, and the table has at least one row. Any failure rejects the table.
* **row suite** on the *validation view* (see :func:`build_validation_view`): one expectation per
  row rule. Each expectation carries ``meta["action"]``, which tells :mod:`tasks.validate.split`
  what to do with the rows GX lists as unexpected:

  ==============  ==================================================================
  action          what the splitting code does with the rows GX lists as unexpected
  ==============  ==================================================================
  ``fail_table``  (table suite only) reject the table
  ``quarantine``  move the rows to ``quarantine`` with a reason built from the meta
  ``report_gap``  keep the rows; list the null cells in ``gaps`` (kind missing_value)
  ==============  ==================================================================

This module is the one place where the rules live. Every expectation also gets a ``description``
(rule, expectation type, action), which is what GX Data Docs shows for it, so a person reading the
HTML sees the same rule names as the quarantine reasons.

Great Expectations is imported inside the functions: importing it costs ~4 s, and modules that only
import this one (flow parsing, most tests) should not pay that.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.config import ValidateConfig
from tasks.schemas import CANONICAL_COLUMNS, COUNT_COLUMNS, KEY_COLUMNS
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
MAX_REGION_CHARS = 100

FAIL_TABLE = "fail_table"
QUARANTINE = "quarantine"
REPORT_GAP = "report_gap"
ACTION_TEXT: dict[str, str] = {
    FAIL_TABLE: "a failure rejects the whole table",
    QUARANTINE: "failing rows are quarantined",
    REPORT_GAP: "empty cells are reported as gaps, not errors",
}


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


def _fmt(value: Any) -> str:
    """One cell as short text: dates as ISO days, whole floats without '.0', nulls as 'null'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)
