"""What the ``hotspot`` command prints: tables, the run's hotspots, commands to paste. Terminal-safe throughout."""

from __future__ import annotations

import shlex
import textwrap
from datetime import date

import pandas as pd

from tasks.config import DETECTOR_NAMES
from tasks.report.read import load_report
from tasks.store import ArtifactStore
from tasks.text import has_control, terminal_safe

FORMATS = ("table", "csv", "json")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a quote (CSV injection).

    Only text columns: numbers, including negative ones, are not formulas.
    """
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            text = out[col].astype("str")
            risky = out[col].notna() & text.str.startswith(FORMULA_START)
            out[col] = out[col].where(~risky, "'" + text)
    return out


def safe_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell of ``frame`` through :func:`terminal_safe`."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            out[col] = out[col].map(lambda v: terminal_safe(v) if isinstance(v, str) else v)
    return out


def format_frame(frame: pd.DataFrame, fmt: str) -> str:
    """Render a report table as an aligned table, CSV or JSON records."""
    if fmt == "csv":
        return neutralise_formulas(safe_cells(frame)).to_csv(index=False, date_format="%Y-%m-%d")
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", date_unit="s", indent=2) + "\n"
    if frame.empty:
        return "(no rows)\n"
    shown = safe_cells(frame)
    if "note" in shown and (shown["note"] == "").all():
        shown = shown.drop(columns="note")  # an all-empty column only widens the table
    if "date" in shown:
        shown["date"] = shown["date"].dt.strftime("%Y-%m-%d")
    if "p_value" in shown:
        # One decimal would print every p-value below 0.05 as 0.0; two significant digits keep them apart.
        shown["p_value"] = [f"{v:.2g}" if pd.notna(v) else "NaN" for v in shown["p_value"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.1f}") + "\n"


VIEW_COLUMNS = [
    "date", "region", "actual", "expected", "band", "p_value", "level", "agree", "deviation_pct", "is_new", "revised",
]  # fmt: skip
"""What ``hotspot report`` prints by default: the verdict and its evidence, within 120 characters."""
VIRTUAL_COLUMNS = ("band", "level", "agree")
"""Columns made for reading: lower..upper, severity and direction, how many detectors agree."""
REGION_WIDTH = 16


def report_view(table: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Report rows -> the columns to print: ``columns`` (report columns and band, level, agree) or the default
    view, with the ISO week beside the date for weekly data and long region names cut."""
    shown = table.copy()
    shown["band"] = [
        f"{lo:,.0f}..{hi:,.0f}" if pd.notna(lo) and pd.notna(hi) else (f"..{hi:,.0f}" if pd.notna(hi) else "-")
        for lo, hi in zip(shown["lower"], shown["upper"], strict=True)
    ]
    shown["level"] = [f"{sev} {d}" if sev != "none" else "-" for sev, d in zip(shown["severity"], shown["direction"],
                                                                                 strict=True)]  # fmt: skip
    shown["agree"] = [f"{len([n for n in a.split(',') if n])}/{len(DETECTOR_NAMES)}" for a in shown["agreeing"]]
    wanted = list(columns or VIEW_COLUMNS)
    unknown = [c for c in wanted if c not in shown.columns]
    if unknown:
        known = ", ".join([*table.columns, *VIRTUAL_COLUMNS])
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; the report has: {known}")
    if columns is None:
        if is_weekly(shown):
            wanted.insert(1, "period")
        shown["region"] = [r if len(r) <= REGION_WIDTH else r[: REGION_WIDTH - 1] + "~" for r in shown["region"]]
    return shown[wanted]


def is_weekly(table: pd.DataFrame) -> bool:
    """Whether a report's periods are ISO weeks (its ``period`` labels, written since weekly data exist)."""
    return "period" in table and table["period"].astype("str").str.contains("-W", regex=False).any()


RUN_ROWS = 40
"""Hotspot rows ``run`` prints (the newest); ``hotspot report`` prints them all."""


def explain_hint(day: pd.Timestamp, region: str, name_region: bool) -> str:
    """The ``hotspot explain`` command for one day, ready to paste: the region quoted for the shell (a name
    may hold quotes or ``;``); a name holding control characters is left out rather than printed."""
    command = f"hotspot explain {day:%Y-%m-%d}"
    if name_region and not has_control(region):
        command += f" --region {shlex.quote(region)}"
    return command


def print_run(result: dict, threshold_pct: float) -> None:
    store = ArtifactStore(result["store"], experiment=result.get("experiment"))
    table = load_report(store, date.fromisoformat(result["run_date"]))
    hot = table[table["is_hotspot"]].sort_values(["date", "region"])
    decider = table["detector"].iloc[0] if len(table) else "-"
    regions = table["region"].nunique()
    if store.experiment:
        print(f"\nExperiment {store.experiment}: its report is {store.latest('report.parquet')}; the store's daily "
              "record and its latest/ are unchanged (hotspot report --experiment "
              f"{store.experiment} reads it)")  # fmt: skip
    print(f"\nRun date {result['run_date']}: " + ", ".join(f"{k} {v}" for k, v in result["stages"].items()))
    for note in result.get("arrivals", []):
        if not note.endswith("(no-op)"):  # a file received before says nothing new
            print(f"  received: {terminal_safe(note)}")
    where = f" in {hot['region'].nunique()} of {regions} regions" if regions > 1 else ""
    heading = (
        f"Hotspots ({len(hot)} of {len(table)} scored {'weeks' if is_weekly(table) else 'days'}{where}, decided by "
        f"{decider}; "
        f"the study's rule, deviation > {threshold_pct:g} %, flags {int(table['study_hotspot'].sum())})"
        + (f"; the newest {RUN_ROWS} (all: hotspot report):" if len(hot) > RUN_ROWS else ":")
    )
    print("\n" + textwrap.fill(heading, 118, subsequent_indent="  "))
    print(format_frame(report_view(hot.tail(RUN_ROWS)), "table"), end="")
    if len(hot):
        last = hot.iloc[-1]
        unit = "week" if is_weekly(table) else "day"
        hint = explain_hint(last["date"], str(last["region"]), regions > 1)
        print(f"Why a {unit} is (or is not) a hotspot: {hint}")
    if regions > 1:
        print(f"regions: {result['regions']}  (one row per region, most hotspots first)")
    if result.get("message"):  # the flow run's state message: hotspots, and which are new (alerted)
        print("\n" + textwrap.fill(f"This run: {terminal_safe(result['message'])}", 118, subsequent_indent="  "))
    print(f"\nreport:  {result['report']}")
    print(f"history: {result['partition']}")
    print(f"validation: {result['data_docs']}  (Great Expectations Data Docs)")
    for name, path in result["figures"].items():
        print(f"figure:  {path}  ({name})")
