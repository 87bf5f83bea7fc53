"""Reading one input file (CSV or Parquet) into the canonical table: encodings, delimiters, headers, cells.

Canonical table, one row per (region, date) as received (duplicates are the validator's job):

=============  ==============  ===========================================================
column         dtype           meaning
=============  ==============  ===========================================================
date           datetime64[us]  reporting day; NaT when the cell could not be read
region         str             region code; ``IngestConfig.default_region`` if the file has no region column
confirmed      float64         local new confirmed cases; NaN = no published figure
asymptomatic   float64         local new asymptomatic infections; NaN = no published figure
source_file    str             archived file the row's current values came from
source_row     int64           line of that file (header = line 1), for tracing
ingest_error   str             why a cell could not be read ("" when the row read cleanly)
=============  ==============  ===========================================================

Counts stay float here so that the validator, not the reader, decides what is acceptable
(negative, fractional, implausible). A cell that is empty is a gap, not an error.
Every problem is either repaired and reported (``repairs``), a row error kept for the validator to
quarantine (``ingest_error``), or an :class:`IngestError` naming the file: nothing is guessed.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.config import IngestConfig
from tasks.schemas import CANONICAL_COLUMNS, COUNT_COLUMNS

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
REQUIRED = ("date", "confirmed")
OPTIONAL = ("asymptomatic",)
"""The driver: a file without one is modelled on the target's own history."""
CONFIG_COLUMNS = {"date": "date_column", "region": "region_column", "confirmed": "target_column",
                  "asymptomatic": "driver_column"}  # fmt: skip
"""The ingest setting that names each canonical column's header in the user's files."""
NO_COLUMN = "none"
FIRST_DATA_LINE = 2  # line 1 is the header


class IngestError(ValueError):
    """The file cannot be turned into a canonical table at all (the message says why)."""


@dataclass(frozen=True)
class IngestResult:
    """The canonical table plus what the reader decided about the headers and repaired."""

    table: pd.DataFrame
    header_map: dict[str, str]
    ignored_columns: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)


def normalise_header(name: object) -> str:
    """Strip BOM and blanks, lower-case, and join words with underscores."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def map_headers(
    columns: list[str], notes: list[str] | None = None, config: IngestConfig | None = None
) -> dict[str, str]:
    """Map canonical names to the source columns that provide them.

    A column named in the config (``ingest.date_column``, ``region_column``, ``target_column``,
    ``driver_column``; case and spacing ignored) is used as given; otherwise the accepted headers of
    HEADER_ALIASES are looked for, and when several are present the first in priority order is used and
    ``notes`` (if given) says which and what was left. The driver is optional: without one, ``notes`` says
    so (``driver_column = "none"`` ignores a driver column that is there). Raises IngestError naming the
    missing canonical columns and the headers accepted for them, a configured name that is not in the
    file (listing the file's columns), or two columns with the same name that could both be the one to use.
    """
    config = config or IngestConfig()
    found = ", ".join(repr(str(c)) for c in columns) or "(none)"
    by_norm: dict[str, list[str]] = {}
    where: dict[str, list[int]] = {}
    for position, col in enumerate(columns, 1):
        by_norm.setdefault(normalise_header(col), []).append(col)
        where.setdefault(normalise_header(col), []).append(position)

    def unique(name: str, canonical: str) -> str:
        chosen = by_norm[name]
        if len(chosen) > 1:
            # Same name twice: nothing says which column holds the figures.
            positions = ", ".join(str(p) for p in where[name])
            raise IngestError(
                f"columns {positions} have the same name {name!r}: which one holds the {canonical} figures "
                "is ambiguous; rename or remove the extra column"
            )
        return chosen[0]

    mapping: dict[str, str] = {}
    for canonical, aliases in HEADER_ALIASES.items():
        field, given = CONFIG_COLUMNS[canonical], getattr(config, CONFIG_COLUMNS[canonical])
        if given.strip().lower() == NO_COLUMN and canonical in OPTIONAL:
            continue
        if given.strip():
            name = normalise_header(given)
            if name not in by_norm:
                raise IngestError(f"ingest.{field} = {given!r} is not a column of the file; its columns: {found}")
            mapping[canonical] = unique(name, canonical)
            continue
        present = [alias for alias in aliases if alias in by_norm]
        if not present:
            continue
        mapping[canonical] = unique(present[0], canonical)
        others = [by_norm[alias][0] for alias in present[1:]]
        if others and notes is not None:
            notes.append(
                f"{canonical}: used column {mapping[canonical]!r}; also present and not used: "
                f"{', '.join(map(repr, others))}"
            )

    def looks_like(canonical: str) -> list[str]:
        return [
            f"{original!r} looks like {canonical!r}"
            for original in columns
            if difflib.get_close_matches(normalise_header(original), HEADER_ALIASES[canonical], n=1, cutoff=0.8)
        ]

    missing = [c for c in REQUIRED if c not in mapping]
    # A misspelt driver header must not pass for a file without a driver.
    missing += [c for c in OPTIONAL if c not in mapping and not getattr(config, CONFIG_COLUMNS[c]) and looks_like(c)]
    if missing:
        accepted = "; ".join(f"{c}: {', '.join(HEADER_ALIASES[c])}" for c in missing)
        hints = [hint for c in missing for hint in looks_like(c)]
        hint = f" ({'; '.join(hints)}?)" if hints else ""
        named = ", ".join(f"ingest.{CONFIG_COLUMNS[c]}" for c in missing)
        raise IngestError(
            f"missing required column(s) {', '.join(missing)}{hint}; found {found}; accepted: {accepted}; "
            f"or name yours with {named}"
        )
    if "asymptomatic" not in mapping and notes is not None:
        notes.append("no driver column: every region is modelled on its target's own history")
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


PLAIN_COUNT = re.compile(r"\d+")


def parse_counts(values: pd.Series) -> tuple[pd.Series, pd.Series, int]:
    """Read a count column -> (float64 values, per-row error text, cells read from another notation).

    Empty cells are gaps (NaN, no error). Thousands separators ("1,234") are removed.
    Text that is not a number becomes NaN with an error naming the cell's content. Numbers
    written otherwise than as plain digits ("1e3", "+5", "7.0", "-0") are read as numbers
    (the validator then judges them) and counted, so the reader can say so.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        return numbers, pd.Series("", index=values.index, dtype="str"), 0
    text = values.astype("str").str.strip()
    blank = values.isna() | text.isin(["", "nan", "NaN", "None", "<NA>"])
    cleaned = text.str.replace(r"(?<=\d),(?=\d{3})", "", regex=True)
    numbers = pd.to_numeric(cleaned.where(~blank), errors="coerce").astype("float64")
    bad = numbers.isna() & ~blank
    errors = pd.Series("", index=values.index, dtype="str")
    errors[bad] = "not a number: " + text[bad].str.slice(0, 40)
    read = numbers.notna() & ~blank
    other = int((read & ~cleaned.str.fullmatch(PLAIN_COUNT).fillna(False).astype(bool)).sum())
    return numbers, errors, other


ROW_ERROR = "__row_error"  # per-row problem found while splitting the file into fields
DELIMITERS = (",", ";", "\t", "|")
MAX_HEADER_CHARS = 200
LONE_CR = re.compile(r"\r(?!\n)")


def decode(data: bytes) -> tuple[str, list[str]]:
    """File bytes -> (text, repairs made): UTF-8 (a BOM is dropped) or GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), ["removed a UTF-8 byte-order mark"]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), ["decoded as GB18030/GBK (not UTF-8)"]
    except UnicodeDecodeError as exc:
        raise IngestError(f"not readable as UTF-8 or GB18030/GBK text (byte {exc.start})") from exc


LINE_ROW = "__line"  # physical line (1-based) where each row starts, for tracing


def split_csv(text: str, max_line_chars: int) -> tuple[pd.DataFrame, list[str]]:
    """CSV text -> (raw string cells with the header's columns + ROW_ERROR + LINE_ROW, repairs made).

    Records are split by the csv module on ``\n`` / ``\r\n`` only and honour quoting, so a
    quoted cell may hold a line break or a Unicode line separator (U+2028, U+0085) without
    splitting its row. The delimiter is the one of DELIMITERS that splits the first line into
    the most fields (a file saved with ';' is read, and the repair is reported). A row with
    fewer or more fields than the header (a line cut off in transfer), or longer than
    ``max_line_chars``, keeps (shortened) cells but gets a row error. Blank lines are skipped;
    line numbers stay those of the file.
    """
    first = text.split("\n", 1)[0]
    header_line = next((line for line in text.split("\n", 64)[:64] if line.strip()), first)
    delimiter = max(DELIMITERS, key=lambda d: (header_line.count(d), d == ","))
    repairs = [] if delimiter == "," else [f"read with delimiter {delimiter!r} instead of ','"]
    # The csv module's field limit is process-wide; lines are bounded by max_line_chars below instead.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # Only \n and \r\n end a line; the csv module would also end one at a lone \r (or refuse it), so lone
    # carriage returns travel through the parser as a noncharacter and are put back into their cells.
    stand_in = next(c for c in "\ufdd0\ufdd1\ufdd2\ufdd3" if c not in text)
    lone_cr = "\r" in text.replace("\r\n", "")
    if lone_cr:
        text = LONE_CR.sub(stand_in, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    cells: list[list[str]] = []
    errors: list[str] = []
    lines: list[int] = []
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        length = sum(len(cell) for cell in row) + len(row) - 1
        if header is None:
            if length > max_line_chars or any(len(cell) > MAX_HEADER_CHARS for cell in row):
                raise IngestError(
                    f"the first line is {length:,} characters long, which is no header of a table of counts "
                    f"(column names are at most {MAX_HEADER_CHARS} characters)"
                )
            header = [cell.replace(stand_in, "\r") for cell in row] if lone_cr else row
            continue
        problem = ""
        if length > max_line_chars:
            problem = f"line {line} is {length:,} characters long (limit ingest.max_line_chars = {max_line_chars:,})"
            row = [cell[:40] for cell in row]
        elif len(row) != len(header):
            problem = f"row has {len(row)} of {len(header)} fields (cut off or misaligned?)"
        if lone_cr:
            row = [cell.replace(stand_in, "\r") for cell in row]
        cells.append((row + [""] * len(header))[: len(header)])
        errors.append(problem)
        lines.append(line)
    if header is None:
        raise IngestError("the file has no header line")
    frame = pd.DataFrame(cells, columns=header, dtype="str") if cells else pd.DataFrame(columns=header, dtype="str")
    frame[ROW_ERROR] = pd.Series(errors, dtype="str")
    frame[LINE_ROW] = pd.Series(lines, dtype="int64")
    return frame, repairs


def check_size(path: Path, config: IngestConfig) -> int:
    """Refuse a file larger than ``ingest.max_file_mb`` before anything reads it -> its size in bytes."""
    size = path.stat().st_size
    if size > config.max_file_mb * 1e6:
        raise IngestError(
            f"the file is {size / 1e6:,.1f} MB, larger than ingest.max_file_mb = {config.max_file_mb:g} MB"
        )
    return size


def preflight(path: Path, config: IngestConfig) -> None:
    """Checks that cost no reading (exists, supported type, size limit); raises IngestError naming the file."""
    if not path.is_file():
        raise IngestError(f"input file not found: {path}")
    if path.suffix.lower() not in {".csv", ".txt", ".parquet"}:
        raise IngestError(f"{path.name}: unsupported file type {path.suffix or '(none)'}; use .csv or .parquet")
    try:
        check_size(path, config)
    except IngestError as exc:
        raise IngestError(f"{path.name}: {exc}") from exc


def read_table(path: Path, config: IngestConfig) -> tuple[pd.DataFrame, list[str]]:
    """Read CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; , ; tab or |) or Parquet -> (raw cells, repairs made)."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".txt", ".parquet"}:
        raise IngestError(f"unsupported file type {suffix or '(none)'}; use .csv or .parquet")
    check_size(path, config)
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise IngestError(f"not a readable Parquet file ({type(exc).__name__})") from exc
        return frame, []
    data = path.read_bytes()
    if not data.strip():
        raise IngestError("the file is empty")
    text, repairs = decode(data)
    frame, more = split_csv(text, config.max_line_chars)
    return frame, repairs + more


_HELPER_COLUMNS = (ROW_ERROR, LINE_ROW)


def canonicalise(raw: pd.DataFrame, config: IngestConfig, source_file: str = "") -> IngestResult:
    """Raw cells (any accepted headers) -> canonical table sorted by region and date.

    ``config.default_region`` is used only when the file has no region column at all: an empty
    region cell in a file that has one is a bad row (quarantined with its reason), never a guess.
    """
    notes: list[str] = []
    mapping = map_headers([str(c) for c in raw.columns if c not in _HELPER_COLUMNS], notes, config)
    index = raw.index
    errors: list[pd.Series] = []
    if ROW_ERROR in raw:
        errors.append(raw[ROW_ERROR].astype("str"))

    dates = parse_dates(raw[mapping["date"]])
    date_text = raw[mapping["date"]].astype("str").str.slice(0, 40)
    errors.append(pd.Series(np.where(dates.isna(), "date: unreadable '" + date_text + "'", ""), index=index))

    if "region" in mapping:
        region = raw[mapping["region"]].astype("str").str.strip()
        empty = region.isna() | (region == "")
        region = region.fillna("")
        errors.append(pd.Series(np.where(empty, "region: empty cell", ""), index=index))
    else:
        region = pd.Series(config.default_region, index=index)

    table = pd.DataFrame({"date": dates, "region": region.astype("str")})
    for col in COUNT_COLUMNS:
        if col not in mapping:  # no driver column: an empty series, every value a gap
            table[col] = np.full(len(raw), np.nan)
            continue
        numbers, errs, other = parse_counts(raw[mapping[col]])
        if col == "confirmed" and numbers.isna().all() and (errs != "").any():
            # Not one count in the target column: it is the wrong column, not a column of bad cells.
            shown = ", ".join(repr(v) for v in raw[mapping[col]].astype("str").str.slice(0, 20).unique()[:3])
            raise IngestError(
                f"the target column {mapping[col]!r} holds no counts (first values: {shown}); name the count column "
                "with ingest.target_column"
            )
        table[col] = numbers
        errors.append(pd.Series(np.where(errs != "", f"{col}: " + errs, ""), index=index))
        if other:
            notes.append(
                f"{col}: read {other} cell(s) written otherwise than as plain digits (e.g. 1e3, +5, 7.0, -0) as numbers"
            )

    table["source_file"] = pd.Series(source_file, index=index, dtype="str")
    if LINE_ROW in raw:
        table["source_row"] = raw[LINE_ROW].to_numpy(dtype="int64")
    else:
        table["source_row"] = np.arange(FIRST_DATA_LINE, FIRST_DATA_LINE + len(raw), dtype="int64")
    joined = pd.Series("", index=index, dtype="str")
    for part in errors:
        part = part.astype("str")
        joined = joined.where(part == "", joined.where(joined == "", joined + "; ") + part)
    table["ingest_error"] = joined
    table = table.sort_values(["region", "date", "source_row"], kind="stable", na_position="last")
    ignored = [str(c) for c in raw.columns if c not in set(mapping.values()) and c not in _HELPER_COLUMNS]
    return IngestResult(table.reset_index(drop=True)[CANONICAL_COLUMNS], mapping, ignored, notes)


def ingest_file(path: Path, config: IngestConfig) -> IngestResult:
    """Read and canonicalise one input file; raises IngestError with a one-line reason.

    ``repairs`` lists what was read differently from a plain UTF-8 comma-separated file of
    plain whole numbers (delimiter, encoding, separators, notations, a column chosen among several).
    """
    try:
        raw, repairs = read_table(path, config)
        if raw.empty:
            raise IngestError("no data rows (header only?)")
        result = canonicalise(raw, config, source_file=path.name)
    except IngestError as exc:
        raise IngestError(f"{path.name}: {exc}") from exc
    cells = pd.Series(raw.drop(columns=list(_HELPER_COLUMNS), errors="ignore").to_numpy().ravel(), dtype="str")
    separators = int(cells.str.fullmatch(r"-?\d{1,3}(,\d{3})+").sum())
    if separators:
        repairs.append(f"removed thousands separators in {separators} cell(s)")
    return IngestResult(result.table, result.header_map, result.ignored_columns, repairs + result.repairs)
