#!/usr/bin/env bash
# Operate Hotspot Miner's local Prefect server and process worker (docs/operations.md "Run it every day").
#
#   scripts/prefect-local.sh server|check|pool|deploy|worker|worker-bg|trigger|alerts|status|stop
#
# The Makefile targets of the same names call this. Everything binds to 127.0.0.1 and keeps its
# state under $PREFECT_HOME (the Makefile sets <project>/.prefect):
#   server.pid, server.log, server.db   the server, its log and its database
#   worker-<pid>.pid, worker.log        workers started by `worker` / `worker-bg`
# Settings (environment): PREFECT_HOME (required), PREFECT_PORT (4200), PREFECT_POOL
# (hotspot-process), WORKER_LIMIT (1), PARAMS (trigger's JSON, default {}), DEPLOYMENT (trigger's,
# manual), WAIT (trigger waits for the end: 1, or 0), ALLOWED_ROOTS (deploy: folders outside the project
# that path parameters may name, separated by ':'; default none), WEBHOOK_URL or ALERT_BLOCK (alerts),
# BIN (.venv/bin).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${PREFECT_HOME:?PREFECT_HOME must be set (the Makefile sets it to <project>/.prefect)}"
PORT=${PREFECT_PORT:-4200}
POOL=${PREFECT_POOL:-hotspot-process}
WORKER_LIMIT=${WORKER_LIMIT:-1}
BIN=${BIN:-$ROOT/.venv/bin}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
START_TIMEOUT=${PREFECT_START_TIMEOUT:-120}  # seconds; start-up takes 5-15 s on 2 cores
STOP_TIMEOUT=${PREFECT_STOP_TIMEOUT:-15}  # seconds after SIGTERM before SIGKILL

UI=http://127.0.0.1:$PORT
API=$UI/api
SERVER_PID=$PREFECT_HOME/server.pid  # the same file `prefect server stop` reads
SERVER_LOG=$PREFECT_HOME/server.log
WORKER_LOG=$PREFECT_HOME/worker.log

# Every prefect command below talks to this server, never to a temporary one.
export PREFECT_HOME PREFECT_API_URL=$API PREFECT_SERVER_ANALYTICS_ENABLED=false

say() { printf '%s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

healthy() {  # does a Prefect API answer on $API?
    "$BIN/python" - "$API/health" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.read().strip() == b"true" else 1)
EOF
}

# pid_is PID PATTERN: PID is a live process (not a zombie) whose command line contains PATTERN.
# The pattern check means a stale pid file never makes us signal an unrelated process.
pid_is() {
    local pid=$1 pattern=$2 state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# stop_pid PID PATTERN WHAT: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
    local pid=$1 pattern=$2 what=$3 waited=0
    pid_is "$pid" "$pattern" || return 1
    kill -TERM "$pid" 2>/dev/null || true
    while pid_is "$pid" "$pattern" && ((waited < STOP_TIMEOUT * 2)); do
        sleep 0.5
        waited=$((waited + 1))
    done
    if pid_is "$pid" "$pattern"; then
        kill -KILL "$pid" 2>/dev/null || true
        say "Killed $what (pid $pid): it did not stop within ${STOP_TIMEOUT}s."
    else
        say "Stopped $what (pid $pid)."
    fi
}

# background LOG CMD...: start CMD detached, output appended to LOG; its pid is then in $!.
# setsid: Ctrl+C in this terminal does not reach it; nohup: it outlives the terminal.
background() {
    local log=$1
    shift
    setsid nohup "$@" >>"$log" 2>&1 </dev/null &
}

server_pid() { cat "$SERVER_PID" 2>/dev/null || true; }

live_workers() {  # pids of workers started by this script that are still running
    local f pid
    for f in "$PREFECT_HOME"/worker-*.pid; do
        [[ -e $f ]] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        if pid_is "$pid" "prefect worker start"; then say "$pid"; else rm -f "$f"; fi
    done
}

port_of() {  # the --port of a running `prefect server start`
    tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | sed -n 's/.*--port \([0-9]*\).*/\1/p'
}

check() {
    healthy && return 0
    local pid
    pid=$(server_pid)
    if pid_is "$pid" "prefect server start" && [[ $(port_of "$pid") != "$PORT" ]]; then
        die "no Prefect server answers at $API; the one started by 'make server' uses port $(port_of "$pid"): add PREFECT_PORT=$(port_of "$pid")"
    fi
    die "no Prefect server answers at $API. Start one with: make server"
}

cmd_server() {
    mkdir -p "$PREFECT_HOME"
    local pid
    pid=$(server_pid)
    if pid_is "$pid" "prefect server start"; then
        [[ $(port_of "$pid") == "$PORT" ]] ||
            die "a server started from this project already runs on port $(port_of "$pid") (pid $pid); 'make stop' first, or use PREFECT_PORT=$(port_of "$pid")"
        say "A Prefect server started from this project is already running (pid $pid)."
    else
        rm -f "$SERVER_PID"
        healthy && die "something else already answers at $API; choose another port: make server PREFECT_PORT=4210"
        say "Starting a Prefect server on 127.0.0.1:$PORT (log: $SERVER_LOG) ..."
        # PREFECT_UI_API_URL: the browser UI must call this port; it defaults to 4200 otherwise.
        PREFECT_UI_API_URL=$API \
            PREFECT_SERVER_API_HOST=127.0.0.1 \
            PREFECT_SERVER_API_PORT=$PORT \
            PREFECT_SERVER_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$PREFECT_HOME/server.db" \
            background "$SERVER_LOG" "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT"
        pid=$!
        printf '%s' "$pid" >"$SERVER_PID"
    fi
    local waited=0
    until healthy; do
        if ! pid_is "$pid" "prefect server start"; then
            rm -f "$SERVER_PID"
            tail -n 15 "$SERVER_LOG" >&2 || true
            die "the Prefect server stopped during start-up (log above, full log: $SERVER_LOG)"
        fi
        ((waited < START_TIMEOUT * 2)) || die "no answer from $API/health after ${START_TIMEOUT}s (log: $SERVER_LOG); 'make stop' stops it"
        sleep 0.5
        waited=$((waited + 1))
    done
    say "Prefect server is up (pid $pid)."
    say "  UI:  $UI"
    say "  API: $API"
}

cmd_pool() {
    check
    if "$BIN/prefect" work-pool inspect "$POOL" >/dev/null 2>&1; then
        say "Work pool '$POOL' already exists."
    else
        "$BIN/prefect" work-pool create "$POOL" --type process
    fi
}

cmd_deploy() {
    check
    cd "$ROOT"
    # prefect.yaml reads PROJECT_ROOT (the pull step: the worker runs flows in this folder) and
    # HOTSPOT_ALLOWED_ROOTS (each flow run's environment) now, at deploy time; the deployment keeps both.
    # Only ALLOWED_ROOTS counts, not a HOTSPOT_ALLOWED_ROOTS that happens to be in the caller's environment.
    PROJECT_ROOT=$ROOT HOTSPOT_ALLOWED_ROOTS=${ALLOWED_ROOTS:-} "$BIN/prefect" deploy --all --no-prompt
    if [[ -n ${ALLOWED_ROOTS:-} ]]; then
        say "Path parameters may point into the project and: ${ALLOWED_ROOTS//:/, }"
    else
        say "Path parameters may point into the project only (make deploy ALLOWED_ROOTS=/srv/hotspot:/tmp allows more)."
    fi
}

# A worker stops on SIGTERM or Ctrl+C by sending itself SIGINT, which does nothing if SIGINT is ignored, as it is
# in anything started in the background by a shell (`make worker &`). So the worker starts with SIGINT reset.
worker_cmd=()
set_worker_cmd() {
    worker_cmd=(
        "$BIN/python" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'
        "$BIN/prefect" worker start --pool "$POOL" --type process --limit "$WORKER_LIMIT"
    )
}

cmd_worker() {
    check
    set_worker_cmd
    cd "$ROOT"
    say "Worker for pool '$POOL' on $API, at most $WORKER_LIMIT run(s) at a time. Ctrl+C (or make stop) stops it."
    # exec keeps this pid, so `make stop` finds the worker by the pid file.
    printf '%s' "$$" >"$PREFECT_HOME/worker-$$.pid"
    exec "${worker_cmd[@]}"
}

cmd_worker_bg() {
    check
    set_worker_cmd
    cd "$ROOT"
    local before pid waited=0
    touch "$WORKER_LOG"
    before=$(stat -c %s "$WORKER_LOG")
    background "$WORKER_LOG" "${worker_cmd[@]}"
    pid=$!
    printf '%s' "$pid" >"$PREFECT_HOME/worker-$pid.pid"
    until tail -c +"$((before + 1))" "$WORKER_LOG" | grep -q "started!"; do
        if ! pid_is "$pid" "prefect worker start"; then
            rm -f "$PREFECT_HOME/worker-$pid.pid"
            tail -c +"$((before + 1))" "$WORKER_LOG" | tail -n 15 >&2
            die "the worker stopped during start-up (log: $WORKER_LOG)"
        fi
        ((waited < 120)) || die "the worker did not report 'started' within 60s (log: $WORKER_LOG)"
        sleep 0.5
        waited=$((waited + 1))
    done
    say "Worker for pool '$POOL' running in the background (pid $pid, log: $WORKER_LOG)."
}

cmd_trigger() {
    check
    if [[ -z $(live_workers) ]]; then
        say "note: no worker started with 'make worker' or 'make worker-bg' is running;"
        say "      the run waits in the queue until one starts (Ctrl+C stops waiting here, the run stays queued)."
    fi
    local params=${PARAMS:-} wait=()
    [[ -n $params ]] || params='{}'
    [[ ${WAIT:-1} == 1 ]] || wait=(--no-wait)
    # Waits for the end and prints the state message; a failed run prints its error log too.
    "$BIN/python" "$ROOT/scripts/trigger_run.py" "hotspot-pipeline/${DEPLOYMENT:-manual}" --params "$params" \
        --ui "$UI" "${wait[@]}"
}

cmd_alerts() {
    check
    if [[ -n ${WEBHOOK_URL:-} ]]; then
        "$BIN/python" "$ROOT/scripts/setup_alerts.py" --webhook-url "$WEBHOOK_URL"
    elif [[ -n ${ALERT_BLOCK:-} ]]; then
        "$BIN/python" "$ROOT/scripts/setup_alerts.py" --block "$ALERT_BLOCK"
    else
        die "say where alerts go: make alerts WEBHOOK_URL=https://... (or ALERT_BLOCK=<block type>/<name>)"
    fi
}

cmd_status() {
    local pid
    pid=$(server_pid)
    if pid_is "$pid" "prefect server start"; then say "server: running (pid $pid)"; else say "server: not running"; fi
    if healthy; then say "API $API: answers (UI: $UI)"; else say "API $API: no answer"; fi
    local workers
    workers=$(live_workers | tr '\n' ' ')
    say "workers: ${workers:-none}"
}

cmd_stop() {
    local pid run any=0
    for pid in $(live_workers); do
        # A worker runs each flow run in a child process with its own session, which a killed worker
        # leaves behind. Stop the runs first, while the server is up to record them as Crashed.
        for run in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            stop_pid "$run" "prefect.engine" "flow run in progress; it ends as Crashed" || true
        done
        stop_pid "$pid" "prefect worker start" "worker" && any=1
        rm -f "$PREFECT_HOME/worker-$pid.pid"
    done
    pid=$(server_pid)
    if stop_pid "$pid" "prefect server start" "Prefect server"; then
        any=1
    fi
    rm -f "$SERVER_PID"
    ((any)) || say "Nothing to stop: no server or worker started from this project is running."
}

case ${1:-} in
server) cmd_server ;;
check) check ;;
pool) cmd_pool ;;
deploy) cmd_deploy ;;
worker) cmd_worker ;;
worker-bg) cmd_worker_bg ;;
trigger) cmd_trigger ;;
alerts) cmd_alerts ;;
status) cmd_status ;;
stop) cmd_stop ;;
*) die "usage: $0 server|check|pool|deploy|worker|worker-bg|trigger|alerts|status|stop" ;;
esac
