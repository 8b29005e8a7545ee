"""ARTIFACT_ROOT as a local folder or as an fsspec URL (``s3://bucket/lab``, ``gs://...``, ``file://...``).

The trainers read and write plain local folders. When ARTIFACT_ROOT is a URL, every worker
works in a local mirror, ``ARTIFACT_LOCAL`` (set it to the same path on every machine: the
checkpoint paths stored on runs are paths in it), and this module keeps the mirror and the
URL in step:

* before a stage runs, ``pull`` fills in its run folder (to resume from checkpoints another
  machine saved) and every checkpoint it reads (a policy's SFT parent, its reward model,
  the policy a sampling run generates from);
* while it trains, ``Pusher.maybe`` uploads what changed at most once a minute, and the stage
  pushes once more before it records its result, so the next stage finds the checkpoint.

Folders whose name starts with a dot are staging folders of an unfinished write and never
travel; a checkpoint's DONE marker is uploaded after its other files, so a copy cut short
never looks complete. With a local ARTIFACT_ROOT all of this does nothing.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

PUSH_EVERY_S = 60.0


def remote_root() -> str | None:
    root = str(settings.ARTIFACT_ROOT)
    return root.rstrip("/") if "://" in root else None


def local_root() -> Path:
    """Where models and runs are on this machine's disk."""
    return Path(settings.ARTIFACT_LOCAL)


def _remote_of(folder: Path) -> tuple[AbstractFileSystem, str] | None:
    """(filesystem, path) of the remote twin of a folder under the local root, else None."""
    remote = remote_root()
    if remote is None:
        return None
    try:
        relative = Path(folder).resolve().relative_to(local_root().resolve())
    except ValueError:
        return None  # a model name or a path outside the artifacts: nothing to mirror
    import fsspec

    fs, base = fsspec.core.url_to_fs(remote)
    return fs, f"{base.rstrip('/')}/{relative.as_posix()}" if relative.parts else base


def _travels(relative: str) -> bool:
    return not any(part.startswith(".") for part in relative.split("/"))


def _done_last(relative: str) -> tuple[bool, str]:
    return (Path(relative).name == "DONE", relative)


def _local_files(folder: Path) -> dict[str, os.stat_result]:
    found = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and _travels(relative):
            found[relative] = path.stat()
    return found


def _modified(info: dict) -> float | None:
    """A remote file's modification time in epoch seconds, whatever the backend calls it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return None


def _stale(target: Path, info: dict) -> bool:
    """Whether the local copy must be (re)downloaded: missing, another size, or older than the
    remote file (a checkpoint rewritten at the same size by a run that resumed elsewhere)."""
    if not target.is_file():
        return True
    stat = target.stat()
    modified = _modified(info)
    return stat.st_size != info["size"] or (modified is not None and modified > stat.st_mtime + 1.0)


def pull(folder: str | os.PathLike) -> bool:
    """Download the files of ``folder``'s remote twin that are missing here, differ in size or
    are newer there. Returns whether there was a remote twin to read."""
    twin = _remote_of(Path(folder))
    if twin is None:
        return False
    fs, base = twin
    if not fs.exists(base):
        return False
    folder = Path(folder)
    listing = fs.find(base, detail=True)
    for remote_path in sorted(listing, key=lambda p: _done_last(p[len(base):].lstrip("/"))):
        relative = remote_path[len(base):].lstrip("/")
        target = folder / relative
        info = listing[remote_path]
        if not _travels(relative) or not _stale(target, info):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.download")
        fs.get_file(remote_path, str(staging))
        modified = _modified(info)
        if modified is not None:  # the copy carries the remote time, so it is not fetched again
            os.utime(staging, (modified, modified))
        staging.replace(target)
    return True


def pull_spec(spec: str | None) -> None:
    """Make a checkpoint named by a model spec present here, when it is a folder of the mirror."""
    if spec and remote_root() is not None and (os.sep in spec or spec.startswith(".")):
        pull(spec)


class Pusher:
    """Mirror one local folder to its remote twin: uploads new or changed files, deletes remote
    files that are gone here (pruned checkpoints), and remembers what it sent."""

    def __init__(self, folder: str | os.PathLike, every_s: float = PUSH_EVERY_S):
        self.folder = Path(folder)
        self.every_s = every_s
        self.sent: dict[str, tuple[int, int]] = {}
        self.last = time.monotonic()

    def maybe(self) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.push()

    def push(self) -> None:
        self.last = time.monotonic()
        twin = _remote_of(self.folder)
        if twin is None or not self.folder.is_dir():
            return
        fs, base = twin
        files = _local_files(self.folder)
        for relative in sorted(files, key=_done_last):
            stat = files[relative]
            if self.sent.get(relative) == (stat.st_size, stat.st_mtime_ns):
                continue
            remote_path = f"{base}/{relative}"
            fs.makedirs(remote_path.rsplit("/", 1)[0], exist_ok=True)
            local = self.folder / relative
            fs.put_file(str(local), remote_path)
            # The local copy takes the upload's time, so a later pull here sees nothing newer.
            modified = _modified(fs.info(remote_path))
            if modified is not None:
                os.utime(local, (modified, modified))
            stat = local.stat()
            self.sent[relative] = (stat.st_size, stat.st_mtime_ns)
        if fs.exists(base):
            for remote_path in fs.find(base):
                relative = remote_path[len(base):].lstrip("/")
                if relative not in files:
                    fs.rm_file(remote_path)
                    self.sent.pop(relative, None)


def push(folder: str | os.PathLike) -> None:
    Pusher(folder).push()
