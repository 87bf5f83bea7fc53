"""The national series' cold run of two checkouts, interleaved in one session (issue 16's "no regression").

Each checkout is a project folder with its own ``.venv`` (``make .venv/.installed`` there; for an older commit:
``git worktree add DIR COMMIT``, then copy or install). Every repeat runs ``hotspot run`` on the shipped national
series into a new store with Prefect's temporary server, once per checkout, alternating which goes first, so a
machine that speeds up or slows down during the session affects both alike. Prints each pair and the medians.

Run: ``.venv/bin/python bench/cold_side_by_side.py OTHER_CHECKOUT [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cold_run(root: Path, store: Path, env: dict[str, str]) -> float:
    """Wall seconds of one cold ``hotspot run`` of the national series with the checkout at ``root``."""
    source = root / "data" / "source" / "china_nhc_national_2022.csv"
    command = [str(root / ".venv" / "bin" / "hotspot"), "run", "--run-date", "2026-11-27", "--input", str(source)]
    start = time.perf_counter()
    done = subprocess.run([*command, "--store", str(store)], env=env, capture_output=True, text=True, cwd=root)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{root}: hotspot run failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (a project folder with its own .venv)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    roots = {"this": ROOT, "other": args.other.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "HOTSPOT_ALLOWED_ROOTS": tmp}
        for name, root in roots.items():  # warm-up: Prefect's database is created once, outside the figures
            cold_run(root, Path(tmp) / f"{name}-warm", env)
        seconds: dict[str, list[float]] = {name: [] for name in roots}
        for i in range(args.repeats):
            order = list(roots) if i % 2 == 0 else list(roots)[::-1]
            for name in order:
                seconds[name].append(cold_run(roots[name], Path(tmp) / f"{name}-{i}", env))
            print(f"repeat {i + 1}/{args.repeats}: " + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in roots))
    for name, values in seconds.items():
        print(f"{name} ({roots[name]}): median {statistics.median(values):.2f} s, {min(values):.2f}-{max(values):.2f}")
    ratio = statistics.median(seconds["this"]) / statistics.median(seconds["other"])
    print(f"this / other (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
