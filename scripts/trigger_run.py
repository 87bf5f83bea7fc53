"""Start a run of a deployment, wait for it to end, and say how it ended and why (what `make trigger` calls).

    python scripts/trigger_run.py hotspot-pipeline/manual --params '{"config": {"train": {"epochs": 5}}}'

Prints the run's name, id and UI page, each state it passes through, and at the end its state message; a run
that fails also prints the first and last line of each error in its log. Exit status: 0 Completed, 1 anything
else (or rejected parameters), 2 still not finished after --timeout seconds (the run goes on; the UI shows it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def failure_lines(client: Any, flow_run_id: Any, limit: int = 20) -> list[str]:
    """The error (and critical) log lines of a flow run and its tasks, oldest first."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
    from prefect.client.schemas.sorting import LogSort

    logs = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=40)),
        sort=LogSort.TIMESTAMP_ASC,
        limit=limit,
    )
    lines: list[str] = []
    for log in logs:
        # A traceback's first and last lines say what failed; the whole of it is in the UI's log.
        text = log.message.strip().splitlines() or [""]
        for line in dict.fromkeys([text[0], text[-1]]):
            if line.strip() and line not in lines:
                lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("deployment", help="<flow name>/<deployment name>")
    parser.add_argument("--params", default="{}", help="the run's parameters as a JSON object")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the end (default 3600)")
    parser.add_argument("--no-wait", action="store_true", help="start the run and return at once")
    parser.add_argument("--ui", default="", help="the UI's address, to print the run's page")
    args = parser.parse_args(argv)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as error:
        parser.error(f"PARAMS is not JSON: {error}")
    if not isinstance(params, dict):
        parser.error(f"PARAMS must be a JSON object, got {args.params!r}")

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(args.deployment)
        except ObjectNotFound:
            print(f"error: no deployment {args.deployment} on this server; run: make deploy", file=sys.stderr)
            return 1
        try:
            run = client.create_flow_run_from_deployment(deployment.id, parameters=params)
        except PrefectHTTPStatusError as error:
            detail = error.response.json().get("detail", error.response.text)
            print(f"error: the server rejected the parameters: {detail}", file=sys.stderr)
            return 1
        page = f"{args.ui}/runs/flow-run/{run.id}" if args.ui else str(run.id)
        print(f"Flow run '{run.name}' of {args.deployment} created: {page}", flush=True)
        if args.no_wait:
            return 0
        deadline, seen = time.monotonic() + args.timeout, None
        while True:
            state = client.read_flow_run(run.id).state
            if state is not None and state.name != seen:
                seen = state.name
                print(f"  {time.strftime('%H:%M:%S')} {state.name}", flush=True)
            if state is not None and state.type.value in FINAL:
                break
            if time.monotonic() > deadline:
                print(f"still {seen} after {args.timeout:.0f} s; the run goes on (see {page})", file=sys.stderr)
                return 2
            time.sleep(1)
        message = (state.message or "").strip()
        if state.is_completed():
            print(f"Flow run '{run.name}' completed: {message or 'no message'}")
            return 0
        print(f"Flow run '{run.name}' ended {state.name}: {message or 'no message'}", file=sys.stderr)
        lines = failure_lines(client, run.id)
        if lines:
            print("Its error log (first and last line of each entry; all of it in the UI):", file=sys.stderr)
            for line in lines[-12:]:
                print(f"  {line.strip()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
