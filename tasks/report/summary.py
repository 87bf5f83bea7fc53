"""The run summary in markdown (summary.md and the Prefect run-summary artifact)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

SUMMARY_ROWS = 30


def summary_markdown(
    report: pd.DataFrame,
    unscored: pd.DataFrame,
    regions: pd.DataFrame,
    run_date: date,
    threshold_pct: float,
    statuses: dict[str, str],
    about: dict[str, Any] | None = None,
    computed_by: dict[str, Any] | None = None,
) -> str:
    """What a reader of the Prefect UI needs first: data, regions, hotspots, gaps, what this run did, and what
    produced it (``about``: this run; ``computed_by``: the run that computed the report, from its metadata).

    Long lists are cut at SUMMARY_ROWS rows; the Parquet tables have everything.
    """
    hot = report[report["is_hotspot"]]
    span = f"{report['date'].min():%Y-%m-%d}..{report['date'].max():%Y-%m-%d}" if len(report) else "-"
    decider = report["detector"].iloc[0] if len(report) else "-"
    levels = ", ".join(f"{n} {level}" for level, n in hot["severity"].value_counts().items()) or "none"
    directions = ", ".join(f"{n} {d}" for d, n in hot["direction"].value_counts().items()) or "none"
    study = int(report["study_hotspot"].sum())
    drops = int(((report["direction"] == "drop") & ~report["is_hotspot"]).sum())
    names = regions["region"].tolist()
    shown_names = ", ".join(sorted(names)[:SUMMARY_ROWS]) + (f" ... ({len(names)} in all)" if len(names) > 30 else "")
    roles = regions["trained_on"].value_counts()
    no_driver = bool(len(regions)) and regions["model_note"].str.contains("no driver was given", regex=False).all()
    lines = [
        f"# Hotspot report, run date {run_date.isoformat()}",
        "",
        f"- days scored: **{len(report)}** ({span}) in **{len(names)}** region(s): {shown_names}",
        f"- models: {int(roles.get('driver', 0))} region(s) trained on the driver, {int(roles.get('target', 0))} on "
        f"the target's own history (driver fallback), {int(roles.get('none', 0))} not modelled"
        + ("; **no driver was given**: every region is modelled on its target's own history" if no_driver else ""),
        f"- hotspots (decided by `{decider}`): **{len(hot)}** ({len(hot) / max(len(report), 1):.0%}) in "
        f"{int((regions['hotspots'] > 0).sum())} region(s); {levels}; {directions}; new since the previous report: "
        f"**{int(report['is_new'].sum())}**",
        f"- the study's rule (deviation > {threshold_pct:g} %) flags **{study}** ({study / max(len(report), 1):.0%})",
        f"- drop alerts (reported, not hotspots): {drops}",
        f"- revised days (target value changed after first publication): {int(report['revised'].sum())}",
        f"- model: `{report['model_id'].iloc[0] if len(report) else '-'}`",
        f"- days not scored: {len(unscored)}",
    ]
    reasons = unscored["reason"].value_counts()
    for reason, count in reasons.head(10).items():
        lines.append(f"  - {count} x {reason}")
    if len(reasons) > 10:
        lines.append(f"  - ... and {len(reasons) - 10} other reasons (unscored.parquet)")
    undefined = int(report["deviation_pct"].isna().sum())
    if undefined:
        lines.append(f"- days with actual = 0 (deviation undefined, never a study hotspot): {undefined}")
    if len(names) > 1:
        lines += ["", "## Regions (most hotspots first)", ""]
        lines.append("| region | hotspots | new | last hotspot | cases | model |")
        lines.append("|---|---|---|---|---|---|")
        for row in regions.head(SUMMARY_ROWS).itertuples():
            last = f"{row.last_hotspot:%Y-%m-%d}" if pd.notna(row.last_hotspot) else "-"
            lines.append(
                f"| {row.region} | {row.hotspots} | {row.new_hotspots} | {last} | {row.cases:,} | {row.trained_on} |"
            )
    if len(hot):
        newest = hot.sort_values(["date", "region"], ascending=[False, True]).head(SUMMARY_ROWS)
        cut = f" (the newest {SUMMARY_ROWS} of {len(hot)})" if len(hot) > SUMMARY_ROWS else ""
        lines += ["", f"## Hotspots{cut}", ""]
        lines.append("| date | region | actual | expected | band | p-value | level | agreeing |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for row in newest.sort_values(["date", "region"]).itertuples():
            low = f"{row.lower:,.0f}" if pd.notna(row.lower) else ""
            band = f"{low}..{row.upper:,.0f}" if pd.notna(row.upper) else "-"
            p_value = f"{row.p_value:.2g}" if pd.notna(row.p_value) else "-"
            lines.append(
                f"| {row.date:%Y-%m-%d} | {row.region} | {row.actual:,} | {row.expected:,.1f} | {band} | {p_value} | "
                f"{row.severity} {row.direction} | {row.agreeing} |"
            )
        lines += ["", "`hotspot explain DATE --region REGION` says why for any day."]
    lines += ["", "## What this run did", "", "| stage | outcome |", "|---|---|"]
    lines += [f"| {stage} | {outcome} |" for stage, outcome in statuses.items()]
    lines += provenance_lines(about or {}, computed_by or {})
    return "\n".join(lines) + "\n"


def provenance_lines(about: dict[str, Any], computed_by: dict[str, Any]) -> list[str]:
    """The summary's "What produced this report" section: this run, the run that computed the report (when it
    was reused), the config hash and the full config, the package versions."""
    if not about and not computed_by:
        return []
    source = computed_by or about
    lines = ["", "## What produced this report", ""]
    if about:
        lines.append(
            f"- this run: flow run `{about.get('flow_run_name')}` ({about.get('flow_run_id')}), deployment "
            f"`{about.get('deployment') or '-'}`, run date {about.get('run_date')}, {about.get('record')} record"
        )
    if computed_by and computed_by.get("flow_run_id") != about.get("flow_run_id"):
        lines.append(f"- the report was computed by flow run `{computed_by.get('flow_run_name')}` "
                     f"({computed_by.get('flow_run_id')}) and reused by this run")  # fmt: skip
    lines.append(f"- model: `{source.get('model_id', '-')}`; config hash: `{source.get('config_hash', '-')}`")
    versions = source.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    if source.get("config"):
        lines += ["", "Config:", "", "```json", json.dumps(source["config"], indent=1, sort_keys=True), "```"]
    return lines
