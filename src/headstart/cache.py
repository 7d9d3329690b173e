"""Where headstart keeps derived files (ONNX exports, weight hashes, features): one root, made on demand."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HEADSTART_CACHE"


def cache_root() -> Path:
    """`$HEADSTART_CACHE` when set, else `~/.cache/headstart` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "headstart"


def cache_dir(*parts: str) -> Path:
    """The cache sub-directory `parts` under `cache_root()`, created if missing."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
