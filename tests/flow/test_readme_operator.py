"""The README's "Run it every day" commands, run as written, the way a new operator would.

The lines are read from the README's block marked ``operator-path``, and each runs through ``bash -c`` in the
project folder, in an environment without the suite's HOTSPOT_ALLOWED_ROOTS default and without any PREFECT_*
setting of the test session. Two things differ from an operator's machine, both outside the commands: the
server's port and PREFECT_HOME (a free port and a temporary folder, so the test never meets a real local
server), and the store folder of the custom run (the README's ``/tmp/hotspot-store`` becomes a temporary
folder under /tmp, so runs of the suite do not share it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.flow.test_server import _descendants, _free_port, _kill, run

ROOT = Path(__file__).resolve().parents[2]
README_STORE = "/tmp/hotspot-store"

pytestmark = pytest.mark.slow


def operator_commands() -> list[str]:
    """The lines of the README's fenced block that follows the ``operator-path`` marker."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- operator-path[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert found, "README.md has no block marked <!-- operator-path ... -->"
    return [line for line in found.group(1).splitlines() if line.strip() and not line.startswith("#")]


@dataclass
class Operator:
    env: dict[str, str]
    home: Path
    store: Path
    outputs: dict[str, tuple[int, str]]

    def sh(self, line: str, timeout: float = 300) -> tuple[int, str]:
        done = run(["bash", "-c", line], self.env, timeout)
        return done.returncode, done.stdout


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The README's lines up to ``make stop``, run in order; ``make stop`` (and a clean-up) at the end."""
    home = tmp_path_factory.mktemp("operator-prefect-home")
    store = tmp_path_factory.mktemp("operator") / "hotspot-store"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HOTSPOT_")) and k not in {"PROJECT_ROOT", "MAKEFLAGS", "MFLAGS"}
    }
    env |= {"PREFECT_HOME": str(home), "PREFECT_PORT": str(_free_port())}
    who = Operator(env, home, store, {})
    try:
        for line in operator_commands():
            if line == "make stop":
                break  # after the tests
            code, out = who.sh(line.replace(README_STORE, str(store)))
            who.outputs[line.split()[1]] = (code, out)
            if code != 0:
                break
        yield who
    finally:
        pids = [int(p.read_text()) for p in home.glob("*.pid") if p.read_text().strip().isdigit()]
        family = [d for pid in pids for d in _descendants(pid)]
        try:
            who.sh("make stop", timeout=90)
        finally:
            _kill([*family, *pids])


def test_the_readme_operator_path_works_as_written(operator: Operator) -> None:
    assert str(operator.store).startswith("/tmp/") and not operator.store.is_relative_to(ROOT)
    assert [c.split()[1] for c in operator_commands()] == ["server", "deploy", "worker-bg", "trigger", "stop"]
    for step, (code, out) in operator.outputs.items():
        assert code == 0, f"`make {step}` failed ({code}):\n{out[-4000:]}"
    assert set(operator.outputs) == {"server", "deploy", "worker-bg", "trigger"}

    assert "Path parameters may point into the project and: /tmp" in operator.outputs["deploy"][1]
    trigger = operator.outputs["trigger"][1]
    assert re.search(r"Flow run '[\w-]+' completed: \d+ hotspot\(s\)", trigger), trigger
    # A manual run is an experiment: its report is under experiments/, the store's daily record is untouched.
    [report] = operator.store.glob("experiments/manual-*/07_report/run_date=*/report.parquet")
    assert set(pd.read_parquet(report)["region"]) == {"CN"}
    assert not (operator.store / "07_report").exists()


def test_a_failed_run_tells_the_operator_why(operator: Operator) -> None:
    assert operator.outputs.get("worker-bg", (1, ""))[0] == 0, "the server and worker did not start"
    outside = "/var/tmp/hotspot-not-allowed"
    params = json.dumps({"store_dir": outside, "config": {"series": {"region": "CN"}}})
    code, out = operator.sh(f"make trigger PARAMS={shlex.quote(params)}", timeout=300)
    assert code != 0
    text = " ".join(out.split())
    assert re.search(r"Flow run '[\w-]+' ended Failed: ", text), out
    assert f"path {outside} resolves to {outside}, outside the allowed folders" in text
    assert "make deploy ALLOWED_ROOTS=DIR" in text
    assert not Path(outside).exists()
