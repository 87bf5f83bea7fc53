"""The one stage mechanism: fingerprint, reuse, manifest and status, for every pipeline stage.

A stage declares what it reads (store references), which settings it uses and which module holds its
code; :func:`run_stage` does the rest:

* the **fingerprint** is a hash of the inputs' content hashes, the settings, and the source of every
  project module the stage's code imports (:func:`code_closure`: found by reading the import statements,
  lazy imports inside functions included, and modules named as ``"tasks.module:attribute"`` strings that
  are imported by name, never listed by hand);
* a finished earlier partition of the same layer with the same fingerprint and intact outputs is
  **reused** (its manifest is copied into this run date's partition, the log says ``skipped (same as D)``);
* otherwise the stage's ``compute`` runs, writes its outputs through the store and returns a typed
  result; the manifest (outputs, fingerprint and what went into it) is written last, and when an earlier
  run of the stage exists the log says what changed (inputs, settings, or which code files);
* the result is a frozen dataclass (a :class:`StageResult`) of references and small values, the same
  whether computed or reused.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tasks.store import ArtifactRef, ArtifactStore, fingerprint

PROJECT_PACKAGES = ("tasks", "flows")
"""Top-level packages of the project: only their modules count as a stage's code."""
_DOTTED = re.compile(r"(?:tasks|flows)(?:\.\w+)+(?::\w+)?")


@dataclass(frozen=True)
class StageResult:
    """Base of every stage's typed result: artifact references and small JSON-able values, plus the status.

    Fields typed :class:`ArtifactRef` (or ``dict[str, ArtifactRef]``) are stored in the manifest as
    references, so a reuse checks that each file is still intact. A field marked
    ``metadata={"manifest": False}`` describes the run rather than the outputs and is not stored.
    """

    status: str = field(default="ran", kw_only=True)

    def manifest_outputs(self) -> dict[str, Any]:
        """The fields (without status) as JSON: references as dicts."""
        return {item.name: _to_json(getattr(self, item.name)) for item in _stored_fields(type(self))}

    def manifest_extra(self) -> dict[str, Any]:
        """Values a stage's manifest also carries at its top level for people and tools that read it."""
        return {}

    @classmethod
    def from_manifest(cls, outputs: Mapping[str, Any], status: str) -> StageResult:
        """Rebuild a result from :meth:`manifest_outputs` (references back to :class:`ArtifactRef`)."""
        # A field added later keeps its default when an older manifest has no value for it.
        values = {item.name: _from_json(outputs[item.name]) for item in _stored_fields(cls) if item.name in outputs}
        return cls(**values, status=status)


def _stored_fields(cls: type) -> list[dataclasses.Field]:
    """The fields a manifest keeps: all but the status and those marked ``metadata={"manifest": False}``."""
    return [f for f in dataclasses.fields(cls) if f.name != "status" and f.metadata.get("manifest", True)]


def _to_json(value: Any) -> Any:
    if isinstance(value, ArtifactRef):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"path", "sha256", "rows"}:
        return ArtifactRef(**value)
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


R = TypeVar("R", bound=StageResult)


@dataclass(frozen=True)
class Stage:
    """What a stage declares: its layer (also its name) and the module holding its code; ``local``: a reuse
    links the earlier outputs into this run date's partition instead of only pointing at them."""

    layer: str
    module: str
    local: bool = False


# -- the code closure -----------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    """Source file of a project module, or None for names outside the project or that are no module
    (``from tasks.ingest import CANONICAL_COLUMNS`` names an attribute). Found by path, without importing."""
    parts = name.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, module: str) -> set[str]:
    """Project modules named by the import statements anywhere in one file (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            found.add(origin)
            # `from tasks import lstm` imports the module tasks.lstm, not a name of tasks/__init__.py.
            found.update(f"{origin}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.fullmatch(node.value):
            # A module named in a string and imported by name later ("tasks.detectors.ears:c1", the registry's
            # lazily loaded functions) is code the stage runs too.
            found.add(node.value.partition(":")[0])
    names = set()
    for name in found:
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
        names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return {name for name in names if _module_file(name) is not None}


@cache
def code_closure(module: str) -> dict[str, str]:
    """{project-relative file: sha256 of its source} for ``module`` and every project module it imports,
    transitively (what the stage's code can run). Cached per process: source does not change under a run."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_imported(path, name) - set(seen))
    return {
        path.relative_to(ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted(seen.values())
    }


def code_digest(module: str) -> str:
    """One hash of :func:`code_closure`."""
    return fingerprint(code=code_closure(module))[:16]


# -- the stage run --------------------------------------------------------------------------------


def _settings_json(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in settings.items()}


def _input_hashes(inputs: Mapping[str, ArtifactRef | str | None]) -> dict[str, str | None]:
    return {k: (v.sha256 if isinstance(v, ArtifactRef) else v) for k, v in inputs.items()}


def _what_changed(previous: dict[str, Any] | None, parts: dict[str, Any]) -> str:
    """Why a stage recomputes, compared with its newest earlier manifest (one short phrase)."""
    if previous is None:
        return "first run of this stage in the store"
    before = previous.get("parts")
    if not before:
        return "the earlier run was written by an older version (no fingerprint parts recorded)"
    reasons = []
    changed_inputs = sorted(k for k in parts["inputs"] if before.get("inputs", {}).get(k) != parts["inputs"][k])
    if changed_inputs:
        reasons.append(f"new {', '.join(changed_inputs)}")
    if before.get("settings") != parts["settings"]:
        keys = sorted(k for k in parts["settings"] if before.get("settings", {}).get(k) != parts["settings"][k])
        reasons.append(f"settings changed ({', '.join(keys) or 'removed'})")
    old_code, new_code = before.get("code", {}), parts["code"]
    files = sorted(f for f in set(old_code) | set(new_code) if old_code.get(f) != new_code.get(f))
    if files:
        shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
        reasons.append(f"code changed ({shown})")
    return "; ".join(reasons) or "outputs of the earlier run are no longer intact"


def run_stage(
    store: ArtifactStore,
    run_date: date,
    stage: Stage,
    result_type: type[R],
    *,
    inputs: Mapping[str, ArtifactRef | str | None],
    settings: Mapping[str, Any],
    compute: Callable[[], R],
    logger: logging.Logger | logging.LoggerAdapter,
    extra: Mapping[str, Any] | None = None,
) -> R:
    """Reuse an identical earlier run of ``stage`` or ``compute`` it; write the manifest; return the result.

    Args:
        inputs: what the stage reads, as references (content hashes are fingerprinted) or plain text keys.
        settings: config sections (pydantic models) and other values the result depends on.
        compute: does the work and returns the typed result; it must write its outputs through ``store``.
        extra: small JSON-able values written into the manifest beside the outputs (e.g. a summary).
    """
    parts = {"inputs": _input_hashes(inputs), "settings": _settings_json(settings), "code": code_closure(stage.module)}
    key = fingerprint(stage=stage.layer, **parts)
    if (hit := store.reuse(stage.layer, run_date, key, local=stage.local)) is not None:
        status = f"skipped (same as {hit['reused_from']})"
        logger.info("%s: %s: same inputs, settings and code", stage.layer, status)
        return result_type.from_manifest(hit["outputs"], status)  # type: ignore[return-value]
    # The newest earlier run of the stage, this run date's own previous manifest included.
    earlier = dict(store.manifests(stage.layer))
    previous = earlier.get(run_date) or (earlier[max(earlier)] if earlier else None)
    logger.info("%s: computing (%s)", stage.layer, _what_changed(previous, parts))
    result = compute()
    manifest = {"fingerprint": key, "parts": parts, "outputs": result.manifest_outputs(), **(extra or {})}
    manifest |= result.manifest_extra()
    store.write_manifest(stage.layer, run_date, manifest)
    return result
