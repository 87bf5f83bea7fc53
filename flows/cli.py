"""The ``hotspot`` command: run the pipeline, read its reports, explain a day, and backtest the detectors.

Exit codes: 0 ok, 1 the pipeline or the request failed (one line on stderr says why),
2 the command line itself is wrong. Set HOTSPOT_DEBUG=1 to see the full traceback.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shlex
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import DETECTOR_NAMES, PipelineConfig, SeriesConfig, apply_overrides
from tasks.store import ALLOWED_ROOTS_ENV, ArtifactStore
from tasks.text import has_control, terminal_safe, terminal_safe_lines

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


def trust_command_line_paths(args: argparse.Namespace) -> None:
    """Paths typed on the command line are the user's own: allow them for the flow's path checks.

    Flow parameters from the UI or API stay confined to the project and HOTSPOT_ALLOWED_ROOTS.
    """
    given = [getattr(args, name, None) for name in ("store", "input")]
    paths = [str(Path(p).expanduser().resolve()) for p in given if p]
    if paths:
        current = os.environ.get(ALLOWED_ROOTS_ENV, "")
        os.environ[ALLOWED_ROOTS_ENV] = os.pathsep.join([*paths, current] if current else paths)


@contextmanager
def embedded_server_settings() -> Iterator[None]:
    """Without a Prefect server URL, runs use a temporary server that ends with this process.

    Its flow-run heartbeat (a thread joined at flow exit, ~1 s per flow) can then detect
    nothing, so it is switched off; with a real server it stays on to detect crashed runs.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


class EarlyServer:
    """Prefect's temporary API server, started while the command imports the pipeline.

    Without PREFECT_API_URL every flow run starts a temporary server (a uvicorn subprocess, about
    3 s) on its first API call. Starting it first lets the subprocess boot on the other core while
    this process imports the pipeline; :meth:`wait` must be called before the first flow call,
    since the server object counts as running before it answers.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            return
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # the instance the flow's client will use (one per process)
        launch = server._run_uvicorn_command

        def launch_guarded() -> Any:
            # Guard the server from the moment its process exists (also a restart on a taken port).
            process = launch()
            end_with_this_process(process.pid)
            return process

        server._run_uvicorn_command = launch_guarded

        def boot() -> None:
            try:
                server.start()
            except BaseException as exc:  # re-raised in the main thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=boot, name="prefect-temporary-server", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error


REAPER = """
import os, select, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    fds = [os.pidfd_open(parent), os.pidfd_open(server)]
except (OSError, AttributeError):
    sys.exit(0)
ready, _, _ = select.select(fds, [], [])
if fds[0] in ready and fds[1] not in ready:
    os.kill(server, signal.SIGTERM)
    for _ in range(50):
        time.sleep(0.1)
        if select.select([fds[1]], [], [], 0)[0]:
            sys.exit(0)
    os.kill(server, signal.SIGKILL)
"""
"""Waits for the CLI process or its server to end; if the CLI goes first (e.g. SIGKILL), ends the server."""


def end_with_this_process(server_pid: int) -> None:
    """Make sure the temporary server (a child process) ends when this process ends, however it ends.

    Prefect stops the server from an exit hook, which a SIGKILL never runs; the server would then live
    on, orphaned. A tiny watcher process in its own session (so Ctrl+C in the terminal does not stop it
    first) waits on both process ids and ends the server when this process is gone. Linux pidfds; where
    they are missing the watcher exits at once and behaviour is as before.
    """
    import subprocess

    subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", REAPER, str(os.getpid()), str(server_pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


EARLY_SERVER = EarlyServer()


def expects_new_work(store_dir: str | None, input_path: str | None, url: str | None) -> bool:
    """Will this run most likely compute (new input, files waiting in incoming/, or a store never run)?

    A guess used only to decide what to import early; a wrong guess costs time, never results.
    """
    if input_path or url:
        return True
    store = ArtifactStore(store_dir)
    waiting = store.incoming.is_dir() and any(not p.name.startswith(".") for p in store.incoming.iterdir())
    return waiting or not store.ledger_path.exists()


def preload_compute_modules() -> None:
    """Import TensorFlow/Keras and Great Expectations now, while the temporary server boots on the other core.

    A run that validates and trains imports them anyway, inside its tasks; here the import overlaps
    the server's start-up instead of following it.
    """
    import great_expectations  # noqa: F401

    from tasks import lstm

    lstm.ensure_registered()


class _NoTraceback(logging.Filter):
    """Console only: keep the log line (it names the exception and its message), drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def quiet_console_tracebacks() -> None:
    """A failing run prints one line, not a traceback, on the terminal (HOTSPOT_DEBUG=1 keeps them).

    Prefect's flow and task loggers hand each record to the API handler first and only then
    propagate it to the console handler, so the run's stored logs keep the full traceback.
    """
    if os.environ.get("HOTSPOT_DEBUG"):
        return
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # the handlers exist only once Prefect has configured logging

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(_NoTraceback())


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
    shown["date"] = shown["date"].dt.strftime("%Y-%m-%d")
    if "p_value" in shown:
        # One decimal would print every p-value below 0.05 as 0.0; two significant digits keep them apart.
        shown["p_value"] = [f"{v:.2g}" if pd.notna(v) else "NaN" for v in shown["p_value"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.1f}") + "\n"


def load_report(store: ArtifactStore, run_date: date | None = None, table: str = "report") -> pd.DataFrame:
    """The latest report, or the report of one run date (``table``: "report" or "detections")."""
    if run_date is None:
        path = store.latest(f"{table}.parquet")
        if not path.exists():
            if table != "report" and store.latest("report.parquet").exists():
                raise CliError(f"the latest report in {store.root} has no {table} table; run `hotspot run` again")
            raise CliError(f"no report in {store.root} yet; run `hotspot run` first")
        return pd.read_parquet(path)
    found = dict(store.manifests("report")).get(run_date)
    if found is None:
        days = ", ".join(day.isoformat() for day, _ in store.manifests("report")[-5:]) or "none"
        raise CliError(f"no report for run date {run_date.isoformat()} in {store.root} (latest run dates: {days})")
    if table not in found["outputs"]:
        raise CliError(f"the report of run date {run_date.isoformat()} has no {table} table; run that date again")
    return store.load_table(found["outputs"][table])


def config_from(pairs: Sequence[str]) -> PipelineConfig:
    try:
        return apply_overrides(PipelineConfig(), parse_overrides(pairs))
    except ValueError as exc:
        raise CliError(f"bad --set: {exc}".splitlines()[0]) from exc


def run_config(args: argparse.Namespace) -> PipelineConfig:
    """The config of ``run`` and ``backfill``: --set overrides, and --region as series.region."""
    return config_from([*args.set, *([f"series.region={args.region}"] if args.region else [])])


def existing_file(path: str | None) -> str | None:
    if not path:
        return None
    source = Path(path).expanduser()
    if not source.is_file():
        raise CliError(f"input file not found: {source}")
    return str(source.resolve())


RUN_COLUMNS = [
    "date", "region", "actual", "expected", "lower", "upper", "p_value", "severity", "direction", "agree",
    "predicted", "deviation_pct", "is_new", "revised",
]  # fmt: skip


def hotspot_view(table: pd.DataFrame) -> pd.DataFrame:
    """Report rows -> the columns ``run`` prints; ``agree`` = how many detectors flag the day (full list: explain)."""
    shown = table.copy()
    shown["agree"] = [f"{len([n for n in a.split(',') if n])}/{len(DETECTOR_NAMES)}" for a in shown["agreeing"]]
    return shown[RUN_COLUMNS]


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
    table = load_report(ArtifactStore(result["store"]), date.fromisoformat(result["run_date"]))
    hot = table[table["is_hotspot"]].sort_values(["date", "region"])
    decider = table["detector"].iloc[0] if len(table) else "-"
    regions = table["region"].nunique()
    print(f"\nRun date {result['run_date']}: " + ", ".join(f"{k} {v}" for k, v in result["stages"].items()))
    for note in result.get("arrivals", []):
        print(f"  received: {terminal_safe(note)}")
    where = f" in {hot['region'].nunique()} of {regions} regions" if regions > 1 else ""
    print(
        f"\nHotspots ({len(hot)} of {len(table)} scored days{where}, decided by {decider}; "
        f"the study's rule, deviation > {threshold_pct:g} %, flags {int(table['study_hotspot'].sum())})"
        + (f"; the newest {RUN_ROWS} (all: hotspot report):" if len(hot) > RUN_ROWS else ":")
    )
    print(format_frame(hotspot_view(hot.tail(RUN_ROWS)), "table"), end="")
    if len(hot):
        last = hot.iloc[-1]
        print(f"Why a day is (or is not) a hotspot: {explain_hint(last['date'], str(last['region']), regions > 1)}")
    if regions > 1:
        print(f"regions: {result['regions']}  (one row per region, most hotspots first)")
    print(f"\nreport:  {result['report']}")
    print(f"history: {result['partition']}")
    print(f"validation: {result['data_docs']}  (Great Expectations Data Docs)")
    for name, path in result["figures"].items():
        print(f"figure:  {path}  ({name})")


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
    )
    print_run(result, config.extract.threshold_pct)
    return 0


def command_backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise CliError(f"--end {args.end} is before --start {args.start}")
    config = run_config(args)
    days = pd.date_range(args.start, args.end, freq="D").date
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
            f"[{i}/{len(days)}] {day}: {len(table)} days scored, {int(table['is_hotspot'].sum())} hotspots "
            f"({int(table['is_new'].sum())} new); ran: {', '.join(ran) or 'nothing'}",
            flush=True,
        )
    return 0


def pick_region(table: pd.DataFrame, region: str | None) -> str:
    """The region asked for; without one, the only region, else the national series (CN) if present."""
    from tasks.report import PRIMARY_REGION

    regions = sorted(table["region"].unique())
    if region is not None:
        if region not in regions:
            raise CliError(f"region {region!r} is not in the report (regions: {', '.join(regions) or 'none'})")
        return region
    if len(regions) == 1:
        return regions[0]
    if PRIMARY_REGION in regions:
        return PRIMARY_REGION
    raise CliError(f"the report has several regions ({', '.join(regions[:12])} ...); choose one with --region")


def explanation(report: pd.DataFrame, detections: pd.DataFrame, day: date, region: str | None) -> dict[str, Any]:
    """The explanation of one reported day: the report row's verdict plus :func:`tasks.detectors.explain`."""
    from tasks.detectors import explain

    region = pick_region(report, region)
    when = pd.Timestamp(day)
    row = report[(report["region"] == region) & (report["date"] == when)]
    if row.empty:
        scored = report.loc[report["region"] == region, "date"]
        span = f"{scored.min():%Y-%m-%d}..{scored.max():%Y-%m-%d}" if len(scored) else "none"
        raise CliError(f"{day.isoformat()} is not a scored day of the report for {region} (scored days: {span})")
    verdict = row.iloc[0]
    rows = detections[detections["region"] == region]
    first = rows[rows["detector"] == rows["detector"].iloc[0]]
    frame = first[["date", "actual", "driver"]].sort_values("date").reset_index(drop=True)
    info = explain(rows, frame, when, primary=str(verdict["detector"]))
    study = {
        "predicted": float(verdict["predicted"]),
        "deviation_pct": None if pd.isna(verdict["deviation_pct"]) else float(verdict["deviation_pct"]),
        "study_hotspot": bool(verdict["study_hotspot"]),
    }
    return {
        "region": region,
        "is_hotspot": bool(verdict["is_hotspot"]),
        "decider": str(verdict["detector"]),
        "severity": str(verdict["severity"]),
        "study": study,
    } | info


def explanation_text(info: dict[str, Any], threshold_pct: float | None = None) -> str:
    """Plain-text rendering of :func:`explanation` for the terminal."""
    head = (
        f"HOTSPOT ({info['severity']}, {info['direction']})" if info["is_hotspot"] else "not a hotspot"
    ) + f" by {info['decider']}"
    lines = [f"{info['date']} ({info['region']}): {head}", "", info["text"], ""]
    table = pd.DataFrame(info["detectors"])

    def band(lo: float, hi: float) -> str:
        if pd.notna(lo) and pd.notna(hi):
            return f"{lo:,.0f}..{hi:,.0f}"
        return f"..{hi:,.1f}" if pd.notna(hi) else "-"

    table["band"] = [band(lo, hi) for lo, hi in zip(table["lower"], table["upper"], strict=True)]
    for column, spec in (("p_value", ".2g"), ("expected", ",.1f"), ("score", ".2f")):
        table[column] = [format(v, spec) if pd.notna(v) else "-" for v in table[column]]
    table["flags"] = ["yes" if v else "" for v in table["is_hotspot"]]
    shown = table[["detector", "expected", "band", "score", "p_value", "severity", "direction", "flags"]]
    lines.append(shown.to_string(index=False))
    study = info["study"]
    deviation = "undefined (0 cases)" if study["deviation_pct"] is None else f"{study['deviation_pct']:.1f} %"
    lines.append(
        f"\nThe study's rule: LSTM prediction {study['predicted']:,.1f}, deviation {deviation}"
        + (" -> a hotspot under the study's rule." if study["study_hotspot"] else " -> not a hotspot under it.")
    )
    notes = [f"{d['detector']}: {d['note']}" for d in info["detectors"] if d["note"]]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def command_explain(args: argparse.Namespace) -> int:
    store = ArtifactStore(args.store)
    report = load_report(store, args.date)
    detections = load_report(store, args.date, "detections")
    info = explanation(report, detections, args.day, args.region)
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
    from tasks.backtest import f1_pivot

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
    table = load_report(ArtifactStore(args.store), args.date)
    if args.region:
        try:  # the same selection rules as the run's series.region
            wanted = SeriesConfig(region=args.region).regions(sorted(table["region"].unique()))
        except ValueError as exc:
            raise CliError(str(exc).replace("not in the data", "not in the report")) from exc
        table = table[table["region"].isin(wanted)]
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
    run.set_defaults(handler=command_run)

    back = sub.add_parser("backfill", help="run each date of a range as if it were that day")
    back.add_argument("--start", type=date.fromisoformat, required=True, help="first run date YYYY-MM-DD")
    back.add_argument("--end", type=date.fromisoformat, required=True, help="last run date YYYY-MM-DD")
    back.add_argument("--input", help="CSV or Parquet file of new data to add first")
    back.add_argument("--store", help="artifact store folder (default: the project's data/)")
    back.add_argument("--region", help="only this region, or a comma-separated list (default: all)")
    back.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    back.set_defaults(handler=command_backfill)

    rep = sub.add_parser("report", help="print the latest report (or one run date's)")
    rep.add_argument("--store", help="artifact store folder (default: the project's data/)")
    rep.add_argument("--date", type=date.fromisoformat, help="the report of this run date (default: latest)")
    which = rep.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every scored day")
    which.add_argument("--hotspots", action="store_true", help="only hotspot days (the default)")
    rep.add_argument("--region", help="only this region, or a comma-separated list (default: all)")
    rep.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    rep.set_defaults(handler=command_report)

    why = sub.add_parser("explain", help="say why a day is (or is not) a hotspot")
    why.add_argument("day", type=date.fromisoformat, metavar="DATE", help="the day to explain, YYYY-MM-DD")
    why.add_argument("--region", help="region code (default: the only region, else the national series CN)")
    why.add_argument("--store", help="artifact store folder (default: the project's data/)")
    why.add_argument("--date", type=date.fromisoformat, help="use the report of this run date (default: latest)")
    why.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    why.set_defaults(handler=command_explain)

    bt = sub.add_parser("backtest", help="compare every detector on labelled outbreaks (a Prefect flow)")
    bt.add_argument("--seeds", type=int, default=20, help="series per scenario (default: 20)")
    bt.add_argument(
        "--scenarios", nargs="+", metavar="NAME", help="very_low low medium high very_high real (default: all)"
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
    except CliError as exc:
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
    code = main()
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is None:  # not CPython: exit the ordinary way
        sys.exit(code)
    shutdown_threads()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
