"""File permissions for what headstart writes for users (bundles, exported models)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back, under a lock)."""
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def share_like_umask(path: Path) -> None:
    """Give `path` the mode a plain `open(..., "w")` would (0o666 minus the umask).

    Some writers (safetensors, `tempfile.mkstemp`) create files readable by their owner only, so a bundle could
    not be served by another user or from a container running as another uid.
    """
    os.chmod(path, 0o666 & ~current_umask())
