"""The report's figures: the study's (fit, target, loss), the deciding detector's, and the top regions.

Each function returns a matplotlib ``Figure`` (no pyplot: no global state, no GUI backend); the report
task writes them through the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from tasks.calendar import PERIOD_NAME, frequency_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = ("fit", "target", "loss", "detection", "top_regions")
"""The report's figures, in the order they are listed."""
SMALL_MULTIPLES = 12


def _per_period(dates: pd.Series) -> str:
    """The y label of a count series: per day or per week."""
    return f"count per {PERIOD_NAME[frequency_of(dates.drop_duplicates().sort_values())]}"


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
    fig, ax = _figure(f"Training fit on the {what}, {region}", _per_period(driver["date"]))
    ax.plot(driver["date"], driver["actual"], label="actual", color="tab:blue")
    ax.plot(driver["date"], driver["predicted"], label="predicted", color="tab:orange")
    ax.legend()
    return fig


def plot_target(predictions: pd.DataFrame, report: pd.DataFrame, region: str) -> Figure:
    """One region's target series: actual vs predicted, the study's hotspot days marked (the study's figure)."""
    target = predictions[(predictions["role"] == "target") & (predictions["region"] == region)]
    report = report[report["region"] == region]
    title = f"Target series (confirmed), {region}: actual vs predicted, the study's hotspots marked"
    fig, ax = _figure(title, _per_period(target["date"]))
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
    fig, ax = _figure(
        f"Target ({region}) with {decider}: expected value, band, alerts by level", _per_period(rows["date"])
    )
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
