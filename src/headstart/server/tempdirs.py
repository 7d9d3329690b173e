"""Temporary folders for uploads, named by their owning process, and removal of those whose process is gone.

Each request's uploads go to `<tmp>/headstart-upload-<pid>-<start>-<random>/` (`start`: the owner's start time,
so a reused pid is not mistaken for the owner). A server killed with SIGKILL cannot remove its folder; the next
server removes it at start-up, but only a folder of this user whose process no longer runs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

PREFIX = "headstart-upload-"
_OWNED = re.compile(rf"^{re.escape(PREFIX)}(\d+)-(\d+)-")
log = logging.getLogger("headstart.serve")


def _start_mark(pid: int) -> int | None:
    """The process's start time in hundredths of a second (the kernel's tick), or None when it is gone."""
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except psutil.NoSuchProcess:
        return None


@contextmanager
def upload_folder() -> Iterator[Path]:
    """A new folder for one request's files, removed when the block ends (even on error)."""
    mark = _start_mark(os.getpid())
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-{mark}-") as folder:
        yield Path(folder)


def _owner_is_gone(pid: int, mark: int) -> bool:
    try:
        return _start_mark(pid) != mark
    except psutil.Error:  # e.g. access denied: the process exists, so the folder may be in use
        return False


def clean_stale_upload_folders(root: str | Path | None = None) -> list[Path]:
    """Remove the upload folders under `root` (the temp folder) left by processes of this user that are gone.

    Folders of running processes, of other users, symlinks and folders named the older way (no owner in the
    name) are left alone. Returns the folders removed.
    """
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else None  # POSIX: only this user's folders
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for entry in entries:
        owned = _OWNED.match(entry.name)
        if owned is None:
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue
        if _owner_is_gone(int(owned.group(1)), int(owned.group(2))):
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
    if removed:
        log.info("removed %d upload folder(s) left by stopped servers", len(removed))
    return removed
