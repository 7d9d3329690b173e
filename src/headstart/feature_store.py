"""FeatureStore: frozen-network outputs computed once, cached on disk by content.

A *feature space* is one (backbone weights, cut, preprocessing, pooling) combination. Inside it, rows are
addressed by the content hash of the item, so a second fit on the same data, or on data sharing items,
reads features instead of recomputing them. Rows are appended in chunks (`chunk-*.npy` plus a keys file
written last, so a crash never leaves a half-visible chunk) and read back memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.cache import cache_dir

CHUNK_ROWS = 2048


def space_key(parts: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable description of a feature space."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class FeatureSpace:
    """Cached rows of one feature space: digest → one row (fixed shape) or a run of rows (ragged).

    Ragged entries hold variable-length activations such as a text's hidden states (tokens × width).
    """

    def __init__(self, directory: Path, description: dict[str, Any]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        info = directory / "space.json"
        if not info.exists():
            _atomic_write_bytes(info, json.dumps(description, indent=2, default=str).encode())
        self._index: dict[str, tuple[str, int, int]] = {}
        self._chunks: dict[str, np.ndarray] = {}
        self._load_index()

    def refresh(self) -> None:
        """Pick up chunks written by other processes (e.g. Ray workers) since this space was opened."""
        self._load_index()

    def _load_index(self) -> None:
        for keys_file in sorted(self.directory.glob("chunk-*.keys.json")):
            chunk = keys_file.name[: -len(".keys.json")]
            if not (self.directory / f"{chunk}.npy").exists():
                continue
            keys = json.loads(keys_file.read_text())
            digests, lengths = (keys, None) if isinstance(keys, list) else (keys["digests"], keys["lengths"])
            self._register(chunk, digests, lengths)

    def _register(self, chunk: str, digests: Sequence[str], lengths: Sequence[int] | None) -> None:
        start = 0
        for i, digest in enumerate(digests):
            length = 1 if lengths is None else int(lengths[i])
            self._index.setdefault(digest, (chunk, start, length))
            start += length

    def __contains__(self, digest: str) -> bool:
        return digest in self._index

    def __len__(self) -> int:
        return len(self._index)

    def missing(self, digests: Sequence[str]) -> list[str]:
        """Digests (deduplicated, in first-seen order) not yet in the space."""
        return [d for d in dict.fromkeys(digests) if d not in self._index]

    def append(self, digests: Sequence[str], rows: np.ndarray, lengths: Sequence[int] | None = None) -> str | None:
        """Store one new chunk (array first, keys last) and return its name; `lengths`: rows per digest if ragged."""
        expected = len(digests) if lengths is None else int(sum(lengths))
        if expected != len(rows):
            raise ValueError("rows do not match digests/lengths")
        if not len(digests):
            return None
        chunk = f"chunk-{uuid.uuid4().hex[:12]}"
        self._write_chunk(chunk, np.ascontiguousarray(rows, dtype=np.float32))
        keys: Any = list(digests) if lengths is None else {"digests": list(digests), "lengths": list(map(int, lengths))}
        self._write_keys(chunk, keys)
        self._register(chunk, digests, lengths)
        return chunk

    def _write_chunk(self, chunk: str, rows: np.ndarray) -> None:
        array_path = self.directory / f"{chunk}.npy"
        tmp = array_path.with_suffix(".npy.tmp")
        with open(tmp, "wb") as f:
            np.save(f, rows)
        os.replace(tmp, array_path)

    def _write_keys(self, chunk: str, keys: Any) -> None:
        _atomic_write_bytes(self.directory / f"{chunk}.keys.json", json.dumps(keys).encode())

    def get(self, digests: Sequence[str]) -> np.ndarray:
        """One row per digest, stacked in order, gathered from memory-mapped chunks."""
        if not digests:
            return np.zeros((0, 0), dtype=np.float32)
        first = self._chunk(self._index[digests[0]][0])
        out = np.empty((len(digests), *first.shape[1:]), dtype=np.float32)
        for i, digest in enumerate(digests):
            chunk, start, _ = self._index[digest]
            out[i] = self._chunk(chunk)[start]
        return out

    def get_ragged(self, digests: Sequence[str]) -> list[np.ndarray]:
        """The run of rows of each digest (copies, safe to keep after the store changes)."""
        out = []
        for digest in digests:
            chunk, start, length = self._index[digest]
            out.append(np.array(self._chunk(chunk)[start : start + length]))
        return out

    def _chunk(self, name: str) -> np.ndarray:
        if name not in self._chunks:
            self._chunks[name] = np.load(self.directory / f"{name}.npy", mmap_mode="r")
        return self._chunks[name]


class MemorySpace(FeatureSpace):
    """A feature space kept in memory only (prediction paths that must not write to disk)."""

    def __init__(self) -> None:
        self._index = {}
        self._chunks = {}

    def _write_chunk(self, chunk: str, rows: np.ndarray) -> None:
        self._chunks[chunk] = rows

    def _write_keys(self, chunk: str, keys: Any) -> None:
        return None


class FeatureStore:
    """Root of all feature spaces (default: `$HEADSTART_CACHE/features`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir("features")

    def space(self, description: dict[str, Any]) -> FeatureSpace:
        return FeatureSpace(self.root / space_key(description), description)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
