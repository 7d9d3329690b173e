"""Content hashes of files and images (what fingerprints, feature caches and bundles key on)."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


def image_sha256(path: str | Path) -> str:
    """`file_sha256` of an image, remembered per process while the file's size and mtime are unchanged.

    A fit hashes each image for the feature cache, the fingerprint and the tracked run: this reads it once.
    """
    st = os.stat(path)
    return _stat_keyed_sha256(os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=1 << 17)
def _stat_keyed_sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    return file_sha256(path)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
