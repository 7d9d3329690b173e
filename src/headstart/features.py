"""FeatureStore and streaming extraction: frozen-network outputs computed once, cached on disk by content.

A *feature space* is one (backbone weights, cut, preprocessing, pooling) combination. Inside it, rows are
addressed by the content hash of the item, so a second fit on the same data, or on data sharing items,
reads features instead of recomputing them. Rows are appended in chunks (`chunk-*.npy` plus a keys file
written last, so a crash never leaves a half-visible chunk) and read back memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from headstart.backbones.base import Backbone
from headstart.cache import cache_dir
from headstart.data.dataset import Dataset, SkippedItem
from headstart.data.images import read_image
from headstart.errors import BadItemError
from headstart.progress import progress_bar

CHUNK_ROWS = 2048


def space_key(parts: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable description of a feature space."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class FeatureSpace:
    """Cached rows of one feature space: digest → feature vector."""

    def __init__(self, directory: Path, description: dict[str, Any]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        info = directory / "space.json"
        if not info.exists():
            _atomic_write_bytes(info, json.dumps(description, indent=2, default=str).encode())
        self._index: dict[str, tuple[str, int]] = {}
        self._chunks: dict[str, np.ndarray] = {}
        self._load_index()

    def _load_index(self) -> None:
        for keys_file in sorted(self.directory.glob("chunk-*.keys.json")):
            chunk = keys_file.name[: -len(".keys.json")]
            if not (self.directory / f"{chunk}.npy").exists():
                continue
            for row, digest in enumerate(json.loads(keys_file.read_text())):
                self._index.setdefault(digest, (chunk, row))

    def __contains__(self, digest: str) -> bool:
        return digest in self._index

    def __len__(self) -> int:
        return len(self._index)

    def missing(self, digests: Sequence[str]) -> list[str]:
        """Digests (deduplicated, in first-seen order) not yet in the space."""
        return [d for d in dict.fromkeys(digests) if d not in self._index]

    def append(self, digests: Sequence[str], rows: np.ndarray) -> None:
        """Store rows for digests as one new chunk (array first, keys last)."""
        if len(digests) != len(rows):
            raise ValueError("digests and rows differ in length")
        if not len(digests):
            return
        chunk = f"chunk-{uuid.uuid4().hex[:12]}"
        array_path = self.directory / f"{chunk}.npy"
        tmp = array_path.with_suffix(".npy.tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(rows, dtype=np.float32))
        os.replace(tmp, array_path)
        _atomic_write_bytes(self.directory / f"{chunk}.keys.json", json.dumps(list(digests)).encode())
        for row, digest in enumerate(digests):
            self._index.setdefault(digest, (chunk, row))

    def get(self, digests: Sequence[str]) -> np.ndarray:
        """Rows for digests, in order, gathered from memory-mapped chunks."""
        if not digests:
            return np.zeros((0, 0), dtype=np.float32)
        first = self._chunk(self._index[digests[0]][0])
        out = np.empty((len(digests), *first.shape[1:]), dtype=np.float32)
        for i, digest in enumerate(digests):
            chunk, row = self._index[digest]
            out[i] = self._chunk(chunk)[row]
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

    def append(self, digests: Sequence[str], rows: np.ndarray) -> None:
        chunk = f"mem-{len(self._chunks)}"
        self._chunks[chunk] = np.asarray(rows, dtype=np.float32)
        for row, digest in enumerate(digests):
            self._index.setdefault(digest, (chunk, row))

    def _chunk(self, name: str) -> np.ndarray:
        return self._chunks[name]


class FeatureStore:
    """Root of all feature spaces (default: `$HEADSTART_CACHE/features`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir("features")

    def space(self, description: dict[str, Any]) -> FeatureSpace:
        return FeatureSpace(self.root / space_key(description), description)


def feature_space_description(backbone: Backbone, stop: int | None = None) -> dict[str, Any]:
    """What identifies the features: weights, cut, preprocessing and pooling."""
    return {
        "backbone": backbone.name,
        "weights_sha256": backbone.weights_sha256,
        "cut": len(backbone.stages) if stop is None else stop,
        "preprocess": backbone.preprocess_config(),
        "pooled": True,
        "format": 1,
    }


@dataclass
class Extraction:
    """Features of the usable items of a dataset; `kept[i]` is the dataset index of row i."""

    features: np.ndarray
    kept: np.ndarray
    skipped: list[SkippedItem] = field(default_factory=list)
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0

    @property
    def items_per_second(self) -> float:
        return self.n_computed / self.seconds if self.seconds > 0 and self.n_computed else 0.0


def decode_item(dataset: Dataset, i: int) -> Any:
    """The decoded item: a PIL RGB image for image data, the string for texts."""
    return read_image(dataset.items[i]) if dataset.modality == "image" else dataset.items[i]


def item_digests(dataset: Dataset) -> list[str]:
    return [dataset.item_digest(i) for i in range(len(dataset))]


def extract_features(
    backbone: Backbone,
    dataset: Dataset,
    *,
    store: FeatureStore | None | bool = None,
    runner: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    on_bad: str = "skip",
    progress: bool = True,
) -> Extraction:
    """Pooled features for every usable item, computing only what the store does not hold yet.

    `store=None` uses the default on-disk store; `store=False` keeps features in memory only.
    """
    from headstart.runtime import FrozenRunner

    started = time.perf_counter()
    if store is False:
        space: FeatureSpace = MemorySpace()
    else:
        space = (store if isinstance(store, FeatureStore) else FeatureStore()).space(
            feature_space_description(backbone)
        )
    digests = item_digests(dataset)
    first_index = {d: i for i, d in reversed(list(enumerate(digests)))}
    todo = [first_index[d] for d in space.missing(digests)]
    todo_digests = {digests[i] for i in todo}
    bad: dict[str, SkippedItem] = {}
    if todo:
        run = runner or FrozenRunner(backbone, threads=threads)
        pending_digests: list[str] = []
        pending_rows: list[np.ndarray] = []
        with progress_bar(f"features {backbone.name}", total=len(todo), enabled=progress) as advance:
            for batch_idx, inputs, failures in _prepared_batches(backbone, dataset, todo, batch_size):
                for i, reason in failures:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    bad[digests[i]] = SkippedItem(dataset.ids[i], reason)
                if batch_idx:
                    pending_rows.append(np.asarray(run(inputs), dtype=np.float32))
                    pending_digests.extend(digests[i] for i in batch_idx)
                if len(pending_digests) >= CHUNK_ROWS:
                    space.append(pending_digests, np.concatenate(pending_rows))
                    pending_digests, pending_rows = [], []
                advance(len(batch_idx) + len(failures))
            if pending_digests:
                space.append(pending_digests, np.concatenate(pending_rows))
    kept = np.array([i for i, d in enumerate(digests) if d in space], dtype=np.int64)
    skipped = [SkippedItem(dataset.ids[i], bad[d].reason) for i, d in enumerate(digests) if d in bad]
    features = (
        space.get([digests[i] for i in kept]) if len(kept) else np.zeros((0, backbone.feature_dim), dtype=np.float32)
    )
    return Extraction(
        features=features,
        kept=kept,
        skipped=skipped,
        n_cached=sum(d not in todo_digests for d in digests),
        n_computed=len(todo) - len(bad),
        seconds=time.perf_counter() - started,
    )


def _prepared_batches(
    backbone: Backbone, dataset: Dataset, indices: list[int], batch_size: int
) -> Iterator[tuple[list[int], dict[str, np.ndarray], list[tuple[int, str]]]]:
    """Decode and preprocess batches on a helper thread while the caller runs the network."""

    def prepare(batch: list[int]) -> tuple[list[int], dict[str, np.ndarray], list[tuple[int, str]]]:
        ok_idx, decoded, failures = [], [], []
        for i in batch:
            try:
                decoded.append(decode_item(dataset, i))
                ok_idx.append(i)
            except BadItemError as err:
                failures.append((i, err.reason))
        inputs = backbone.preprocess(decoded) if decoded else {}
        return ok_idx, inputs, failures

    batches = iter([indices[s : s + batch_size] for s in range(0, len(indices), batch_size)])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-decode") as pool:
        in_flight = deque(pool.submit(prepare, b) for b in islice(batches, 2))
        while in_flight:
            result = in_flight.popleft().result()
            for b in islice(batches, 1):
                in_flight.append(pool.submit(prepare, b))
            yield result


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
