"""Streaming extraction: pooled features and unpooled activations of a dataset, read from the FeatureStore
when it holds them (`headstart.feature_store`) and computed by the engine in use otherwise (`headstart.engines`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.augment import AugmentSpec, augment_image, view_rng
from headstart.backbones.base import Backbone
from headstart.batches import Job, readable_batches
from headstart.data.dataset import Dataset, SkippedItem
from headstart.data.modalities import get_modality
from headstart.data.modalities import item_digests as item_digests  # re-exported: where callers know it
from headstart.engines import ExtractJob, current_engine
from headstart.feature_store import FeatureSpace, FeatureStore, MemorySpace
from headstart.progress import progress_bar
from headstart.runtime import FrozenRunner, MultiCutRunner


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
    stops = sorted({len(backbone.stages) if s is None else int(s) for s in stops})
    if current_engine().name != "local":
        return {
            s: extract_features(
                backbone,
                dataset,
                store=store,
                stop=s,
                batch_size=batch_size,
                threads=threads,
                on_bad=on_bad,
                progress=progress,
            )
            for s in stops
        }
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
    failed: dict[int, str] = {}
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
        jobs = [(i, 0) for i in todo]
        with progress_bar(label, total=len(todo), enabled=progress) as advance:
            for ok, inputs in readable_batches(
                backbone, dataset, jobs, batch_size, on_bad=on_bad, failed=failed, advance=advance
            ):
                batch = [digests[i] for i, _ in ok]
                for s, rows in zip(needed, run(inputs), strict=True):
                    keep = [j for j, d in enumerate(batch) if d in missing[s]]
                    spaces[s].append([batch[j] for j in keep], rows[keep])
    bad = {digests[i]: reason for i, reason in failed.items()}
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
    if not get_modality(modality).ragged:
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
    augment = augment if get_modality(dataset.modality).augmentable else None
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

    failed: dict[int, str] = {}
    if todo:
        run = FrozenRunner(backbone, stop=stop, pooled=False, threads=threads)
        label = f"activations {backbone.name} @{backbone.stages[stop - 1]}"
        with progress_bar(label, total=len(todo), enabled=progress) as advance:
            batches = readable_batches(
                backbone, dataset, todo, batch_size, on_bad=on_bad, failed=failed, advance=advance, transform=transform
            )
            for ok, inputs in batches:
                rows, lengths = split_ragged(np.asarray(run(inputs)), inputs, dataset.modality)
                space.append([key(i, v) for i, v in ok], rows, lengths)
    bad = {i: SkippedItem(dataset.ids[i], reason) for i, reason in failed.items()}
    kept = [i for i in range(len(dataset)) if all(key(i, v) in space for v in range(views))]
    values = [space.get_ragged([key(i, v) for v in range(views)]) for i in kept]
    if not get_modality(dataset.modality).ragged:
        values = [[v[0] for v in item] for item in values]
    return Activations(
        values=values,
        kept=np.array(kept, dtype=np.int64),
        skipped=[s for i, s in bad.items() if i not in kept],
        n_cached=len(dataset) * views - len(todo),
        n_computed=len(todo) - len(bad),
    )
