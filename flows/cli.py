"""The ``hotspot`` command: run the pipeline and read its reports.

Exit codes: 0 ok, 1 the pipeline or the request failed (one line on stderr says why),
2 the command line itself is wrong. Set HOTSPOT_DEBUG=1 to see the full traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import PipelineConfig, apply_overrides
from tasks.store import ArtifactStore

FORMATS = ("table", "csv", "json")


class CliError(Exception):
    """A user-facing failure with a one-line message."""


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """["train.epochs=5", "series.region=CN"] -> {"train.epochs": 5, "series.region": "CN"}.

    Values are read as JSON where they parse (numbers, true/false, null), else as text.
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key.strip()] = text
    return overrides


def format_frame(frame: pd.DataFrame, fmt: str) -> str:
    """Render a report table as an aligned table, CSV or JSON records."""
    if fmt == "csv":
        return frame.to_csv(index=False, date_format="%Y-%m-%d")
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", date_unit="s", indent=2) + "\n"
    if frame.empty:
        return "(no rows)\n"
    shown = frame.copy()
    if "note" in shown and (shown["note"] == "").all():
        shown = shown.drop(columns="note")  # an all-empty column only widens the table
    shown["date"] = shown["date"].dt.strftime("%Y-%m-%d")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.1f}") + "\n"


def load_report(store: ArtifactStore, run_date: date | None = None) -> pd.DataFrame:
    """The latest report, or the report of one run date."""
    if run_date is None:
        path = store.latest("report.parquet")
        if not path.exists():
            raise CliError(f"no report in {store.root} yet; run `hotspot run` first")
        return pd.read_parquet(path)
    found = dict(store.manifests("report")).get(run_date)
    if found is None:
        days = ", ".join(day.isoformat() for day, _ in store.manifests("report")[-5:]) or "none"
        raise CliError(f"no report for run date {run_date.isoformat()} in {store.root} (latest run dates: {days})")
    return store.load_table(found["outputs"]["report"])


def config_from(pairs: Sequence[str]) -> PipelineConfig:
    try:
        return apply_overrides(PipelineConfig(), parse_overrides(pairs))
    except ValueError as exc:
        raise CliError(f"bad --set: {exc}".splitlines()[0]) from exc


def existing_file(path: str | None) -> str | None:
    if not path:
        return None
    source = Path(path).expanduser()
    if not source.is_file():
        raise CliError(f"input file not found: {source}")
    return str(source.resolve())


def print_run(result: dict, threshold_pct: float) -> None:
    table = load_report(ArtifactStore(result["store"]), date.fromisoformat(result["run_date"]))
    hot = table[table["is_hotspot"]]
    print(f"\nRun date {result['run_date']}: " + ", ".join(f"{k} {v}" for k, v in result["stages"].items()))
    print(f"\nHotspots ({len(hot)} of {len(table)} scored days, deviation > {threshold_pct:g} %):")
    print(
        format_frame(hot[["date", "region", "actual", "predicted", "deviation_pct", "is_new", "revised"]], "table"),
        end="",
    )
    print(f"\nreport:  {result['report']}")
    print(f"history: {result['partition']}")
    for name, path in result["figures"].items():
        print(f"figure:  {path}  ({name})")


def command_run(args: argparse.Namespace) -> int:
    from flows.pipeline import hotspot_pipeline

    config = config_from(args.set)
    result = hotspot_pipeline(
        config=config,
        input_path=existing_file(args.input),
        input_url=args.url,
        store_dir=args.store,
        run_date=args.run_date,
    )
    print_run(result, config.extract.threshold_pct)
    return 0


def command_backfill(args: argparse.Namespace) -> int:
    from flows.pipeline import hotspot_pipeline

    if args.end < args.start:
        raise CliError(f"--end {args.end} is before --start {args.start}")
    config = config_from(args.set)
    days = pd.date_range(args.start, args.end, freq="D").date
    input_path = existing_file(args.input)
    for i, day in enumerate(days, 1):
        result = hotspot_pipeline(
            config=config, input_path=input_path, store_dir=args.store, run_date=day, backfill=True
        )
        table = load_report(ArtifactStore(result["store"]), day)
        ran = [k for k, v in result["stages"].items() if not v.startswith("skipped")]
        print(
            f"[{i}/{len(days)}] {day}: {len(table)} days scored, {int(table['is_hotspot'].sum())} hotspots "
            f"({int(table['is_new'].sum())} new); ran: {', '.join(ran) or 'nothing'}",
            flush=True,
        )
    return 0


def command_report(args: argparse.Namespace) -> int:
    table = load_report(ArtifactStore(args.store), args.date)
    if not args.all:
        table = table[table["is_hotspot"]]
    sys.stdout.write(format_frame(table.reset_index(drop=True), args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotspot", description="Flag hotspot days in daily epidemic counts.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline (the same flow the deployments run)")
    run.add_argument("--input", help="CSV or Parquet file of new data (an empty store starts from the shipped data)")
    run.add_argument("--url", help="http(s) URL of a CSV or Parquet file of new data")
    run.add_argument("--store", help="artifact store folder (default: the project's data/)")
    run.add_argument("--run-date", type=date.fromisoformat, help="run date YYYY-MM-DD (default: today)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=10 (repeatable)",
    )
    run.set_defaults(handler=command_run)

    back = sub.add_parser("backfill", help="run each date of a range as if it were that day")
    back.add_argument("--start", type=date.fromisoformat, required=True, help="first run date YYYY-MM-DD")
    back.add_argument("--end", type=date.fromisoformat, required=True, help="last run date YYYY-MM-DD")
    back.add_argument("--input", help="CSV or Parquet file of new data to add first")
    back.add_argument("--store", help="artifact store folder (default: the project's data/)")
    back.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    back.set_defaults(handler=command_backfill)

    rep = sub.add_parser("report", help="print the latest report (or one run date's)")
    rep.add_argument("--store", help="artifact store folder (default: the project's data/)")
    rep.add_argument("--date", type=date.fromisoformat, help="the report of this run date (default: latest)")
    which = rep.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every scored day")
    which.add_argument("--hotspots", action="store_true", help="only hotspot days (the default)")
    rep.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    rep.set_defaults(handler=command_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        print(f"hotspot: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # The CLI boundary: people and scripts get one line; developers can ask for more.
        if os.environ.get("HOTSPOT_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"hotspot: error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
