"""Ingest: read a CSV or Parquet file of daily counts into the canonical table.

Canonical table, one row per (region, date) as received (duplicates are the validator's job):

=============  ==============  ===========================================================
column         dtype           meaning
=============  ==============  ===========================================================
date           datetime64[us]  reporting day; NaT when the cell could not be read
region         str             region code; ``IngestConfig.default_region`` if absent
confirmed      float64         local new confirmed cases; NaN = no published figure
asymptomatic   float64         local new asymptomatic infections; NaN = no published figure
source_row     int64           line of the source file (header = line 1), for tracing
ingest_error   str             why a cell could not be read ("" when the row read cleanly)
=============  ==============  ===========================================================

Counts stay float here so that the validator, not the reader, decides what is acceptable
(negative, fractional, implausible). A cell that is empty is a gap, not an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import IngestConfig
from tasks.store import ArtifactStore

CANONICAL_COLUMNS = ["date", "region", "confirmed", "asymptomatic", "source_row", "ingest_error"]
COUNT_COLUMNS = ["confirmed", "asymptomatic"]

# Accepted headers per canonical column, in priority order: when a file carries several
# (the NHC national file has totals and local counts), the first present one wins, so
# local counts win over totals as in the reference study.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "日期", "day", "report_date", "报告日期"),
    "region": ("region", "province_en", "province", "地区", "省份", "province_zh"),
    "confirmed": (
        "confirmed",
        "local_confirmed",
        "new_confirmed_local",
        "本土新增确诊",
        "新增本土确诊",
        "本土新增确诊病例",
        "new_confirmed",
        "新增确诊",
        "新增确诊病例",
    ),
    "asymptomatic": (
        "asymptomatic",
        "local_asymptomatic",
        "new_asymptomatic_local",
        "本土新增无症状",
        "本土新增无症状感染者",
        "新增本土无症状",
        "new_asymptomatic",
        "新增无症状",
        "新增无症状感染者",
    ),
}
REQUIRED = ("date", "confirmed", "asymptomatic")
FIRST_DATA_LINE = 2  # line 1 is the header


class IngestError(ValueError):
    """The file cannot be turned into a canonical table at all (the message says why)."""


@dataclass(frozen=True)
class IngestResult:
    """The canonical table plus what the reader decided about the headers."""

    table: pd.DataFrame
    header_map: dict[str, str]
    ignored_columns: list[str] = field(default_factory=list)


def normalise_header(name: object) -> str:
    """Strip BOM and blanks, lower-case, and join words with underscores."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def map_headers(columns: list[str]) -> dict[str, str]:
    """Map canonical names to the source columns that provide them.

    Raises IngestError naming the missing canonical columns and the headers accepted for them.
    """
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    mapping: dict[str, str] = {}
    for canonical, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in by_norm:
                mapping[canonical] = by_norm[alias]
                break
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        accepted = "; ".join(f"{c}: {', '.join(HEADER_ALIASES[c])}" for c in missing)
        found = ", ".join(str(c) for c in columns) or "(none)"
        raise IngestError(f"missing required column(s) {', '.join(missing)}; found {found}; accepted: {accepted}")
    return mapping


_DATE_SEPARATORS = re.compile(r"[/.]")
_CHINESE_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$")


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse year-first dates (2022-05-14, 2022/5/14, 20220514, 2022年5月14日) -> datetime64[us].

    Anything else becomes NaT; day-first and month-first forms are refused as ambiguous.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None).dt.normalize().astype("datetime64[us]")
    text = values.astype("str").str.strip()
    text = text.str.replace(_CHINESE_DATE, lambda m: f"{m[1]}-{m[2]}-{m[3]}", regex=True)
    text = text.str.replace(_DATE_SEPARATORS, "-", regex=True)
    compact = text.str.fullmatch(r"\d{8}")
    text = text.where(~compact, text.str[:4] + "-" + text.str[4:6] + "-" + text.str[6:])
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return parsed.astype("datetime64[us]")


def parse_counts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read a count column -> (float64 values, per-row error text).

    Empty cells are gaps (NaN, no error). Thousands separators ("1,234") are removed.
    Text that is not a number becomes NaN with an error naming the cell's content.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        return numbers, pd.Series("", index=values.index, dtype="str")
    text = values.astype("str").str.strip()
    blank = values.isna() | text.isin(["", "nan", "NaN", "None", "<NA>"])
    cleaned = text.str.replace(r"(?<=\d),(?=\d{3})", "", regex=True)
    numbers = pd.to_numeric(cleaned.where(~blank), errors="coerce").astype("float64")
    bad = numbers.isna() & ~blank
    errors = pd.Series("", index=values.index, dtype="str")
    errors[bad] = "not a number: " + text[bad].str.slice(0, 40)
    return numbers, errors


def read_table(path: Path) -> pd.DataFrame:
    """Read CSV (UTF-8, UTF-8 with BOM, or GB18030) or Parquet into a DataFrame of raw cells."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix not in {".csv", ".txt"}:
        raise IngestError(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv or .parquet")
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}: the file is empty")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(f"{path.name}: not readable as UTF-8 or GB18030 text")


def canonicalise(raw: pd.DataFrame, config: IngestConfig) -> IngestResult:
    """Raw cells (any accepted headers) -> canonical table sorted by region and date."""
    mapping = map_headers([str(c) for c in raw.columns])
    index = raw.index
    errors: list[pd.Series] = []

    dates = parse_dates(raw[mapping["date"]])
    date_text = raw[mapping["date"]].astype("str").str.slice(0, 40)
    errors.append(pd.Series(np.where(dates.isna(), "date: unreadable '" + date_text + "'", ""), index=index))

    if "region" in mapping:
        region = raw[mapping["region"]].astype("str").str.strip()
        region = region.where(region != "", config.default_region)
    else:
        region = pd.Series(config.default_region, index=index)

    table = pd.DataFrame({"date": dates, "region": region.astype("str")})
    for col in COUNT_COLUMNS:
        numbers, errs = parse_counts(raw[mapping[col]])
        table[col] = numbers
        errors.append(pd.Series(np.where(errs != "", f"{col}: " + errs, ""), index=index))

    table["source_row"] = np.arange(FIRST_DATA_LINE, FIRST_DATA_LINE + len(raw), dtype="int64")
    joined = pd.concat(errors, axis=1).apply(lambda row: "; ".join(e for e in row if e), axis=1)
    table["ingest_error"] = (joined if len(raw) else pd.Series([], dtype="str")).astype("str")
    table = table.sort_values(["region", "date", "source_row"], kind="stable", na_position="last")
    ignored = [str(c) for c in raw.columns if c not in set(mapping.values())]
    return IngestResult(table.reset_index(drop=True)[CANONICAL_COLUMNS], mapping, ignored)


def ingest_file(path: Path, config: IngestConfig) -> IngestResult:
    """Read and canonicalise one input file; raises IngestError with a one-line reason."""
    raw = read_table(path)
    if raw.empty:
        raise IngestError(f"{path.name}: no data rows (header only?)")
    return canonicalise(raw, config)


def date_range_of(table: pd.DataFrame) -> tuple[date, date] | None:
    """First and last readable date of a canonical table, or None when it has none."""
    dates = table["date"].dropna()
    if dates.empty:
        return None
    return dates.min().date(), dates.max().date()


# -- Prefect task ---------------------------------------------------------------------


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(store: ArtifactStore, run_date: date, input_path: str, config: IngestConfig) -> dict:
    """Archive the input in the raw layer and write the canonical table."""
    logger = get_run_logger()
    source = Path(input_path)
    if not source.is_file():
        raise IngestError(f"input file not found: {source}")
    raw_ref = store.receive(source, run_date)
    result = ingest_file(Path(raw_ref.path), config)
    ref = store.write_table("ingest", run_date, "canonical", result.table)
    span = date_range_of(result.table)
    store.write_manifest(
        "ingest",
        run_date,
        {
            "input": str(source),
            "raw": raw_ref.to_dict(),
            "outputs": {"canonical": ref.to_dict()},
            "header_map": result.header_map,
            "ignored_columns": result.ignored_columns,
        },
    )
    logger.info(
        "ingest: read %s (%d rows, %s..%s); columns used %s; ignored %d other column(s); wrote %s",
        source.name,
        ref.rows,
        *(span or ("-", "-")),
        result.header_map,
        len(result.ignored_columns),
        ref.path,
    )
    return {"canonical": ref.to_dict(), "raw": raw_ref.to_dict()}
