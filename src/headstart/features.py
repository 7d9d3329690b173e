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

from headstart.augment import AugmentSpec, augment_image, view_rng
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
    """Features of the usable items of a dataset; `kept[i]` is the dataset index of row i.

    `n_computed` counts network passes (distinct items); `n_cached` the kept items served without one
    (from earlier runs, or repeats of an item within this dataset), so the two add up to `len(kept)`.
    """

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
    return decode_raw(dataset.modality, dataset.items[i])


def decode_raw(modality: str, item: str) -> Any:
    """Decode one raw item (an image path or a text) as `decode_item` does; raises BadItemError."""
    return read_image(item) if modality == "image" else item


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
    stop: int | None = None,
) -> Extraction:
    """Pooled features for every usable item, computing only what the store does not hold yet.

    `store=None` uses the default on-disk store; `store=False` keeps features in memory only.
    `stop` pools after stages[0:stop] (an intermediate cut); None means after the last stage.
    """
    from headstart.engines import ExtractJob, current_engine

    started = time.perf_counter()
    if store is False:
        space: FeatureSpace = MemorySpace()
    else:
        space = (store if isinstance(store, FeatureStore) else FeatureStore()).space(
            feature_space_description(backbone, stop)
        )
    digests = item_digests(dataset)
    first_index = {d: i for i, d in reversed(list(enumerate(digests)))}
    todo = [first_index[d] for d in space.missing(digests)]
    bad: dict[str, SkippedItem] = {}
    if todo:
        job = ExtractJob(backbone, dataset, todo, digests, space, stop, batch_size, threads, on_bad, runner)
        failed = current_engine().extract(job, progress=progress)  # local by default; see headstart.engines
        bad = {d: SkippedItem(dataset.ids[first_index[d]], reason) for d, reason in failed.items()}
    kept = np.array([i for i, d in enumerate(digests) if d in space], dtype=np.int64)
    skipped = [SkippedItem(dataset.ids[i], bad[d].reason) for i, d in enumerate(digests) if d in bad]
    features = (
        space.get([digests[i] for i in kept]) if len(kept) else np.zeros((0, backbone.feature_dim), dtype=np.float32)
    )
    return Extraction(
        features=features,
        kept=kept,
        skipped=skipped,
        n_cached=len(kept) - (len(todo) - len(bad)),  # every kept item not computed now (repeats included)
        n_computed=len(todo) - len(bad),
        seconds=time.perf_counter() - started,
    )


def extract_features_at_cuts(
    backbone: Backbone,
    dataset: Dataset,
    stops: Sequence[int],
    *,
    store: FeatureStore | None | bool = None,
    batch_size: int = 32,
    threads: int | None = None,
    on_bad: str = "skip",
    progress: bool = True,
) -> dict[int, Extraction]:
    """Pooled features at several cuts, computed in ONE forward pass per item (`MultiCutRunner`).

    Rows go to the same feature spaces as `extract_features(..., stop=cut)`, so either reads what the other
    wrote (`store=False`: in memory only). Only items missing from some requested cut are run, and only the
    cuts that miss them are stored. Each cut's `seconds` is an equal share of the shared pass (they add up to
    the total). A non-local engine (e.g. Ray) extracts cut by cut through `extract_features`.
    """
    from headstart.engines import current_engine
    from headstart.runtime import FrozenRunner, MultiCutRunner

    stops = sorted({len(backbone.stages) if s is None else int(s) for s in stops})
    if current_engine().name != "local":
        options = {"batch_size": batch_size, "threads": threads, "on_bad": on_bad, "progress": progress}
        return {s: extract_features(backbone, dataset, store=store, stop=s, **options) for s in stops}
    started = time.perf_counter()
    if store is False:
        spaces: dict[int, FeatureSpace] = {s: MemorySpace() for s in stops}
    else:
        root = store if isinstance(store, FeatureStore) else FeatureStore()
        spaces = {s: root.space(feature_space_description(backbone, s)) for s in stops}
    digests = item_digests(dataset)
    first_index = {d: i for i, d in reversed(list(enumerate(digests)))}
    missing = {s: set(space.missing(digests)) for s, space in spaces.items()}
    needed = [s for s in stops if missing[s]]
    todo = [first_index[d] for d in dict.fromkeys(d for d in digests if any(d in missing[s] for s in needed))]
    bad: dict[str, str] = {}
    if todo:
        if len(needed) == 1:
            single = FrozenRunner(backbone, stop=needed[0], pooled=True, threads=threads)

            def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
                return [np.asarray(single(inputs), dtype=np.float32)]
        else:
            multi = MultiCutRunner(backbone, needed, threads=threads)

            def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
                return multi.split(np.asarray(multi(inputs), dtype=np.float32))

        label = f"features {backbone.name} at {len(needed)} cut(s)"
        with progress_bar(label, total=len(todo), enabled=progress) as advance:
            for ok, inputs, failures in _prepared_batches(backbone, dataset, [(i, 0) for i in todo], batch_size):
                for i, reason in failures:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    bad[digests[i]] = reason
                if ok:
                    batch = [digests[i] for i, _ in ok]
                    for s, rows in zip(needed, run(inputs), strict=True):
                        keep = [j for j, d in enumerate(batch) if d in missing[s]]
                        spaces[s].append([batch[j] for j in keep], rows[keep])
                advance(len(ok) + len(failures))
    share = (time.perf_counter() - started) / len(stops)
    out: dict[int, Extraction] = {}
    for s in stops:
        space = spaces[s]
        kept = np.array([i for i, d in enumerate(digests) if d in space], dtype=np.int64)
        features = space.get([digests[i] for i in kept]) if len(kept) else np.zeros((0, 0), dtype=np.float32)
        computed = len(missing[s]) - sum(1 for d in bad if d in missing[s])
        out[s] = Extraction(
            features=features,
            kept=kept,
            skipped=[SkippedItem(dataset.ids[i], bad[d]) for i, d in enumerate(digests) if d in bad],
            n_cached=len(kept) - computed,
            n_computed=computed,
            seconds=share,
        )
    return out


Job = tuple[int, int]  # (dataset index, view number)
Transform = Callable[[Any, int, int], Any]  # (decoded item, dataset index, view) -> transformed item


def _prepared_batches(
    backbone: Backbone,
    dataset: Dataset,
    jobs: list[Job],
    batch_size: int,
    transform: Transform | None = None,
) -> Iterator[tuple[list[Job], dict[str, np.ndarray], list[tuple[int, str]]]]:
    """Decode, transform and preprocess batches on a helper thread while the caller runs the network."""

    def prepare(batch: list[Job]) -> tuple[list[Job], dict[str, np.ndarray], list[tuple[int, str]]]:
        ok, decoded, failures = [], [], []
        for i, view in batch:
            try:
                item = decode_item(dataset, i)
            except BadItemError as err:
                failures.append((i, err.reason))
                continue
            decoded.append(transform(item, i, view) if transform else item)
            ok.append((i, view))
        inputs = backbone.preprocess(decoded) if decoded else {}
        return ok, inputs, failures

    batches = iter([jobs[s : s + batch_size] for s in range(0, len(jobs), batch_size)])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-decode") as pool:
        in_flight = deque(pool.submit(prepare, b) for b in islice(batches, 2))
        while in_flight:
            result = in_flight.popleft().result()
            for b in islice(batches, 1):
                in_flight.append(pool.submit(prepare, b))
            yield result


def iter_batches(
    backbone: Backbone, dataset: Dataset, batch_size: int = 32
) -> Iterator[tuple[list[int], dict[str, np.ndarray], list[tuple[int, str]]]]:
    """(dataset indices, preprocessed inputs, failures) for every item, in order (prediction paths)."""
    jobs = [(i, 0) for i in range(len(dataset))]
    for ok, inputs, failures in _prepared_batches(backbone, dataset, jobs, batch_size):
        yield [i for i, _ in ok], inputs, failures


@dataclass
class Activations:
    """Unpooled activations at a cut: `values[k][v]` is view v of kept item k (dataset index kept[k])."""

    values: list[list[np.ndarray]]
    kept: np.ndarray
    skipped: list[SkippedItem] = field(default_factory=list)
    n_cached: int = 0
    n_computed: int = 0


def split_ragged(
    activation: np.ndarray, inputs: dict[str, np.ndarray], modality: str
) -> tuple[np.ndarray, list[int] | None]:
    """Rows to store for a batch: texts keep only their real tokens (ragged), images one row each."""
    if modality != "text":
        return activation, None
    lengths = inputs["attention_mask"].sum(axis=1).astype(int).tolist()
    return np.concatenate([activation[i, :n] for i, n in enumerate(lengths)]), lengths


def extract_activations(
    backbone: Backbone,
    dataset: Dataset,
    stop: int,
    *,
    views: int = 1,
    augment: AugmentSpec | None = None,
    seed: int = 0,
    store: FeatureStore | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    on_bad: str = "skip",
    progress: bool = True,
) -> Activations:
    """Frozen-prefix outputs (stages[0:stop], ONNX Runtime) for `views` augmented views of each item."""
    from headstart.runtime import FrozenRunner

    augment = augment if dataset.modality == "image" else None
    views = views if augment is not None else 1
    description = {
        **feature_space_description(backbone, stop),
        "pooled": False,
        "augment": augment.to_dict() if augment else None,
        "augment_seed": seed if augment else None,
    }
    space = (store or FeatureStore()).space(description)
    digests = item_digests(dataset)

    def key(i: int, view: int) -> str:
        return f"{digests[i]}:{view}" if augment else digests[i]

    seen: set[str] = set()
    todo: list[Job] = []
    for i in range(len(dataset)):
        for view in range(views):
            k = key(i, view)
            if k not in space and k not in seen:
                seen.add(k)
                todo.append((i, view))

    def transform(item: Any, i: int, view: int) -> Any:
        return augment_image(item, view_rng(seed, digests[i], view), augment) if augment else item

    bad: dict[int, SkippedItem] = {}
    if todo:
        run = FrozenRunner(backbone, stop=stop, pooled=False, threads=threads)
        label = f"activations {backbone.name} @{backbone.stages[stop - 1]}"
        with progress_bar(label, total=len(todo), enabled=progress) as advance:
            for ok, inputs, failures in _prepared_batches(backbone, dataset, todo, batch_size, transform):
                for i, reason in failures:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    bad[i] = SkippedItem(dataset.ids[i], reason)
                if ok:
                    rows, lengths = split_ragged(np.asarray(run(inputs)), inputs, dataset.modality)
                    space.append([key(i, v) for i, v in ok], rows, lengths)
                advance(len(ok) + len(failures))
    kept = [i for i in range(len(dataset)) if all(key(i, v) in space for v in range(views))]
    values = [space.get_ragged([key(i, v) for v in range(views)]) for i in kept]
    if dataset.modality != "text":
        values = [[v[0] for v in item] for item in values]
    return Activations(
        values=values,
        kept=np.array(kept, dtype=np.int64),
        skipped=[s for i, s in bad.items() if i not in kept],
        n_cached=len(dataset) * views - len(todo),
        n_computed=len(todo) - len(bad),
    )


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
