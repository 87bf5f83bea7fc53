"""The report table and the per-region table: the rows people fetch, and the rows of the Prefect table artifact."""

from __future__ import annotations

import pandas as pd

from tasks.calendar import period_labels
from tasks.schemas import MODEL_COLUMNS, REGION_COLUMNS, REPORT_TABLE_COLUMNS

PRIMARY_REGION = "CN"
"""The region the single-region figures show when it is in the report (the national series)."""


def region_summary(report: pd.DataFrame, unscored: pd.DataFrame) -> pd.DataFrame:
    """Report and unscored days -> REGION_COLUMNS, one row per region (also regions with no scored day)."""
    regions = sorted(set(report["region"]) | set(unscored["region"]))
    grouped = report.groupby("region")
    hot = report[report["is_hotspot"]].groupby("region")["date"]
    model = report[["region", *MODEL_COLUMNS]].drop_duplicates("region")
    out = pd.DataFrame({"region": pd.Series(regions, dtype="str")})
    out["hotspots"] = out["region"].map(grouped["is_hotspot"].sum()).fillna(0).astype("int64")
    out["new_hotspots"] = out["region"].map(grouped["is_new"].sum()).fillna(0).astype("int64")
    out["study_hotspots"] = out["region"].map(grouped["study_hotspot"].sum()).fillna(0).astype("int64")
    out["days_scored"] = out["region"].map(grouped.size()).fillna(0).astype("int64")
    out["days_unscored"] = out["region"].map(unscored.groupby("region").size()).fillna(0).astype("int64")
    out["first_date"] = out["region"].map(grouped["date"].min()).astype("datetime64[us]")
    out["last_date"] = out["region"].map(grouped["date"].max()).astype("datetime64[us]")
    out["cases"] = out["region"].map(grouped["actual"].sum()).fillna(0).astype("int64")
    # Mapping through an empty (float) Series cannot be cast to dates: no hotspot at all gives NaT directly.
    last = hot.max().astype("datetime64[us]")
    out["last_hotspot"] = out["region"].map(last) if len(last) else pd.Series(pd.NaT, index=out.index)
    out["last_hotspot"] = out["last_hotspot"].astype("datetime64[us]")
    out = out.merge(model, on="region", how="left")
    skipped = unscored.drop_duplicates("region").set_index("region")["reason"]
    no_model = out["trained_on"].isna()
    out.loc[no_model, "model_note"] = out.loc[no_model, "region"].map(skipped).str.removeprefix("region ")
    out["trained_on"] = out["trained_on"].fillna("none").astype("str")
    out["model_note"] = out["model_note"].fillna("").astype("str")
    # Regions with no scored day at all: the reason of their first unscored day says why.
    out = out.sort_values(["hotspots", "new_hotspots", "cases", "region"], ascending=[False, False, False, True])
    return out[REGION_COLUMNS].reset_index(drop=True)


def primary_region(regions: pd.DataFrame) -> str:
    """The region the single-region figures show: the national series if present, else the top region."""
    names = regions["region"].tolist()
    return PRIMARY_REGION if PRIMARY_REGION in names else (names[0] if names else "")


def build_report(
    hotspots: pd.DataFrame,
    revisions: pd.DataFrame,
    previous: pd.DataFrame | None,
    target: str,
    model_id: str,
    frequency: str = "daily",
) -> pd.DataFrame:
    """Hotspot table (tasks.extract.HOTSPOT_COLUMNS) -> report table (REPORT_TABLE_COLUMNS): adds ``revised``
    (the day's target value was revised after first publication), ``is_new`` (a hotspot not flagged in the
    previous computed report), ``model_id`` and ``period`` (the ISO week, such as 2024-W07, for weekly data;
    the date for daily data).
    """
    report = hotspots.copy()
    revised_keys = revisions.loc[revisions["column"] == target, ["region", "date"]].drop_duplicates()
    report["revised"] = pd.MultiIndex.from_frame(report[["region", "date"]]).isin(
        pd.MultiIndex.from_frame(revised_keys)
    )
    if previous is None:
        report["is_new"] = report["is_hotspot"]
    else:
        before = previous.loc[previous["is_hotspot"], ["region", "date"]]
        seen = pd.MultiIndex.from_frame(report[["region", "date"]]).isin(pd.MultiIndex.from_frame(before))
        report["is_new"] = report["is_hotspot"] & ~seen
    report["model_id"] = pd.Series(model_id, index=report.index, dtype="str")
    report["period"] = period_labels(report["date"], frequency)
    return report[REPORT_TABLE_COLUMNS]


HOTSPOT_TABLE_COLUMNS = [
    "date", "region", "actual", "expected", "lower", "upper", "p_value", "score", "severity", "direction",
    "agreeing", "detector", "is_hotspot", "predicted", "deviation_pct", "study_hotspot", "is_new", "revised", "note",
]  # fmt: skip
"""Columns of the Prefect hotspot table artifact: the verdict and its evidence first, the study's after."""


def p_text(value: float) -> str:
    """A p-value with two significant digits (4.3e-05, 0.0082, 0.31): rounding to decimals would show 0."""
    return "-" if pd.isna(value) else f"{value:.2g}"


def band_text(lower: float, upper: float, note: str = "") -> str:
    """The band lower..upper as text, or why an edge is missing (one-sided rule, carried EWMA, no forecast)."""
    if pd.notna(lower) and pd.notna(upper):
        return f"{lower:,.0f}..{upper:,.0f}"
    ewma = "alone put the EWMA past" in note
    if pd.notna(upper):
        return f"..{upper:,.0f} (one-sided: no lower edge)"
    if pd.notna(lower):
        why = "the previous periods alone put the EWMA past the level" if ewma else "one-sided"
        return f"{lower:,.0f}.. (no upper edge: {why})"
    if ewma:
        return "none: the previous periods alone put the EWMA past the level"
    if "alone" in note and "C3" in note:
        return "none: C3 exceeds the threshold through the two previous periods alone"
    return "none: not scored" if "not scored" in note or not note else f"none: {note.split(';')[0]}"


def table_records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe records for a Prefect table artifact: dates as text, NaN as null, floats rounded
    to 2 decimals except p-values (2 significant digits, as text); with lower/upper, a ``band`` column that
    says why an edge is missing."""
    out = frame.copy()
    if {"lower", "upper"} <= set(out.columns):
        notes = out["note"] if "note" in out else pd.Series("", index=out.index)
        band = [band_text(lo, hi, str(n)) for lo, hi, n in zip(out["lower"], out["upper"], notes, strict=True)]
        out.insert(int(out.columns.get_loc("lower")), "band", band)
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif col == "p_value":
            out[col] = out[col].map(p_text)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(2)
    return out.astype(object).where(out.notna(), None).to_dict("records")
