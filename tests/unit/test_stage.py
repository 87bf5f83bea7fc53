"""The one stage mechanism (tasks/stage.py): the code closure, the fingerprint, reuse, and what the log says."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks import stage
from tasks.stage import Stage, StageResult, code_closure, code_digest, run_stage
from tasks.store import ArtifactRef, ArtifactStore

DAY = date(2022, 9, 13)


def test_predict_s_code_includes_the_scaler_it_runs() -> None:
    # The stale-reuse bug: predict runs the scaler's inverse from tasks/scale.py, which its hand-made list missed.
    files = code_closure("tasks.predict")
    assert {"tasks/predict.py", "tasks/scale.py", "tasks/lstm.py", "tasks/lstm_model.py"} <= set(files)
    assert not any(name.startswith("tasks/report/") or name.startswith("tasks/validate/") for name in files)


def test_every_stage_s_closure_holds_its_own_module_and_the_mechanism() -> None:
    for module, own in [
        ("tasks.ingest", "tasks/ingest/read.py"),
        ("tasks.validate", "tasks/validate/rules.py"),
        ("tasks.extract", "tasks/detectors/counts.py"),
        ("tasks.report", "tasks/report/figures.py"),
        ("flows.backtest", "tasks/evaluation/simulate.py"),
    ]:
        files = code_closure(module)
        assert own in files and "tasks/stage.py" in files, module


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny project: tasks/a.py imports tasks.b (lazily, inside a function); tasks/c.py is unrelated."""
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "__init__.py").write_text("")
    (tmp_path / "tasks" / "a.py").write_text("def f():\n    from tasks.b import g\n    return g()\n")
    (tmp_path / "tasks" / "b.py").write_text("from tasks import c as _unused_name_only\n\ndef g():\n    return 1\n")
    (tmp_path / "tasks" / "c.py").write_text("X = 1\n")
    (tmp_path / "tasks" / "d.py").write_text("Y = 1\n")
    monkeypatch.setattr(stage, "ROOT", tmp_path)
    code_closure.cache_clear()
    yield tmp_path
    code_closure.cache_clear()


def test_closure_follows_imports_transitively_and_ignores_the_rest(project: Path) -> None:
    assert sorted(code_closure("tasks.a")) == ["tasks/__init__.py", "tasks/a.py", "tasks/b.py", "tasks/c.py"]
    before = code_digest("tasks.a")
    code_closure.cache_clear()
    (project / "tasks" / "d.py").write_text("Y = 2  # an unrelated module\n")
    assert code_digest("tasks.a") == before
    code_closure.cache_clear()
    (project / "tasks" / "b.py").write_text("def g():\n    return 1  # a harmless line\n")
    assert code_digest("tasks.a") != before
    # A module named in a string and imported by name later (the detector registry does this) is code too.
    (project / "tasks" / "e.py").write_text('REGISTRY = ("tasks.d:Y",)\n')
    assert "tasks/d.py" in code_closure("tasks.e")


@dataclass(frozen=True)
class Doubled(StageResult):
    table: ArtifactRef
    rows: int


def test_run_stage_reuses_identical_work_and_says_why_it_recomputes(
    project: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ArtifactStore(tmp_path / "store")
    source = store.write_table("ingest", DAY, "canonical", pd.DataFrame({"x": [1, 2]}))
    calls: list[int] = []
    logger = logging.getLogger("test-stage")

    def run(day: date, factor: int) -> Doubled:
        def compute() -> Doubled:
            calls.append(factor)
            frame = store.load_table(source).assign(x=lambda f: f["x"] * factor)
            return Doubled(table=store.write_table("scale", day, "doubled", frame), rows=len(frame))

        return run_stage(
            store, day, Stage("scale", "tasks.a"), Doubled,
            inputs={"canonical": source}, settings={"factor": factor}, compute=compute, logger=logger,
        )  # fmt: skip

    with caplog.at_level(logging.INFO, logger="test-stage"):
        first = run(DAY, 2)
        assert first.status == "ran" and first.rows == 2 and calls == [2]
        again = run(date(2022, 9, 14), 2)
        assert again == Doubled(table=first.table, rows=2, status="skipped (same as 2022-09-13)")
        assert calls == [2]
        run(date(2022, 9, 15), 3)
        assert "scale: computing (settings changed (factor))" in caplog.text
        code_closure.cache_clear()
        (project / "tasks" / "b.py").write_text("from tasks import c as _unused_name_only\n\ndef g():\n    return 2\n")
        run(date(2022, 9, 16), 3)
        assert calls == [2, 3, 3]
        assert "scale: computing (code changed (tasks/b.py))" in caplog.text
    manifest = store.read_json("scale", date(2022, 9, 16), "_manifest")
    assert set(manifest["parts"]) == {"inputs", "settings", "code"} and manifest["outputs"]["rows"] == 2
