"""Daily operation: every file ever received, replayed in arrival order, gives the current canonical table.

A row already known with the same values is a no-op; a changed value for a known (region, date) is a
*revision*: the newer value wins and the change is logged. An empty cell in a newer file never erases a
published value.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import pandas as pd

from tasks.ingest.read import IngestError
from tasks.schemas import CANONICAL_COLUMNS, COUNT_COLUMNS, REVISION_COLUMNS


class Merged(NamedTuple):
    """What :func:`merge_observations` returns."""

    table: pd.DataFrame  # current canonical table
    revisions: pd.DataFrame  # REVISION_COLUMNS
    collapsed: int  # identical copies of a row inside one file, kept once


def merge_observations(tables: list[pd.DataFrame]) -> Merged:
    """Canonical tables in arrival order -> current canonical table, revision log, collapsed copies.

    Per (region, date) and count column the newest non-empty value wins; each change of a
    published value is a row of the revision log (REVISION_COLUMNS). Rows that cannot be
    keyed (unreadable date or cell) and keys repeated inside one file are passed through
    unchanged, so the validator quarantines them with a reason instead of a guess here.
    Identical copies of a row inside one file are kept once (counted in ``collapsed``).
    """
    if not tables:
        raise IngestError("no input received yet")
    rows = pd.concat([t.assign(_seq=i) for i, t in enumerate(tables)], ignore_index=True)
    keyable = rows["date"].notna() & (rows["ingest_error"] == "")
    # The same day typed twice with the same numbers in one file is unambiguous: keep one copy.
    exact = ["_seq", "region", "date", *COUNT_COLUMNS]
    copies = keyable & rows.fillna({c: -1.0 for c in COUNT_COLUMNS}).duplicated(exact, keep="first")
    rows, keyable = rows[~copies], keyable[~copies]
    repeated = rows.duplicated(["_seq", "region", "date"], keep=False) & keyable
    passthrough = rows[~keyable | repeated]
    keyed = rows[keyable & ~repeated].sort_values(["region", "date", "_seq"], kind="stable")
    keys = [keyed["region"], keyed["date"]]

    contributed = pd.Series(False, index=keyed.index)
    revisions = []
    for col in COUNT_COLUMNS:
        previous = keyed[col].groupby(keys).ffill().groupby(keys).shift()
        present = keyed[col].notna()
        changed = present & previous.notna() & (keyed[col] != previous)
        contributed |= present & (previous.isna() | changed)
        revisions.append(
            pd.DataFrame(
                {
                    "region": keyed.loc[changed, "region"],
                    "date": keyed.loc[changed, "date"],
                    "column": col,
                    "old_value": previous[changed],
                    "new_value": keyed.loc[changed, col],
                    "source_file": keyed.loc[changed, "source_file"],
                }
            )
        )
    grouped = keyed.groupby(["region", "date"], sort=False)
    # groupby.last skips NaN: the newest published value of each column.
    values = grouped[COUNT_COLUMNS].last()
    # Traceability: the row that last changed something (else the first sighting).
    origin = grouped[["source_file", "source_row"]].first()
    origin.update(keyed[contributed].groupby(["region", "date"], sort=False)[["source_file", "source_row"]].last())
    merged = values.join(origin).reset_index()
    merged["ingest_error"] = ""
    table = pd.concat([merged, passthrough.drop(columns="_seq")], ignore_index=True)
    table = table.astype({"region": "str", "source_file": "str", "source_row": "int64", "ingest_error": "str"})
    table["date"] = table["date"].astype("datetime64[us]")
    table = table.sort_values(["region", "date", "source_row"], kind="stable", na_position="last")
    log = pd.concat(revisions, ignore_index=True).sort_values(["region", "date", "column"], kind="stable")
    log = log.astype({"region": "str", "column": "str", "source_file": "str"}).reset_index(drop=True)
    log["date"] = log["date"].astype("datetime64[us]")
    return Merged(table.reset_index(drop=True)[CANONICAL_COLUMNS], log[REVISION_COLUMNS], int(copies.sum()))


def as_of(table: pd.DataFrame, run_date: date) -> tuple[pd.DataFrame, int]:
    """Rows dated on or before run_date (backfill: the data as known that day) -> (rows, number dropped).

    Rows with an unreadable date are kept so that the validator reports them.
    """
    later = table["date"].notna() & (table["date"] > pd.Timestamp(run_date))
    return table[~later].reset_index(drop=True), int(later.sum())


def date_range_of(table: pd.DataFrame) -> tuple[date, date] | None:
    """First and last readable date of a canonical table, or None when it has none."""
    dates = table["date"].dropna()
    if dates.empty:
        return None
    return dates.min().date(), dates.max().date()
