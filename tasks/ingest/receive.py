"""Receiving inputs: the explicit file, a URL, the store's incoming/ folder, and the shipped data set.

Every file received is archived in ``00_raw/`` by content hash and listed in the ledger, readable or not
(a file that cannot be read is archived as rejected, with the reason); entries of ``incoming/`` that are
not regular files inside the store are refused unread and set aside. Nothing received is lost, and no
input ever blocks a later run.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

from prefect import get_run_logger

from tasks.config import IngestConfig
from tasks.ingest.read import IngestError, IngestResult, ingest_file
from tasks.store import SHIPPED_INPUTS, ArtifactStore, short_name
from tasks.text import terminal_safe


def download(url: str, folder: Path, max_bytes: int, timeout: float) -> Path:
    """Fetch an http(s) URL into folder (size-capped, with a timeout) and return the file."""
    from urllib.parse import urlparse
    from urllib.request import urlopen

    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"}:
        raise IngestError(f"only http and https URLs are accepted, got {parsed.scheme or 'no scheme'!r}")
    name = Path(parsed.path).name or "download.csv"
    if Path(name).suffix.lower() not in {".csv", ".txt", ".parquet"}:
        name += ".csv"
    name = short_name(name)
    with urlopen(url, timeout=timeout) as response:
        data = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise IngestError(f"{url}: larger than the {max_bytes}-byte download limit")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(data)
    return target


REFUSED = ".refused"
"""Sub-folder of incoming/ where entries that are not regular files inside the store are set aside."""


def incoming_entries(store: ArtifactStore) -> tuple[list[Path], list[tuple[Path, str]]]:
    """What lies in the store's incoming/ folder -> (files to read, [(entry, why it is refused)]).

    Only regular files that really lie in the store are read: a symbolic link (which could point at any
    file the worker can read) or anything that resolves outside the store is refused without being
    opened, as are folders and special files. Dot-names are the store's own (downloads, refused).
    """
    if not store.incoming.is_dir():
        return [], []
    root = store.root.resolve()
    files, refused = [], []
    for entry in sorted(store.incoming.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            refused.append((entry, "a symbolic link (links are never followed: put the file itself in incoming/)"))
        elif not entry.is_file():
            kind = "a folder (only files directly in incoming/ are read)" if entry.is_dir() else "not a regular file"
            refused.append((entry, kind))
        elif not entry.resolve().is_relative_to(root):
            refused.append((entry, f"resolves to {entry.resolve()}, outside the store"))
        else:
            files.append(entry)
    return files, refused


def set_aside(store: ArtifactStore, entry: Path, now: datetime) -> Path:
    """Move a refused incoming/ entry (the link itself, never its target) to incoming/.refused/."""
    folder = store.incoming / REFUSED
    folder.mkdir(exist_ok=True)
    target = folder / f"{now:%Y%m%dT%H%M%S}-{entry.name}"[:200]
    os.replace(entry, target)
    return target


def read_check(path: Path, config: IngestConfig) -> IngestResult:
    """:func:`ingest_file` for a file that arrived; any failure to read it becomes an IngestError.

    A file in incoming/ that cannot be read for a reason nobody foresaw must be rejected with that
    reason like any other unreadable file (archived, named, skipped), not fail every later run.
    """
    try:
        return ingest_file(path, config)
    except IngestError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise IngestError(f"{path.name}: could not be read ({type(exc).__name__}: {first})") from exc


def _summary(result: IngestResult) -> str:
    """The arrival note's details: what the reader repaired and which columns it ignored."""
    parts = list(result.repairs)
    if result.ignored_columns:
        shown = ", ".join(result.ignored_columns[:8]) + (" ..." if len(result.ignored_columns) > 8 else "")
        parts.append(f"ignored column(s): {shown}")
    return f" ({'; '.join(parts)})" if parts else ""


def receive_inputs(
    store: ArtifactStore, run_date: date, input_path: str | None, input_url: str | None, config: IngestConfig
) -> list[str]:
    """Archive every new input (explicit file, URL, incoming folder; the shipped data for an empty store or one
    that holds only the shipped data).

    Returns log lines, one per input. A file that cannot be read at all, for whatever reason, is
    archived as rejected (nothing is lost), named, and skipped, so it never blocks a later run; an
    explicitly given file or URL that is rejected fails the run. Refused incoming/ entries (links,
    folders, special files) are set aside unread in incoming/.refused/.
    """
    logger = get_run_logger()
    now = datetime.now(UTC)
    sources: list[tuple[Path, str]] = []
    notes = []
    if input_path:
        sources.append((Path(input_path), "input"))
    if input_url:
        folder = store.incoming / ".downloads"
        sources.append(
            (download(input_url, folder, int(config.max_download_mb * 1e6), config.download_timeout_s), "url")
        )
    files, refused = incoming_entries(store)
    for entry, why in refused:
        set_aside(store, entry, now)
        note = f"incoming {terminal_safe(entry.name)}: refused, {why}; moved unread to incoming/{REFUSED}/"
        logger.warning("ingest: %s", note)
        notes.append(note)
    sources += [(path, "incoming") for path in files]
    ledger = store.ledger()
    if not sources and (ledger.empty or (ledger["origin"] == "shipped").all()):
        # A store that holds only the shipped data set also gets files added to that set later
        # (the provinces joined the national series); receiving a known file is a no-op.
        sources += [(path, "shipped") for path in SHIPPED_INPUTS]

    for path, origin in sources:
        if not path.is_file():
            raise IngestError(f"input file not found: {path}")
        try:
            result = read_check(path, config)
            rows, status, error, details = len(result.table), "accepted", None, _summary(result)
        except IngestError as exc:
            rows, status, error, details = 0, f"rejected: {exc}", exc, ""
        ref, new = store.receive(path, run_date, origin, now, status)
        if origin in {"incoming", "url"}:
            path.unlink()  # archived (or already known): nothing is lost by removing it
        shown = terminal_safe(path.name)
        note = f"{origin} {shown}: " + (f"{status}, {rows} rows{details}" if new else "already received (no-op)")
        (logger.warning if error is not None and new else logger.info)("ingest: %s -> %s", note, store.resolve(ref))
        notes.append(note)
        if error is not None and new and origin in {"input", "url"}:
            raise error
    return notes
