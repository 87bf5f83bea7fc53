"""Splitting the canonical table by the rules' results: valid rows, quarantine (with reasons), gaps.

The code here reads only the GX results and their meta (:mod:`tasks.validate.rules`), so the rules are
never written twice. Calendar days missing between a region's first and last valid date cannot be
expressed as a pandas expectation; they are computed from the valid rows and reported as gaps of kind
``missing_day`` (a day whose only row was quarantined is therefore a missing day for the downstream
series, which is what scale will see). Pure logic: no Prefect, no paths, no clock (the run date is a
parameter).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from tasks.calendar import PERIOD_NAME, FrequencyError, infer_frequency
from tasks.calendar import calendar as periods
from tasks.config import ValidateConfig
from tasks.schemas import CANONICAL_COLUMNS, COUNT_COLUMNS, QUARANTINE_COLUMNS
from tasks.validate.rules import (
    FAIL_TABLE,
    QUARANTINE,
    REPORT_GAP,
    _fmt,
    _new_context,
    _row_expectations,
    _run_suite,
    _table_expectations,
    build_validation_view,
)

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.data_context import AbstractDataContext


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


def _missing_periods(valid: pd.DataFrame, frequency: str = "daily") -> pd.DataFrame:
    """Periods (days, or weeks) between each region's first and last valid date that have no row
    (kind ``missing_day`` or ``missing_week``)."""
    frames = []
    kind = f"missing_{PERIOD_NAME[frequency]}"
    for region, dates in valid.groupby("region", sort=True)["date"]:
        missing = periods(dates.min(), dates.max(), frequency).difference(pd.DatetimeIndex(dates))
        if len(missing):
            frames.append(pd.DataFrame({"region": region, "date": missing, "column": "all", "kind": kind}))
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


def validate_canonical(
    table: pd.DataFrame, run_date: date, config: ValidateConfig, frequency: str = "auto"
) -> ValidationOutcome:
    """Check a canonical table (n, 6) and split it into valid rows, quarantine and gaps.

    Raises ValidationFailed when a table-level expectation fails (missing column, wrong
    dtype, no rows), when no valid row remains, or when the valid dates are neither daily nor
    weekly (``frequency``: "auto" infers it, "daily" or "weekly" declares it; see tasks/calendar.py).

    ``summary`` keys: rows_in, rows_valid, rows_quarantined, success (no row quarantined;
    gaps do not count), run_date, max_count, date_range {first, last} of the valid rows,
    regions, gaps, gaps_by_kind {missing_value, missing_day}, quarantine_by_rule
    {rule: rows}, expectations [{expectation, rule, column, success, unexpected_count, action}],
    frequency ("daily" or "weekly"), absent_columns (count columns with no value at all: no driver given).
    """
    return _validate(_new_context(), table, run_date, config, frequency)


def _validate(
    context: AbstractDataContext,
    table: pd.DataFrame,
    run_date: date,
    config: ValidateConfig,
    frequency: str = "auto",
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
    try:
        frequency = infer_frequency(valid, frequency)
    except FrequencyError as exc:
        raise ValidationFailed(str(exc), quarantine) from exc

    # A count column without one value (a file without a driver) is absent, not a column of gaps.
    absent = [col for col in COUNT_COLUMNS if valid[col].isna().all()]
    value_gaps = pd.DataFrame(
        [
            {"region": canonical.at[pos, "region"], "date": canonical.at[pos, "date"], "column": col}
            for pos, cols in gap_cells.items()
            if not bad[pos]  # a quarantined row's empty cells are not part of any series
            for col in cols
            if col not in absent
        ],
        columns=["region", "date", "column"],
    ).assign(kind="missing_value")
    gaps = pd.concat([_empty_gaps(), value_gaps, _missing_periods(valid, frequency)], ignore_index=True).astype(
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
        "gaps_by_kind": {
            kind: int((gaps["kind"] == kind).sum()) for kind in ("missing_value", f"missing_{PERIOD_NAME[frequency]}")
        },
        "quarantine_by_rule": dict(sorted(rule_counts.items())),
        "expectations": [_summary_entry(r) for r in [*table_results, *row_results]],
        "frequency": frequency,
        "absent_columns": absent,
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
