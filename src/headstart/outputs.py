"""Output paths users name (`--out`): refused before any work when they cannot be written, and a write that fails
for a reason outside headstart (permissions, a full or read-only disk) reported as such, never as a bug."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headstart.errors import UsageError


def check_writable(out: str | Path, *, inside: bool = False, option: str = "--out") -> None:
    """Refuse now, before any work, an output that cannot be written: the nearest existing folder where `out` is
    written (beside it, or `inside` it) must take a new file. It is probed by creating and removing one, which also
    catches read-only mounts and immutable folders, where permission bits say nothing (and root passes them)."""
    target = Path(out).absolute()
    existing = target if inside else target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"cannot write {option} {str(out)!r}: {str(existing)!r} is a file, not a folder",
            expected=f"an {option} inside a folder you can write to",
            fix=f"choose another {option}",
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".headstart-write-check-", dir=existing)
    except OSError as err:
        err.filename = str(existing)
        raise output_error(out, err, option) from err
    os.close(fd)
    os.unlink(probe)


def output_error(path: str | Path, err: OSError, option: str = "--out") -> UsageError:
    """A write that failed for a reason outside headstart (permissions, a full or read-only disk), as a usage error."""
    reason = err.strerror or str(err) or type(err).__name__
    where = f" in {str(err.filename)!r}" if err.filename and str(err.filename) != str(path) else ""
    return UsageError(
        f"cannot write {option} {str(path)!r}: {reason}{where}",
        expected=f"an {option} in a folder you can write to, on a disk with free space",
        fix=f"choose another {option}, or fix the folder's permissions (or free some space)",
    )


@contextmanager
def writing(path: str | Path, option: str = "--out") -> Iterator[None]:
    """Turn an OSError raised while writing `path` into `output_error`: the user's disk, not a headstart bug."""
    try:
        yield
    except OSError as err:
        raise output_error(path, err, option) from err


def check_output_dir(folder: str | Path, option: str = "--out") -> None:
    """A folder headstart writes into (a study's): refuse a file at its path, and a place that cannot be written."""
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise UsageError(
            f"{option} {str(target)!r} is a file",
            expected="a folder path (created when missing)",
            fix=f"choose another {option}, or move the file away",
        )
    check_writable(target, inside=True, option=option)
