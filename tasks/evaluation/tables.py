"""The backtest's tables and chart: markdown, F1 pivots, POD by outbreak size, the comparison figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.evaluation.metrics import TWO_SIDED_SUFFIX
from tasks.evaluation.oracle import ORACLE, ORACLES


def _pm(value: float, sd: float, digits: int = 2) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f} ± {sd:.{digits}f}" if np.isfinite(sd) else f"{value:.{digits}f}"


def markdown_table(summary: pd.DataFrame, setting: str) -> str:
    """The summary rows of one setting as a markdown table (value ± spread over seeds; FAR in %)."""
    rows = summary[summary["setting"] == setting]
    lines = [
        "| scenario | detector | POD | FAR % | PPV | F1 | median delay (days) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows.itertuples():
        delay = f"{row.median_delay:g}" if np.isfinite(row.median_delay) else "-"
        lines.append(
            f"| {row.scenario} | {row.detector} | {_pm(row.pod, row.pod_sd)} | "
            f"{_pm(100 * row.far, 100 * row.far_sd, 1)} | {_pm(row.ppv, row.ppv_sd)} | {_pm(row.f1, row.f1_sd)} | "
            f"{delay} |"
        )
    return "\n".join(lines) + "\n"


def f1_pivot(summary: pd.DataFrame, setting: str) -> pd.DataFrame:
    """F1 per detector (rows, registry order) and scenario (columns) for one setting."""
    rows = summary[summary["setting"] == setting]
    table = rows.pivot(index="detector", columns="scenario", values="f1")
    return table.reindex(index=list(dict.fromkeys(rows["detector"])), columns=list(dict.fromkeys(rows["scenario"])))


def with_oracle_best(table: pd.DataFrame) -> pd.DataFrame:
    """An :func:`f1_pivot` table plus rows ``oracle_best`` (the best of the one-sided :data:`ORACLES` per
    scenario) and ``oracle_best_2s`` (the best two-sided one): the ceilings to quote beside every figure."""
    out = table.copy()
    for suffix in ("", TWO_SIDED_SUFFIX):
        present = [f"{name}{suffix}" for name in ORACLES if f"{name}{suffix}" in out.index]
        if present:
            out.loc[f"oracle_best{suffix}"] = out.loc[present].max(axis=0)
    return out


def pod_by_size(outbreaks: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Share of outbreaks detected per (scenario, detector) and outbreak size k (columns)."""
    rows = outbreaks[outbreaks["setting"] == setting]
    table = rows.pivot_table(index=["scenario", "detector"], columns="k", values="detected", aggfunc="mean", sort=False)
    table.columns = [f"k={k:g}" for k in table.columns]
    return table


def plot_backtest(summary: pd.DataFrame, target_far: float = 0.01) -> Any:
    """Comparison chart: F1 at defaults, F1 and POD at the matched false-alarm rate, per scenario and detector."""
    from matplotlib.figure import Figure

    scenarios = list(dict.fromkeys(summary["scenario"]))
    names = list(dict.fromkeys(summary["detector"]))
    panels = [
        ("default", "f1", "F1 at each detector's defaults"),
        ("matched_far", "f1", f"F1 at a matched false-alarm rate ({100 * target_far:g} % per day)"),
        ("matched_far", "pod", f"POD at a matched false-alarm rate ({100 * target_far:g} % per day)"),
    ]
    fig = Figure(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    width = 0.8 / len(names)
    x = np.arange(len(scenarios))
    for ax, (setting, metric, title) in zip(axes, panels, strict=True):
        rows = summary[summary["setting"] == setting].set_index(["scenario", "detector"])
        for i, name in enumerate(names):
            keys = [(sc, name) for sc in scenarios]
            values = [rows[metric].get(k, np.nan) for k in keys]
            spread = [rows[f"{metric}_sd"].get(k, np.nan) for k in keys]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, yerr=spread, capsize=2, label=name)
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x, scenarios)
    axes[0].legend(ncol=4, fontsize=8)
    return fig


def backtest_markdown(summary: pd.DataFrame, seeds: int, target_far: float) -> str:
    """The comparison as markdown: compact F1 tables, then every metric per setting."""
    lines = [
        "# Backtest: every detector on labelled outbreaks",
        "",
        f"{seeds} seed(s) per scenario; POD = share of outbreaks with an alarm on one of their days; FAR = false "
        "alarms per non-outbreak day; PPV = share of alarm days inside an outbreak; F1 = harmonic mean of POD and "
        "PPV; value ± standard deviation over seeds. Matched FAR: each detector's statistic thresholded so that "
        f"its pooled false-alarm rate is at most {100 * target_far:g} % (chosen on the same series). The oracles "
        "(simulated scenarios only) know the true baseline: `oracle` tests one day, `oracle_ewma` and "
        "`oracle_cusum` accumulate days, `_2s` test both sides, `oracle_best` is the best of them; ceilings, not "
        "deployable detectors. In `both`, `explained_flagged` is the share of driver-explained events with an "
        "alarm (lower is better).",
        "",
    ]
    titles = {"default": "at each detector's defaults", "matched_far": f"at a matched FAR of {100 * target_far:g} %"}
    for setting, title in titles.items():
        lines += [f"## F1 {title}", "", pivot_markdown(with_oracle_best(f1_pivot(summary, setting))), ""]
    for setting, title in titles.items():
        lines += [f"## All metrics {title}", "", markdown_table(summary, setting)]
    return "\n".join(lines)


def pivot_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A detector x scenario table as markdown; the best value of each column (oracle aside) in bold."""
    lines = ["| detector | " + " | ".join(map(str, table.columns)) + " |", "|---" * (len(table.columns) + 1) + "|"]
    # The oracles are ceilings, not contenders.
    best = table.loc[[name for name in table.index if not str(name).startswith(ORACLE)]].max(axis=0)
    for name, row in table.iterrows():
        cells = []
        for col, value in row.items():
            text = f"{value:.{digits}f}" if np.isfinite(value) else "-"
            cells.append(f"**{text}**" if np.isfinite(value) and value == best[col] else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
