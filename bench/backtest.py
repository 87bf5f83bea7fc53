"""The full detector backtest: every detector, every scenario, many seeds, real LSTM forecasts.

The same code as ``hotspot backtest`` / the ``hotspot-backtest`` flow (tasks.backtest.run_backtest),
without Prefect, with more seeds, printing the tables docs/methods.md quotes:

1. F1 per detector and scenario at each detector's defaults and at a matched false-alarm rate;
2. every metric (POD, FAR, PPV, F1, median delay; value ± standard deviation over seeds);
3. POD per outbreak size k (outbreak size = k x the baseline's standard deviation);
4. the issue's targets checked for the default detector (``detect.decider``).

Seeds 0 .. N-1 are the test set. The detector designs were developed on seeds 1000+ (``--first-seed
1000``); nothing was tuned on seeds 0 .. N-1.

Run: ``.venv/bin/python bench/backtest.py [--seeds 50] [--scenarios ...] [--markdown out.md]``.
About 15 minutes for 50 seeds on 2 cores (the forecaster's walk-forward dominates).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

import tasks  # noqa: F401 - environment defaults before TensorFlow starts
from tasks.config import PipelineConfig
from tasks.detectors.schema import detector_config
from tasks.evaluation.backtest import REAL, real_series, run_backtest
from tasks.evaluation.simulate import SCENARIOS
from tasks.evaluation.tables import backtest_markdown, f1_pivot, markdown_table, pod_by_size

MODERATE_AND_HIGH = ("medium", "high", "very_high")


def target_check(summary: pd.DataFrame, decider: str) -> list[str]:
    """The issue's targets for the default detector, one line each, with the numbers."""
    lines = []
    for setting in ("default", "matched_far"):
        rows = summary[summary["setting"] == setting].set_index(["scenario", "detector"])
        for scenario in dict.fromkeys(summary["scenario"]):
            mine = rows.loc[(scenario, decider)]
            c3, seed = rows.loc[(scenario, "ears_c3")], rows.loc[(scenario, "seed")]
            beats = mine["f1"] > c3["f1"] and mine["f1"] > seed["f1"]
            line = (
                f"{setting:11s} {scenario:9s} {decider}: FAR {100 * mine['far']:.2f} %, POD {mine['pod']:.2f}, "
                f"delay {mine['median_delay']:g}, F1 {mine['f1']:.3f} vs ears_c3 {c3['f1']:.3f} / seed "
                f"{seed['f1']:.3f} -> {'beats both' if beats else 'does NOT beat both'}"
            )
            if scenario in MODERATE_AND_HIGH:
                pod_ok = mine["pod"] >= 0.9 and mine["far"] <= 0.01 and mine["median_delay"] <= 1
                line += f"; POD >= 0.9 at FAR <= 1 % with delay <= 1: {'yes' if pod_ok else 'NO'}"
            lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="series per scenario (default 50)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0; 1000+ = design seeds)")
    parser.add_argument("--scenarios", nargs="+", default=[*SCENARIOS, REAL], help="scenarios (default: all)")
    parser.add_argument("--target-far", type=float, default=0.01, help="matched false-alarm rate (default 0.01)")
    parser.add_argument("--markdown", type=Path, help="also write the full markdown comparison here")
    args = parser.parse_args()

    config = PipelineConfig()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()
    result = run_backtest(
        args.scenarios,
        seeds,
        config.train,
        detector_config(config.detect, config.extract.threshold_pct),
        real_series(config.series) if REAL in args.scenarios else None,
        args.target_far,
        on_scenario=lambda name, s: print(f"  {name}: {s:.1f} s", flush=True),
        forecast=config.forecast,
    )
    outbreaks, summary = result.outbreaks, result.summary
    elapsed = time.perf_counter() - started
    pd.set_option("display.width", 200)
    print(f"\n{len(args.scenarios)} scenario(s) x {args.seeds} seed(s) (seeds {seeds.start}..{seeds.stop - 1}) "
          f"in {elapsed:.0f} s; default detector: {config.detect.decider}\n")  # fmt: skip
    for setting, title in (("default", "defaults"), ("matched_far", f"matched FAR {100 * args.target_far:g} %")):
        print(f"F1 at {title}:")
        print(f1_pivot(summary, setting).to_string(float_format=lambda v: f"{v:.3f}"), "\n")
    for setting in ("default", "matched_far"):
        print(f"All metrics ({setting}):")
        print(markdown_table(summary, setting))
    for setting in ("default", "matched_far"):
        print(f"POD by outbreak size ({setting}):")
        print(pod_by_size(outbreaks, setting).to_string(float_format=lambda v: f"{v:.2f}"), "\n")
    print("Targets:")
    print("\n".join(target_check(summary, config.detect.decider)))
    if args.markdown:
        args.markdown.write_text(backtest_markdown(summary, args.seeds, args.target_far))
        print(f"\nmarkdown: {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
