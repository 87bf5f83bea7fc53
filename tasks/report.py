"""Report: the hotspot table people fetch, the study's figures, and the run's Prefect artifacts.

Files per run date under ``07_report/run_date=YYYY-MM-DD/`` and, once all are written and
this is the newest run date, published to ``07_report/latest/`` as one set (see
:meth:`tasks.store.ArtifactStore.publish_latest`):

- ``report.parquet``: one row per scored (region, date), columns :data:`REPORT_TABLE_COLUMNS`
  (the study's columns, then :data:`REPORT_EXTRA_COLUMNS`, then the deciding detector's
  :data:`tasks.extract.VERDICT_COLUMNS`, then :data:`tasks.extract.MODEL_COLUMNS`);
- ``detections.parquet``: every detector's row for every day (what ``hotspot explain`` reads);
- ``unscored.parquet``: the days that could not be scored and why;
- ``regions.parquet``: one row per region (:data:`REGION_COLUMNS`), most hotspots first;
- ``fit.png``, ``target.png``, ``loss.png``, ``detection.png``: for the national series (or the top
  region): training fit, target vs prediction with the study's hotspots, loss curve (over all
  regions), and the target with the deciding detector's expected value, band and alerts by level;
- ``top_regions.png``: small multiples of the top regions by hotspots;
- ``summary.md``: the run in a few lines.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.extract import MODEL_COLUMNS, REPORT_COLUMNS, VERDICT_COLUMNS
from tasks.store import ArtifactStore, code_version, fingerprint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = ("fit", "target", "loss", "detection", "top_regions")
TABLES = ("report", "unscored", "detections", "regions")
PRIMARY_REGION = "CN"
"""The region the single-region figures show when it is in the report (the national series)."""
SMALL_MULTIPLES = 12


def _figure(title: str, ylabel: str) -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    # Figure() directly, not pyplot: no global state, no GUI backend, safe in worker threads.
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_fit(predictions: pd.DataFrame, region: str) -> Figure:
    """One region's training series: label vs one-step prediction (the study's training-fit figure)."""
    rows = predictions[predictions["region"] == region]
    role = "target" if (rows["trained_on"] == "target").any() else "driver"
    driver = rows[rows["role"] == role]
    what = "driver series (asymptomatic)" if role == "driver" else "target's own history (driver fallback)"
    fig, ax = _figure(f"Training fit on the {what}, {region}", "daily count")
    ax.plot(driver["date"], driver["actual"], label="actual", color="tab:blue")
    ax.plot(driver["date"], driver["predicted"], label="predicted", color="tab:orange")
    ax.legend()
    return fig


def plot_target(predictions: pd.DataFrame, report: pd.DataFrame, region: str) -> Figure:
    """One region's target series: actual vs predicted, the study's hotspot days marked (the study's figure)."""
    target = predictions[(predictions["role"] == "target") & (predictions["region"] == region)]
    report = report[report["region"] == region]
    title = f"Target series (confirmed), {region}: actual vs predicted, the study's hotspots marked"
    fig, ax = _figure(title, "daily count")
    ax.plot(target["date"], target["actual"], label="actual", color="tab:blue")
    ax.plot(target["date"], target["predicted"], label="predicted", color="tab:orange")
    hot = report[report["study_hotspot"]]
    ax.scatter(hot["date"], hot["actual"], color="tab:red", zorder=3, s=18, label=f"study's rule hotspot ({len(hot)})")
    ax.legend()
    return fig


# Marker per alert: colour by level (ESSENCE red / yellow), shape by direction.
_ALERT_STYLE = {"alarm": "tab:red", "warning": "orange"}
_DIRECTION_MARKER = {"surge": "^", "drop": "v"}


def _draw_detection(ax: object, rows: pd.DataFrame, legend: bool, marker_size: float = 60) -> None:
    """Band, actual, expected and alerts of one region's decider rows on ``ax``."""
    ax.fill_between(
        rows["date"], rows["lower"], rows["upper"], color="tab:green", alpha=0.2, label="band (not a hotspot inside)"
    )
    ax.plot(rows["date"], rows["actual"], color="tab:blue", label="actual", marker="o", markersize=2)
    ax.plot(rows["date"], rows["expected"], color="tab:green", label="expected")
    for level, colour in _ALERT_STYLE.items():
        for direction, marker in _DIRECTION_MARKER.items():
            hit = rows[(rows["severity"] == level) & (rows["direction"] == direction)]
            if len(hit):
                counted = int(hit["is_hotspot"].sum())
                kind = {len(hit): "hotspots", 0: "not hotspots"}.get(counted, f"{counted} hotspots")
                label = f"{level}, {direction} ({len(hit)}; {kind})"
                ax.scatter(hit["date"], hit["actual"], color=colour, marker=marker, s=marker_size, zorder=3,
                           edgecolors="black", linewidths=0.5, label=label)  # fmt: skip
    if legend:
        ax.legend(fontsize=8)


def plot_detection(detections: pd.DataFrame, decider: str, region: str) -> Figure:
    """One region's target with the deciding detector's expected value, its band, and its alerts by level and
    direction. detections: rows of DETECTION_COLUMNS.

    Warnings are drawn even when only alarms count as hotspots, so a reader sees the near misses.
    """
    rows = detections[(detections["detector"] == decider) & (detections["region"] == region)].sort_values("date")
    fig, ax = _figure(f"Target ({region}) with {decider}: expected value, band, alerts by level", "daily count")
    _draw_detection(ax, rows, legend=True)
    return fig


def plot_regions(detections: pd.DataFrame, regions: pd.DataFrame, decider: str) -> Figure:
    """Small multiples of the top regions (the first SMALL_MULTIPLES rows of ``regions``, ranked by
    :func:`region_summary`): each region's target, the decider's expected value, band and alerts."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    top = regions["region"].head(SMALL_MULTIPLES).tolist()
    cols = min(3, max(len(top), 1))
    nrows = max(-(-len(top) // cols), 1)
    fig = Figure(figsize=(5 * cols, 2.6 * nrows + 0.6), layout="constrained")
    fig.suptitle(f"Top {len(top)} of {len(regions)} regions by hotspots ({decider}); red ^ = alarm surge")
    chosen = detections[detections["detector"] == decider]
    for k, region in enumerate(top, 1):
        ax = fig.add_subplot(nrows, cols, k)
        row = regions.iloc[k - 1]
        ax.set_title(f"{region}: {int(row['hotspots'])} hotspot(s), {row['trained_on']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        rows = chosen[chosen["region"] == region].sort_values("date")
        _draw_detection(ax, rows, legend=False, marker_size=25)
        # The band can be far wider than the counts on a few days; scale to the counts so they stay readable.
        ax.set_ylim(0, max(1.3 * float(rows["actual"].max(skipna=True) or 0), 5.0))
        locator = AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return fig


def plot_loss(history: pd.DataFrame) -> Figure:
    """Training loss (MSE on scaled values) per epoch: the one region's, or the median and 10-90 % range
    over regions. history: long frame epoch, region, loss."""
    regions = history["region"].nunique() if "region" in history else 1
    fig, ax = _figure("Training loss" + (f" over {regions} regions" if regions > 1 else ""), "MSE (scaled)")
    by_epoch = history.groupby("epoch")["loss"]
    if regions > 1:
        low, high = by_epoch.quantile(0.1), by_epoch.quantile(0.9)
        ax.fill_between(low.index, low, high, alpha=0.2, label="10-90 % of regions")
        ax.plot(by_epoch.median().index, by_epoch.median(), marker="o", markersize=3, label="median")
        ax.legend()
    else:
        ax.plot(history["epoch"], history["loss"], marker="o", markersize=3)
    ax.set_xlabel("epoch")
    return fig


REPORT_EXTRA_COLUMNS = ["revised", "is_new", "model_id"]
REPORT_TABLE_COLUMNS = REPORT_COLUMNS + REPORT_EXTRA_COLUMNS + VERDICT_COLUMNS + MODEL_COLUMNS
"""Column order of report.parquet: the original columns first, so positional readers keep working."""
REGION_COLUMNS = [
    "region", "hotspots", "new_hotspots", "study_hotspots", "days_scored", "days_unscored", "first_date",
    "last_date", "cases", "last_hotspot", "trained_on", "model_note",
]  # fmt: skip
"""regions.parquet: one row per region, ranked by hotspots, then new hotspots, then cases."""


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
    out["last_hotspot"] = out["region"].map(hot.max()).astype("datetime64[us]")
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
    hotspots: pd.DataFrame, revisions: pd.DataFrame, previous: pd.DataFrame | None, target: str, model_id: str
) -> pd.DataFrame:
    """Hotspot table (tasks.extract.HOTSPOT_COLUMNS) -> report table (REPORT_TABLE_COLUMNS): adds ``revised``
    (the day's target value was revised after first publication), ``is_new`` (a hotspot not flagged in the
    previous computed report) and ``model_id``.
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
    return report[REPORT_TABLE_COLUMNS]


SUMMARY_ROWS = 30


def summary_markdown(
    report: pd.DataFrame,
    unscored: pd.DataFrame,
    regions: pd.DataFrame,
    run_date: date,
    threshold_pct: float,
    statuses: dict[str, str],
) -> str:
    """What a reader of the Prefect UI needs first: data, regions, hotspots, gaps, and what this run did.

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
    lines = [
        f"# Hotspot report, run date {run_date.isoformat()}",
        "",
        f"- days scored: **{len(report)}** ({span}) in **{len(names)}** region(s): {shown_names}",
        f"- models: {int(roles.get('driver', 0))} region(s) trained on the driver, {int(roles.get('target', 0))} on "
        f"the target's own history (driver fallback), {int(roles.get('none', 0))} not modelled",
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
    return "\n".join(lines) + "\n"


HOTSPOT_TABLE_COLUMNS = [
    "date", "region", "actual", "expected", "lower", "upper", "p_value", "score", "severity", "direction",
    "agreeing", "detector", "is_hotspot", "predicted", "deviation_pct", "study_hotspot", "is_new", "revised", "note",
]  # fmt: skip
"""Columns of the Prefect hotspot table artifact: the verdict and its evidence first, the study's after."""


def table_records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe records for a Prefect table artifact (dates as text, NaN as null)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(2)
    return out.astype(object).where(out.notna(), None).to_dict("records")


# -- Prefect tasks --------------------------------------------------------------------


def _previous_report(store: ArtifactStore, run_date: date) -> pd.DataFrame | None:
    """The report of the newest earlier run date, if any."""
    earlier = [manifest for day, manifest in store.manifests("report") if day < run_date]
    return store.load_table(earlier[-1]["outputs"]["report"]) if earlier else None


@task(name="report", cache_policy=NO_CACHE)
def report(
    store: ArtifactStore,
    run_date: date,
    hotspots: dict,
    revisions: dict,
    predictions: dict,
    model: dict,
    target: str,
) -> dict:
    """Write the report table and figures for the run date (or reuse identical ones)."""
    logger = get_run_logger()
    key = fingerprint(
        stage="report",
        hotspots=hotspots["hotspots"]["sha256"],
        unscored=hotspots["unscored"]["sha256"],
        detections=hotspots["detections"]["sha256"],
        revisions=revisions["sha256"],
        predictions=predictions["sha256"],
        history=model["history"]["sha256"],
        model_id=model["model_id"],
        target=target,
        code=code_version(__file__),
    )
    if (hit := store.reuse("report", run_date, key)) is not None:
        logger.info("report: skipped, same results as run date %s", hit["reused_from"])
        return hit["outputs"] | {"status": f"skipped (same as {hit['reused_from']})"}
    table = build_report(
        store.load_table(hotspots["hotspots"]),
        store.load_table(revisions),
        _previous_report(store, run_date),
        target,
        model["model_id"],
    )
    preds = store.load_table(predictions)
    detections = store.load_table(hotspots["detections"])
    unscored = store.load_table(hotspots["unscored"])
    regions = region_summary(table, unscored)
    outputs = {
        "report": store.write_table("report", run_date, "report", table).to_dict(),
        "unscored": store.write_table("report", run_date, "unscored", unscored).to_dict(),
        # A copy beside the report, so that `hotspot explain` (and latest/) needs nothing from other layers.
        "detections": store.write_table("report", run_date, "detections", detections).to_dict(),
        "regions": store.write_table("report", run_date, "regions", regions).to_dict(),
    }
    decider = table["detector"].iloc[0] if len(table) else ""
    primary = primary_region(regions)
    figures = {
        "fit": plot_fit(preds, primary),
        "target": plot_target(preds, table, primary),
        "loss": plot_loss(store.load_table(model["history"])),
        "detection": plot_detection(detections, decider, primary),
        "top_regions": plot_regions(detections, regions, decider),
    }
    for name, fig in figures.items():
        path = store.write_with(store.path("report", run_date, f"{name}.png"), lambda p, f=fig: f.savefig(p, dpi=110))
        outputs[name] = store.ref(path).to_dict()
    store.write_manifest("report", run_date, {"fingerprint": key, "outputs": outputs})
    logger.info(
        "report: %d rows in %d region(s), %d hotspots (%d new, %d on revised days); wrote %s",
        len(table),
        len(regions),
        int(table["is_hotspot"].sum()),
        int(table["is_new"].sum()),
        int((table["is_hotspot"] & table["revised"]).sum()),
        store.resolve(outputs["report"]),
    )
    return outputs | {"status": "ran"}


@task(name="publish", cache_policy=NO_CACHE)
def publish(
    store: ArtifactStore, run_date: date, outputs: dict, threshold_pct: float, statuses: dict[str, str]
) -> dict:
    """Every run: write the run summary, point latest at the newest run date, publish Prefect artifacts."""
    logger = get_run_logger()
    table = store.load_table(outputs["report"])
    regions = store.load_table(outputs["regions"])
    markdown = summary_markdown(
        table, store.load_table(outputs["unscored"]), regions, run_date, threshold_pct, statuses
    )
    summary = store.write_with(store.path("report", run_date, "summary.md"), lambda p: p.write_text(markdown))
    files = {f"{name}.parquet": store.resolve(outputs[name]) for name in TABLES}
    files |= {f"{name}.png": store.resolve(outputs[name]) for name in FIGURES} | {"summary.md": summary}

    latest_day = store.latest_run_date()
    if run_date.isoformat() >= latest_day:
        published = store.publish_latest(files, run_date)
    else:
        # A backfill of an older date must not replace the newest report.
        published = files
        logger.info("publish: latest stays at run date %s (newer than %s)", latest_day, run_date)

    create_table_artifact(
        key="hotspots",
        table=table_records(table.loc[table["is_hotspot"], HOTSPOT_TABLE_COLUMNS]),
        description=f"Hotspot days (decided by {table['detector'].iloc[0] if len(table) else '-'})",
    )
    create_markdown_artifact(key="run-summary", markdown=markdown, description="What this run did")
    create_link_artifact(key="hotspot-report", link=published["report.parquet"].as_uri(), link_text="report.parquet")
    figure_links = "\n".join(f"- [{name}.png]({published[f'{name}.png'].as_uri()})" for name in FIGURES)
    create_markdown_artifact(key="figures", markdown=f"# Figures\n\n{figure_links}\n", description="Report figures")
    logger.info("publish: %d hotspots; report at %s", int(table["is_hotspot"].sum()), published["report.parquet"])
    return {
        "report": str(published["report.parquet"]),
        "partition": str(store.partition("report", run_date)),
        "figures": {name: str(published[f"{name}.png"]) for name in FIGURES},
        "regions": str(published["regions.parquet"]),
        "summary": markdown,
    }
