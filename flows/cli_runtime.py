"""Prefect process tuning for CLI runs: the temporary server started early and ended with the process,
quiet console tracebacks, and a fast exit.

None of this changes what a run computes; it changes how long a command takes and what is left
behind. The deployments (a worker with a real server) do not use it.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tasks.store import ArtifactStore


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

    from tasks import lstm_model

    lstm_model.ensure_registered()


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


def fast_exit(code: int) -> None:
    """End the process with ``code`` the quick way (see :func:`flows.cli.entry` for why it is safe)."""
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is None:  # not CPython: exit the ordinary way
        sys.exit(code)
    shutdown_threads()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
