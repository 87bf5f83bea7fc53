"""The ``hotspot`` command: run the pipeline, read its reports, explain a day, and backtest the detectors.

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

from flows.cli_render import FORMATS, format_frame, print_run, report_view
from flows.cli_runtime import (
    EARLY_SERVER,
    embedded_server_settings,
    expects_new_work,
    fast_exit,
    preload_compute_modules,
    quiet_console_tracebacks,
)
from tasks.config import PipelineConfig, SeriesConfig
from tasks.overrides import apply_overrides
from tasks.provenance import header_line
from tasks.report.explain import ExplainError, explanation, explanation_text, pick_region
from tasks.report.read import ReportNotFound, load_report, report_path
from tasks.store import ALLOWED_ROOTS_ENV, ArtifactStore, read_metadata
from tasks.text import terminal_safe, terminal_safe_lines


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


def trust_command_line_paths(args: argparse.Namespace) -> None:
    """Paths typed on the command line are the user's own: allow them for the flow's path checks.

    Flow parameters from the UI or API stay confined to the project and HOTSPOT_ALLOWED_ROOTS.
    """
    given = [getattr(args, name, None) for name in ("store", "input")]
    paths = [str(Path(p).expanduser().resolve()) for p in given if p]
    if paths:
        current = os.environ.get(ALLOWED_ROOTS_ENV, "")
        os.environ[ALLOWED_ROOTS_ENV] = os.pathsep.join([*paths, current] if current else paths)


def config_from(pairs: Sequence[str]) -> PipelineConfig:
    try:
        return apply_overrides(PipelineConfig(), parse_overrides(pairs))
    except ValueError as exc:
        raise CliError(f"bad --set: {exc}".splitlines()[0]) from exc


COLUMN_FLAGS = {"date_column": "date", "region_column": "region", "target_column": "target", "driver_column": "driver"}
"""--date-column etc.: the headers of the input files' columns (ingest.date_column, ...)."""


def run_config(args: argparse.Namespace) -> PipelineConfig:
    """The config of ``run`` and ``backfill``: --set overrides, --region as series.region, and the column flags."""
    pairs = [*args.set, *([f"series.region={args.region}"] if args.region else [])]
    pairs += [f"ingest.{field}={getattr(args, field)}" for field in COLUMN_FLAGS if getattr(args, field, None)]
    return config_from(pairs)


def add_column_flags(parser: argparse.ArgumentParser) -> None:
    """--date-column, --region-column, --target-column, --driver-column (each the same as --set ingest.X=...)."""
    for field, role in COLUMN_FLAGS.items():
        extra = " ('none': no driver, model each region on its target's own history)" if role == "driver" else ""
        parser.add_argument(
            f"--{field.replace('_', '-')}", metavar="HEADER", help=f"header of the {role} column in the input{extra}"
        )


def existing_file(path: str | None) -> str | None:
    if not path:
        return None
    source = Path(path).expanduser()
    if not source.is_file():
        raise CliError(f"input file not found: {source}")
    return str(source.resolve())


def command_run(args: argparse.Namespace) -> int:
    config = run_config(args)
    input_path = existing_file(args.input)
    EARLY_SERVER.start()  # the command line is good: from here on the run needs the API
    from flows.pipeline import hotspot_pipeline

    if expects_new_work(args.store, input_path, args.url):
        preload_compute_modules()
    EARLY_SERVER.wait()
    result = hotspot_pipeline(
        config=config,
        input_path=input_path,
        input_url=args.url,
        store_dir=args.store,
        run_date=args.run_date,
        record="experiment" if args.experiment else "auto",
        experiment=args.experiment,
    )
    print_run(result, config.extract.threshold_pct)
    return 0


def backfill_step(store: ArtifactStore, config: PipelineConfig) -> int:
    """Days between backfilled run dates: 7 for weekly data (declared, or found in the store's last scaling), else 1."""
    if config.series.frequency != "auto":
        return 7 if config.series.frequency == "weekly" else 1
    scaled = store.manifests("scale")
    return 7 if scaled and scaled[-1][1].get("outputs", {}).get("frequency") == "weekly" else 1


def command_backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise CliError(f"--end {args.end} is before --start {args.start}")
    config = run_config(args)
    step = args.step or backfill_step(ArtifactStore(args.store), config)
    days = pd.date_range(args.start, args.end, freq=f"{step}D").date
    input_path = existing_file(args.input)
    EARLY_SERVER.start()
    from flows.pipeline import hotspot_pipeline

    EARLY_SERVER.wait()
    for i, day in enumerate(days, 1):
        result = hotspot_pipeline(
            config=config, input_path=input_path, store_dir=args.store, run_date=day, backfill=True
        )
        table = load_report(ArtifactStore(result["store"]), day)
        ran = [k for k, v in result["stages"].items() if not v.startswith("skipped")]
        print(
            f"[{i}/{len(days)}] {day}: {len(table)} periods scored, {int(table['is_hotspot'].sum())} hotspots "
            f"({int(table['is_new'].sum())} new); ran: {', '.join(ran) or 'nothing'}",
            flush=True,
        )
    return 0


def command_explain(args: argparse.Namespace) -> int:
    store = ArtifactStore(args.store, experiment=args.experiment)
    report = load_report(store, args.date)
    region = pick_region(report, args.region)
    # One region's rows of the detections: the table holds every region and detector, too much to read whole.
    detections = load_report(store, args.date, "detections", filters=[("region", "==", region)])
    info = explanation(report, detections, args.day, region)
    if args.format == "json":
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(terminal_safe_lines(explanation_text(info)))
    return 0


def command_backtest(args: argparse.Namespace) -> int:
    from flows.backtest import DEFAULT_SCENARIOS

    config = config_from(args.set)
    unknown = [name for name in args.scenarios or [] if name not in DEFAULT_SCENARIOS]
    if unknown:
        raise CliError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_SCENARIOS)}")
    if args.seeds < 1:
        raise CliError(f"--seeds must be at least 1, got {args.seeds}")
    EARLY_SERVER.start()
    from flows.backtest import hotspot_backtest
    from tasks.evaluation.tables import f1_pivot

    EARLY_SERVER.wait()
    result = hotspot_backtest(
        config=config,
        seeds=args.seeds,
        scenarios=args.scenarios,
        target_far=args.target_far,
        store_dir=args.store,
        run_date=args.run_date,
    )
    summary = pd.read_parquet(result["summary"])
    print(f"\nBacktest ({result['status']}): {args.seeds} seed(s) per scenario; F1 (harmonic mean of POD and PPV):")
    for setting, title in (("default", "at each detector's defaults"), ("matched_far", "at a matched FAR")):
        pivot = f1_pivot(summary, setting)
        far = f" of {100 * args.target_far:g} %" if setting == "matched_far" else ""
        print(f"\n{title}{far}:")
        print(pivot.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"\nall metrics: {result['summary']}")
    print(f"table:       {Path(result['chart']).with_name('comparison.md')}")
    print(f"chart:       {result['chart']}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    store = ArtifactStore(args.store, experiment=args.experiment)
    table = load_report(store, args.date)
    if args.region:
        try:  # the same selection rules as the run's series.region
            wanted = SeriesConfig(region=args.region).regions(sorted(table["region"].unique()))
        except ValueError as exc:
            raise CliError(str(exc).replace("not in the data", "not in the report")) from exc
        table = table[table["region"].isin(wanted)]
    if not args.all:
        table = table[table["is_hotspot"]]
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.format == "table" and not args.wide:
        try:
            table = report_view(table, columns)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        # The first line says what the report is: store, run date, record, model, config hash, flow run.
        meta = read_metadata(report_path(store, args.date))
        day = (args.date.isoformat() if args.date else store.latest_run_date()) or None
        sys.stdout.write(terminal_safe(header_line(meta, str(store.root), day)) + "\n")
    elif columns:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise CliError(f"unknown column(s) {', '.join(missing)}; the report has: {', '.join(table.columns)}")
        table = table[columns]
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
        "--region",
        help="model and score only this region, or a comma-separated list (default: all; same as --set "
        "series.region=...)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=10 (repeatable)",
    )
    add_column_flags(run)
    run.add_argument(
        "--experiment",
        metavar="NAME",
        help="record this run as the experiment NAME (under experiments/NAME/): the daily report and latest/ "
        "stay as they are",
    )
    run.set_defaults(handler=command_run)

    back = sub.add_parser("backfill", help="run each date of a range as if it were that day")
    back.add_argument("--start", type=date.fromisoformat, required=True, help="first run date YYYY-MM-DD")
    back.add_argument("--end", type=date.fromisoformat, required=True, help="last run date YYYY-MM-DD")
    back.add_argument("--input", help="CSV or Parquet file of new data to add first")
    back.add_argument("--store", help="artifact store folder (default: the project's data/)")
    back.add_argument("--region", help="only this region, or a comma-separated list (default: all)")
    back.add_argument(
        "--step", type=int, help="days between run dates (default: 7 for weekly data, else 1)", metavar="DAYS"
    )
    back.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    add_column_flags(back)
    back.set_defaults(handler=command_backfill)

    rep = sub.add_parser("report", help="print the latest report (or one run date's)")
    rep.add_argument("--store", help="artifact store folder (default: the project's data/)")
    rep.add_argument("--date", type=date.fromisoformat, help="the report of this run date (default: latest)")
    which = rep.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every scored day")
    which.add_argument("--hotspots", action="store_true", help="only hotspot days (the default)")
    rep.add_argument("--region", help="only this region, or a comma-separated list (default: all)")
    rep.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    rep.add_argument(
        "--columns",
        metavar="A,B,...",
        help="columns to print (report columns, and band, level, agree for the table); default: a view that fits "
        "120 characters",
    )
    rep.add_argument("--wide", action="store_true", help="every column of the report (wide lines)")
    rep.add_argument("--experiment", metavar="NAME", help="read this experiment's record (default: the daily one)")
    rep.set_defaults(handler=command_report)

    why = sub.add_parser("explain", help="say why a day is (or is not) a hotspot")
    why.add_argument("day", type=date.fromisoformat, metavar="DATE", help="the day to explain, YYYY-MM-DD")
    why.add_argument("--region", help="region code (default: the only region, else the national series CN)")
    why.add_argument("--store", help="artifact store folder (default: the project's data/)")
    why.add_argument("--date", type=date.fromisoformat, help="use the report of this run date (default: latest)")
    why.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    why.add_argument("--experiment", metavar="NAME", help="explain from this experiment's record")
    why.set_defaults(handler=command_explain)

    bt = sub.add_parser("backtest", help="compare every detector on labelled outbreaks (a Prefect flow)")
    bt.add_argument("--seeds", type=int, default=20, help="series per scenario (default: 20)")
    bt.add_argument(
        "--scenarios",
        nargs="+",
        metavar="NAME",
        help="very_low low medium high very_high real weekly_very_low ... weekly_very_high (default: all)",
    )
    bt.add_argument("--target-far", type=float, default=0.01, help="matched false-alarm rate (default: 0.01)")
    bt.add_argument("--store", help="artifact store folder (default: the project's data/)")
    bt.add_argument("--run-date", type=date.fromisoformat, help="partition date YYYY-MM-DD (default: today)")
    bt.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    bt.set_defaults(handler=command_backtest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        trust_command_line_paths(args)
        quiet_console_tracebacks()
        with embedded_server_settings():
            return args.handler(args)
    except (CliError, ReportNotFound, ExplainError) as exc:
        print(f"hotspot: error: {terminal_safe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        # The CLI boundary: people and scripts get one line; developers can ask for more.
        if os.environ.get("HOTSPOT_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"hotspot: error: {type(exc).__name__}: {terminal_safe(first)}", file=sys.stderr)
        return 1


def entry() -> None:
    """The ``hotspot`` console script: :func:`main`, then a fast exit.

    The interpreter's own exit does three things in order: it runs the threading exit hooks and joins
    the threads (Prefect drains its log and event workers there), runs the atexit handlers (the
    temporary server is stopped there), then tears down every imported module one by one, which
    takes 1-2 s once TensorFlow and Great Expectations are loaded. This does the first two the same
    way, flushes the standard streams and skips the third. Every file the pipeline writes is closed
    and renamed into place before its task returns, so nothing is left unwritten.
    """
    fast_exit(main())


if __name__ == "__main__":
    entry()
