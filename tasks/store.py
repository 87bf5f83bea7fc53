"""The artifact store: the only code that knows where anything lives.

Layout under the store root (``data/`` by default)::

    source/                              shipped input data (tracked in git, read-only)
    00_raw/run_date=YYYY-MM-DD/          input files exactly as received, named by content hash
    01_ingest/ ... 07_report/            one numbered layer per stage, partitioned by run date
    07_report/latest/                    the newest complete report, replaced atomically

Every write goes to a temporary file in the destination folder and is moved into place
with ``os.replace``, so a reader never sees a partial file. Re-running a date rewrites
only that date's partition. Each stage writes ``_manifest.json`` last.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = PROJECT_ROOT / "data"
SHIPPED_INPUT = DEFAULT_ROOT / "source" / "china_nhc_national_2022.csv"

STAGES = ("ingest", "validate", "scale", "train", "predict", "extract", "report")
LAYERS: dict[str, str] = {"raw": "00_raw"} | {stage: f"{i:02d}_{stage}" for i, stage in enumerate(STAGES, 1)}
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class ArtifactRef:
    """A small, serialisable pointer to a written artifact (what tasks return)."""

    path: str
    sha256: str
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactStore:
    """Reads and writes every artifact of a pipeline under one root folder."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else DEFAULT_ROOT

    # -- paths -----------------------------------------------------------------
    def partition(self, layer: str, run_date: date) -> Path:
        """Folder of one layer's artifacts for one run date."""
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
        return self.root / LAYERS[layer] / f"run_date={run_date.isoformat()}"

    def path(self, layer: str, run_date: date, name: str) -> Path:
        return self.partition(layer, run_date) / name

    def latest(self, name: str) -> Path:
        """Stable path of the newest complete report file."""
        return self.root / LAYERS["report"] / "latest" / name

    # -- atomic writes -----------------------------------------------------------
    def write_with(self, target: Path, writer: Callable[[Path], None]) -> Path:
        """Call ``writer(tmp_path)`` and move the result to ``target`` atomically.

        The temporary name keeps ``target``'s suffix because some writers (Keras, matplotlib)
        choose the format from it; the leading dot keeps it out of globs.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{target.suffix}")
        try:
            writer(staged)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        return target

    def write_table(self, layer: str, run_date: date, name: str, frame: pd.DataFrame) -> ArtifactRef:
        target = self.path(layer, run_date, f"{name}.parquet")
        self.write_with(target, lambda tmp: frame.to_parquet(tmp, index=False))
        return ArtifactRef(str(target), sha256_file(target), rows=len(frame))

    def write_json(self, layer: str, run_date: date, name: str, payload: Any) -> ArtifactRef:
        target = self.path(layer, run_date, f"{name}.json")
        text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
        self.write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return ArtifactRef(str(target), sha256_file(target))

    def write_manifest(self, layer: str, run_date: date, payload: dict[str, Any]) -> Path:
        """Write the stage's manifest; called last, so its presence means the stage finished."""
        return Path(self.write_json(layer, run_date, MANIFEST.removesuffix(".json"), payload).path)

    def receive(self, source: Path, run_date: date) -> ArtifactRef:
        """Copy an input file into the raw layer, named by content hash; raw files are never modified."""
        digest = sha256_file(source)
        target = self.path("raw", run_date, f"{digest[:16]}-{source.name}")
        if not target.exists():
            data = source.read_bytes()
            self.write_with(target, lambda tmp: tmp.write_bytes(data))
        return ArtifactRef(str(target), digest)

    def publish_latest(self, files: dict[str, Path]) -> dict[str, Path]:
        """Copy finished report files to ``latest/`` (each replaced atomically)."""
        published = {}
        for name, source in files.items():
            data = source.read_bytes()
            published[name] = self.write_with(self.latest(name), lambda tmp, data=data: tmp.write_bytes(data))
        return published

    # -- reads -------------------------------------------------------------------
    def read_table(self, layer: str, run_date: date, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(layer, run_date, f"{name}.parquet"))

    def resolve(self, ref: dict[str, Any] | ArtifactRef) -> Path:
        """Path of an artifact handed over by an upstream task; it must lie inside this store."""
        path = Path(ref.path if isinstance(ref, ArtifactRef) else ref["path"]).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"artifact {path} is outside the store {self.root}")
        return path

    def load_table(self, ref: dict[str, Any] | ArtifactRef) -> pd.DataFrame:
        """Read the Parquet table an upstream task returned a reference to."""
        return pd.read_parquet(self.resolve(ref))

    def load_json(self, ref: dict[str, Any] | ArtifactRef) -> Any:
        return json.loads(self.resolve(ref).read_text(encoding="utf-8"))

    def read_json(self, layer: str, run_date: date, name: str) -> Any:
        return json.loads(self.path(layer, run_date, f"{name}.json").read_text(encoding="utf-8"))
