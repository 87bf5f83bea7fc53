"""A folder replaced in one atomic step: a symlink switched to the newest complete build.

Data Docs and the report's ``latest/`` are folders that readers open while a run may be rebuilding them; a
non-empty directory cannot be replaced atomically, a symlink can. The store decides where the folders live
(:meth:`tasks.store.ArtifactStore.publish_latest`); this module only builds, switches and sweeps.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _sweep_staged(target: Path, folder: Path) -> None:
    """Remove the staging leftovers (in ``folder``) of processes that died while building ``target``, never
    the live folder. Staged names carry the builder's pid, so a folder that another live run is still
    building is left alone."""
    live = target.resolve() if target.is_symlink() else None
    prefix = f".{target.name}."
    for path in [*folder.glob(f"{prefix}*"), *target.parent.glob(f"{prefix}*")]:
        pid = path.name.removeprefix(prefix).split(".")[0]
        if not pid.isdigit() or _alive(int(pid)) or not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink():
            path.unlink()
        elif path.resolve() != live:
            shutil.rmtree(path)


def publish_folder(target: Path, build: Callable[[Path], None], builds: Path | None = None) -> Path:
    """Build a folder with ``build(folder)`` and make ``target`` show it in one atomic step.

    A non-empty directory cannot be replaced atomically, a symlink can: ``target`` is a (relative)
    symlink to a dot-named folder holding the newest complete build, switched with ``os.replace``. A
    reader therefore sees the previous complete folder or the new one, never a half-built one; a crash
    leaves only dot-named leftovers, which the next publish sweeps. The builds live in ``builds`` (default:
    beside ``target``): ``latest/`` keeps them out of the report history's folder, so a Hive-style reader
    of that folder sees the run-date partitions only. Returns ``target``.
    """
    folder = builds or target.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_staged(target, folder)
    staged = folder / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    link = target.with_name(f"{staged.name}.link")
    try:
        build(staged)
        link.symlink_to(os.path.relpath(staged, target.parent))
        previous = target.resolve() if target.is_symlink() else None
        if target.is_dir() and not target.is_symlink():
            # A store copied with links followed (cp -L, zip) holds a real folder here: set it aside first.
            previous = target.rename(staged.with_name(f"{staged.name}.old"))
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if previous is not None and previous.exists():
        shutil.rmtree(previous)
    return target
