"""The artifact store: the only code that knows where anything lives.

Layout under the store root (``data/`` by default)::

    source/                              shipped input data (tracked in git, read-only)
    incoming/                            drop daily files here; they are archived and removed
    00_raw/run_date=YYYY-MM-DD/          input files exactly as received, named by content hash
    00_raw/ledger.parquet                every received file: hash, name, origin, arrival time
    01_ingest/ ... 07_report/            one numbered layer per stage, partitioned by run date
    08_backtest/run_date=YYYY-MM-DD/     the backtest flow's comparison of the detectors
    02_validate/run_date=.../data_docs/  Great Expectations Data Docs (a link switched atomically)
    04_train/registry/model_id=.../      every trained model with its scaler and model card
    07_report/latest/                    the newest run date's report: a link switched, as one set, to
                                         a complete folder under .published/ (outside the layer, so the
                                         layer holds only run_date= partitions and reads as a Hive dataset)
    08_backtest/                         detector comparison tables and chart
    alerts/alerted.parquet               every (region, date) hotspot already alerted (tasks/report/alerts.py)
    experiments/<name>/                  an experiment's own 01_ingest ... 08_backtest, .published and alerts:
                                         runs that must not change the daily record (tasks/provenance.py)

Every write goes to a temporary file in the destination folder and is moved into place
with ``os.replace``, so a reader never sees a partial file; a folder (Data Docs, ``latest/``)
is switched as a whole by :func:`publish_folder`. Re-running a date rewrites only that date's
partition. Each stage writes ``_manifest.json`` last (tasks/stage.py); it records the stage's
*fingerprint*, which lets a later run reuse the outputs instead of recomputing them. Paths in
manifests and references are relative to the store root, so a store can be copied or moved.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.folder_publish import publish_folder
from tasks.table_parts import TableParts

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = PROJECT_ROOT / "data"
SHIPPED_INPUT = DEFAULT_ROOT / "source" / "china_nhc_national_2022.csv"
SHIPPED_PROVINCES = DEFAULT_ROOT / "source" / "china_nhc_provinces_2022.csv"
SHIPPED_INPUTS = (SHIPPED_INPUT, SHIPPED_PROVINCES)
"""What an empty store starts from: the national series (region CN) and the 32 provincial units."""

STAGES = ("ingest", "validate", "scale", "train", "predict", "extract", "report")
LAYERS: dict[str, str] = (
    {"raw": "00_raw"} | {stage: f"{i:02d}_{stage}" for i, stage in enumerate(STAGES, 1)} | {"backtest": "08_backtest"}
)
"""Layer folders: the pipeline's stages in order, then the backtest flow's own layer (not a pipeline stage)."""
MANIFEST = "_manifest.json"
EXPERIMENTS = "experiments"
"""Folder (at the store root) of the experiments' records (runs that must not change the daily record)."""
EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PUBLISHED = ".published"
"""Folder (at the store root) of the complete sets that links such as ``07_report/latest`` point to."""
LEDGER_COLUMNS: dict[str, str] = {
    "seq": "int64",
    "sha256": "str",
    "name": "str",
    "origin": "str",
    "archived": "str",
    "run_date": "str",
    "arrived_at": "str",
    "bytes": "int64",
    "status": "str",
}


@dataclass(frozen=True)
class ArtifactRef:
    """A small, serialisable pointer to a written artifact (what tasks return)."""

    path: str
    sha256: str
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(**parts: Any) -> str:
    """Content hash of JSON-able parts (input hashes, config, code version)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def manifest_refs(node: Any) -> list[dict[str, Any]]:
    """Every artifact reference (a dict with path and sha256) inside a nested structure."""
    if isinstance(node, dict):
        if "path" in node and "sha256" in node:
            return [node]
        return [ref for value in node.values() for ref in manifest_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in manifest_refs(value)]
    return []


ALLOWED_ROOTS_ENV = "HOTSPOT_ALLOWED_ROOTS"


def allowed_roots() -> list[Path]:
    """Folders that path parameters may point into: the project, plus HOTSPOT_ALLOWED_ROOTS (os.pathsep-separated).

    Flow parameters can come from anyone who can trigger a deployment, so a path there must
    not reach arbitrary files on the worker's machine.
    """
    # A deployment made without ALLOWED_ROOTS by hand keeps prefect.yaml's "{{ $HOTSPOT_ALLOWED_ROOTS }}" as is.
    given = [p for p in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep) if p and not p.startswith("{{")]
    return [PROJECT_ROOT, *(Path(p).expanduser().resolve() for p in given)]


def confine(path: str | Path, roots: list[Path]) -> Path:
    """Resolve a path (following symlinks and '..') and require it to lie inside one of roots."""
    resolved = Path(path).expanduser().resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise PermissionError(
            f"path {path} resolves to {resolved}, outside the allowed folders ({shown}); "
            f"add its folder to {ALLOWED_ROOTS_ENV} to allow it (for the deployments: make deploy ALLOWED_ROOTS=DIR)"
        )
    return resolved


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MAX_NAME_CHARS = 120
"""Longest original file name kept in an archived file's name (the ledger keeps the whole name)."""


def printable_name(name: str) -> str:
    """A file name as text that can be stored and printed: undecodable bytes shown as escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def short_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """``name`` cut to at most ``limit`` characters, keeping its suffix, so that a prefix still fits a file name."""
    name = printable_name(name)
    if len(name) <= limit:
        return name
    suffix = Path(name).suffix[:16]
    return name[: limit - len(suffix)] + suffix


METADATA_KEY = b"hotspot"
"""Key of the Hotspot Miner metadata (what produced a table) in a Parquet file's schema metadata."""


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata :meth:`ArtifactStore.write_table` put into a Parquet file ({} when it has none)."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(raw.decode("utf-8")) if raw else {}


class StaleArtifact(RuntimeError):
    """A referenced file no longer has the content its reference recorded."""


class StoreBusy(RuntimeError):
    """Another run holds the store's lock (one line says which)."""


class ArtifactStore:
    """Reads and writes every artifact of a pipeline under one root folder.

    ``experiment`` names a separate record inside the same store: its layers 01-08 live under
    ``experiments/<name>/`` (so an experiment never touches the daily record's partitions or its
    ``latest/``), while the received files (00_raw, the ledger, incoming/), the model registry and the
    lock are the store's own.
    """

    def __init__(self, root: str | Path | None = None, experiment: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else DEFAULT_ROOT
        if experiment is not None and not EXPERIMENT_NAME.fullmatch(experiment):
            raise ValueError(f"experiment name {experiment!r}: use letters, digits, '-' and '_' (at most 64)")
        self.experiment = experiment
        self.base = self.root / EXPERIMENTS / experiment if experiment else self.root
        """Where this record's layers 01-08 live (the root, or the experiment's folder)."""

    def experiments(self) -> list[str]:
        """Names of the experiments recorded in this store."""
        folder = self.root / EXPERIMENTS
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # -- one run at a time ---------------------------------------------------------
    @contextmanager
    def lock(self, wait_seconds: float, holder: str) -> Iterator[None]:
        """Hold the store's run lock; wait up to wait_seconds for another run to finish, then fail.

        An OS file lock (flock): it is released when the holding process ends, even by SIGKILL,
        so a crashed run never blocks the next one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        current = path.read_text(encoding="utf-8").strip() or "unknown"
                        raise StoreBusy(
                            f"another run is using the store {self.root} ({current}); waited {wait_seconds:g} s"
                        ) from None
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.write(fd, f"{holder}, pid {os.getpid()}".encode())
            yield
        finally:
            os.close(fd)

    # -- paths -----------------------------------------------------------------
    def partition(self, layer: str, run_date: date) -> Path:
        """Folder of one layer's artifacts for one run date."""
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
        return self._layer(layer) / f"run_date={run_date.isoformat()}"

    def _layer(self, layer: str) -> Path:
        # Received files belong to the store; every computed layer to its record (daily or an experiment).
        return (self.root if layer == "raw" else self.base) / LAYERS[layer]

    def path(self, layer: str, run_date: date, name: str) -> Path:
        return self.partition(layer, run_date) / name

    def latest(self, name: str) -> Path:
        """Stable path of the newest complete report file."""
        return self._layer("report") / "latest" / name

    def data_docs(self, run_date: date) -> Path:
        """Great Expectations Data Docs site of one run date's validation (a link to the newest complete build)."""
        return self.partition("validate", run_date) / "data_docs"

    # -- atomic writes -----------------------------------------------------------
    @contextmanager
    def staged(self, target: Path) -> Iterator[Path]:
        """A temporary path beside ``target``, moved onto ``target`` atomically when the block ends without error
        (and removed either way): the one routine behind every write of the store.

        The temporary name keeps ``target``'s suffix because some writers (Keras, matplotlib)
        choose the format from it; the leading dot keeps it out of globs.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{target.suffix}")
        try:
            yield staged
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)

    def write_with(self, target: Path, writer: Callable[[Path], None]) -> Path:
        """Call ``writer(tmp_path)`` and move the result to ``target`` atomically (see :meth:`staged`)."""
        with self.staged(target) as tmp:
            writer(tmp)
        return target

    def write_table(
        self, layer: str, run_date: date, name: str, frame: pd.DataFrame, metadata: dict[str, Any] | None = None
    ) -> ArtifactRef:
        """Write ``frame`` as ``name.parquet``; ``metadata`` (JSON-able) goes into the file's schema metadata
        under the key ``hotspot`` (what :func:`read_metadata` returns)."""
        target = self.path(layer, run_date, f"{name}.parquet")
        if metadata is None:
            self.write_with(target, lambda tmp: frame.to_parquet(tmp, index=False))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            extra = {METADATA_KEY: json.dumps(metadata, sort_keys=True, default=str).encode("utf-8")}
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
            self.write_with(target, lambda tmp: pq.write_table(table, tmp))
        return ArtifactRef(self.relative(target), sha256_file(target), rows=len(frame))

    @contextmanager
    def table_parts(self, layer: str, run_date: date, name: str, empty: pd.DataFrame) -> Iterator[TableParts]:
        """Write ``name.parquet`` part by part: ``parts.write(frame)`` appends one row group, so a table larger
        than memory never has to be held whole. The file appears atomically when the block ends (``empty``, the
        table's columns, is written if no part was); ``parts.ref`` is then its reference. Reads back as the parts
        concatenated (:func:`tasks.table_parts.TableParts`)."""
        target = self.path(layer, run_date, f"{name}.parquet")
        with self.staged(target) as tmp, TableParts(tmp) as parts:
            yield parts
            parts.finish(empty)
        parts.ref = ArtifactRef(self.relative(target), sha256_file(target), rows=parts.rows)

    def write_json(self, layer: str, run_date: date, name: str, payload: Any) -> ArtifactRef:
        target = self.path(layer, run_date, f"{name}.json")
        text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
        self.write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return ArtifactRef(self.relative(target), sha256_file(target))

    def write_figure(self, layer: str, run_date: date, name: str, figure: Any, dpi: int = 110) -> ArtifactRef:
        """Save a matplotlib figure as ``name.png`` in a layer's partition (atomically)."""
        target = self.path(layer, run_date, f"{name}.png")
        self.write_with(target, lambda tmp: figure.savefig(tmp, dpi=dpi))
        return self.ref(target)

    def write_text(self, layer: str, run_date: date, filename: str, text: str) -> ArtifactRef:
        """Write a text file (markdown, ...) into a layer's partition (atomically)."""
        target = self.path(layer, run_date, filename)
        self.write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return self.ref(target)

    def write_manifest(self, layer: str, run_date: date, payload: dict[str, Any]) -> Path:
        """Write the stage's manifest; called last, so its presence means the stage finished."""
        return self.resolve(self.write_json(layer, run_date, MANIFEST.removesuffix(".json"), payload))

    def ref(self, path: Path) -> ArtifactRef:
        """A reference to a file already written into the store (hash taken now)."""
        return ArtifactRef(self.relative(path), sha256_file(path))

    def relative(self, path: Path) -> str:
        """``path`` (inside the store) as text relative to the store root: what manifests and refs record,
        so that a copied or moved store keeps working."""
        return Path(path).relative_to(self.root).as_posix()

    @property
    def incoming(self) -> Path:
        """Folder where daily files can be dropped for the next run."""
        return self.root / "incoming"

    @property
    def ledger_path(self) -> Path:
        return self.root / LAYERS["raw"] / "ledger.parquet"

    def ledger(self) -> pd.DataFrame:
        """Every file ever received, in arrival order (columns of :data:`LEDGER_COLUMNS`)."""
        if not self.ledger_path.exists():
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LEDGER_COLUMNS.items()})
        return pd.read_parquet(self.ledger_path)

    def receive(
        self, source: Path, run_date: date, origin: str, arrived_at: datetime, status: str = "accepted"
    ) -> tuple[ArtifactRef, bool]:
        """Archive an input file in the raw layer and record it in the ledger -> (archived ref, is new).

        Files are named by content hash and never modified; a file whose content was received
        before is not archived again (is new = False).
        """
        digest = sha256_file(source)
        ledger = self.ledger()
        known = ledger[ledger["sha256"] == digest]
        if len(known):
            return ArtifactRef(str(known["archived"].iloc[0]), digest), False
        target = self.path("raw", run_date, f"{digest[:16]}-{short_name(source.name)}")
        data = source.read_bytes()
        self.write_with(target, lambda tmp: tmp.write_bytes(data))
        entry = {
            "seq": len(ledger) + 1,
            "sha256": digest,
            "name": printable_name(source.name),
            "origin": origin,
            "archived": str(target.relative_to(self.root)),
            "run_date": run_date.isoformat(),
            "arrived_at": arrived_at.isoformat(timespec="seconds"),
            "bytes": len(data),
            "status": status,
        }
        updated = pd.concat([ledger, pd.DataFrame([entry])], ignore_index=True).astype(LEDGER_COLUMNS)
        self.write_with(self.ledger_path, lambda tmp: updated.to_parquet(tmp, index=False))
        return ArtifactRef(self.relative(target), digest), True

    # -- incremental recompute -------------------------------------------------------
    def manifests(self, layer: str) -> list[tuple[date, dict[str, Any]]]:
        """(run date, manifest) of every finished partition of a layer, oldest first."""
        found = []
        for path in sorted(self._layer(layer).glob(f"run_date=*/{MANIFEST}")):
            found.append((date.fromisoformat(path.parent.name.removeprefix("run_date=")), json.loads(path.read_text())))
        return found

    def reuse(self, layer: str, run_date: date, key: str, local: bool = False) -> dict[str, Any] | None:
        """Outputs of an earlier run of this stage with the same fingerprint, if still intact.

        On a hit, this run date's manifest is written pointing at those outputs, so the
        partition records what it was computed from. A referenced file that has changed
        since (its date was re-run with other inputs) is not a hit. ``local``: the outputs are
        linked into this run date's partition first (hard links, a copy where linking fails), so the
        partition holds every file itself (the report history reads as one Parquet dataset).
        """
        for day, manifest in reversed(self.manifests(layer)):
            if manifest.get("fingerprint") != key:
                continue
            refs = manifest_refs(manifest.get("outputs", {}))
            if all(self._intact(r) for r in refs):
                source = manifest.get("reused_from") or day.isoformat()
                hit = manifest | {"reused_from": source}
                if day != run_date:
                    if local:
                        hit["outputs"] = self._link_into(manifest["outputs"], self.partition(layer, run_date))
                    self.write_manifest(layer, run_date, hit)
                return hit
        return None

    def _link_into(self, node: Any, folder: Path) -> Any:
        """A copy of the nested outputs whose referenced files are linked into ``folder`` (same names)."""
        if isinstance(node, dict) and "path" in node and "sha256" in node:
            source, target = self.resolve(node), folder / Path(node["path"]).name
            if source != target:
                self.write_with(target, lambda tmp: _link_or_copy(source, tmp))
            return node | {"path": self.relative(target)}
        if isinstance(node, dict):
            return {name: self._link_into(value, folder) for name, value in node.items()}
        if isinstance(node, list):
            return [self._link_into(value, folder) for value in node]
        return node

    def _intact(self, ref: dict[str, Any]) -> bool:
        """Whether a referenced file exists in this store with the content its reference recorded."""
        try:
            path = self.resolve(ref)
        except ValueError:
            return False
        return path.is_file() and sha256_file(path) == ref["sha256"]

    @property
    def alert_path(self) -> Path:
        """The ledger of hotspots already alerted (region, date, run_date): a hotspot is alerted once."""
        return self.base / "alerts" / "alerted.parquet"

    def alert_ledger(self) -> pd.DataFrame:
        """Every (region, date) alerted so far, with the run date that alerted it."""
        if not self.alert_path.exists():
            return pd.DataFrame({"region": pd.Series(dtype="str"), "date": pd.Series(dtype="datetime64[us]"),
                                 "run_date": pd.Series(dtype="str")})  # fmt: skip
        return pd.read_parquet(self.alert_path)

    def record_alerts(self, alerted: pd.DataFrame, run_date: date) -> None:
        """Add (region, date) rows to the alert ledger (atomically; runs hold the store lock)."""
        rows = alerted.assign(run_date=run_date.isoformat()).astype({"region": "str", "run_date": "str"})
        rows["date"] = rows["date"].astype("datetime64[us]")
        updated = pd.concat([self.alert_ledger(), rows], ignore_index=True)
        self.write_with(self.alert_path, lambda tmp: updated.to_parquet(tmp, index=False))

    def registry(self, model_id: str) -> Path:
        """Folder of one registered model."""
        return self.root / LAYERS["train"] / "registry" / f"model_id={model_id}"

    def registered_models(self) -> list[dict[str, Any]]:
        """Model cards of every registered model (each has model_id, trained_run_date, ...)."""
        cards = sorted((self.root / LAYERS["train"] / "registry").glob("model_id=*/model_card.json"))
        return [json.loads(card.read_text()) for card in cards]

    def publish_latest(self, files: dict[str, Path], run_date: date) -> dict[str, Path]:
        """Make ``latest/`` the given report files, all at once (:func:`publish_folder`).

        A reader sees the old set or the new set, never a mix. Runs hold the store lock, so only one
        publisher exists at a time.
        """

        def build(folder: Path) -> None:
            folder.mkdir(parents=True)
            for name, source in files.items():
                shutil.copyfile(source, folder / name)
            (folder / MANIFEST).write_text(json.dumps({"run_date": run_date.isoformat()}) + "\n", encoding="utf-8")

        link = publish_folder(self._layer("report") / "latest", build, builds=self.base / PUBLISHED)
        return {name: link / name for name in files}

    def latest_run_date(self) -> str:
        """Run date (YYYY-MM-DD) of the report in ``latest/``, or "" when there is none."""
        path = self.latest(MANIFEST)
        return json.loads(path.read_text(encoding="utf-8"))["run_date"] if path.exists() else ""

    # -- reads -------------------------------------------------------------------
    def read_table(self, layer: str, run_date: date, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(layer, run_date, f"{name}.parquet"))

    def resolve(self, ref: dict[str, Any] | ArtifactRef) -> Path:
        """Path of an artifact handed over by an upstream task; it must lie inside this store.

        Refs hold paths relative to the store root. Stores written before that held absolute
        paths; such a path is read from this store's copy of the file (the part from its layer
        folder on), so a store that was copied or moved keeps reading its own files, never the
        original's.
        """
        raw = Path(ref.path if isinstance(ref, ArtifactRef) else ref["path"])
        # Links inside the store (data_docs, latest) stay as named: their target folder changes on rebuild.
        if not raw.is_absolute():
            path = Path(os.path.normpath(self.root / raw))
        elif raw.resolve().is_relative_to(self.root):
            path = Path(os.path.normpath(raw))
        else:
            path = self._rebased(raw)
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"artifact {raw} is outside the store {self.root}")
        return path

    def _rebased(self, path: Path) -> Path:
        """An absolute path written by this store at another location -> the same file under this root."""
        layers = set(LAYERS.values())
        for i, part in enumerate(path.parts):
            if part in layers:
                return Path(os.path.normpath(self.root.joinpath(*path.parts[i:])))
        return path

    def load_bytes(self, ref: dict[str, Any] | ArtifactRef) -> bytes:
        """Content of a referenced artifact, checked against the hash its writer recorded.

        A mismatch means the file was rewritten after the reference was made (e.g. a re-run of
        that date was interrupted): reading it would mix two runs, so it fails instead.
        """
        path = self.resolve(ref)
        data = path.read_bytes()
        self._check(path, ref, hashlib.sha256(data).hexdigest())
        return data

    def _check(self, path: Path, ref: dict[str, Any] | ArtifactRef, digest: str) -> None:
        """Fail with :class:`StaleArtifact` if ``digest`` is not the hash ``ref`` recorded for ``path``."""
        expected = ref.sha256 if isinstance(ref, ArtifactRef) else ref.get("sha256")
        if expected and digest != expected:
            raise StaleArtifact(
                f"{path} changed after its manifest was written (an interrupted run?); run that date again"
            )

    def load_table(
        self, ref: dict[str, Any] | ArtifactRef, filters: list[tuple[str, str, Any]] | None = None
    ) -> pd.DataFrame:
        """Read the Parquet table an upstream task returned a reference to (hash-checked); ``filters`` (pyarrow's
        [(column, op, value)], e.g. [("detector", "==", "forecast_ewma")]) keeps only the matching rows, and then
        the file is hashed in blocks and read from disk, so a long table is never held whole to read a slice."""
        if filters is None:
            return pd.read_parquet(io.BytesIO(self.load_bytes(ref)))
        path = self.resolve(ref)
        self._check(path, ref, sha256_file(path))  # runs hold the store's lock: nobody rewrites it meanwhile
        return pd.read_parquet(path, filters=filters)

    def copy_artifact(
        self, ref: dict[str, Any] | ArtifactRef, layer: str, run_date: date, filename: str
    ) -> ArtifactRef:
        """Copy a referenced artifact into a layer's partition as ``filename``, byte for byte and block by block
        (a long table is never held whole), checking the copied bytes against the reference's hash."""
        source = self.resolve(ref)
        target = self.path(layer, run_date, filename)
        digest = hashlib.sha256()
        with self.staged(target) as tmp:
            with source.open("rb") as reader, tmp.open("wb") as writer:
                for block in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(block)
                    writer.write(block)
            self._check(source, ref, digest.hexdigest())
        rows = ref.rows if isinstance(ref, ArtifactRef) else ref.get("rows")
        return ArtifactRef(self.relative(target), digest.hexdigest(), rows=rows)

    def load_json(self, ref: dict[str, Any] | ArtifactRef) -> Any:
        return json.loads(self.load_bytes(ref).decode("utf-8"))

    def read_json(self, layer: str, run_date: date, name: str) -> Any:
        return json.loads(self.path(layer, run_date, f"{name}.json").read_text(encoding="utf-8"))
