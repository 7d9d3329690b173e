"""Exemplar memory: a bounded, herding-selected set of training examples per class kept inside a bundle.

`headstart expand` rehearses on it so old classes are not forgotten when new ones arrive. Linear bundles keep
the exemplars' pooled features (`kind="features"`, float32); `partial:K` bundles keep their unaugmented
activations at the cut (`kind="activations"`, float16 to halve the size; texts are ragged, so their token rows
are concatenated with a `memory.lengths` array). Exemplars are chosen per class by herding (iCaRL, Rebuffi et
al. 2017): greedily, the item that keeps the running mean of the chosen ones closest to the class mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from headstart.data.dataset import Dataset

if TYPE_CHECKING:
    from headstart.backbones.base import Backbone
    from headstart.config import FitConfig

PREFIX = "memory."
SELECTION = "herding"
Kind = Literal["features", "activations"]


def herding(features: np.ndarray, m: int) -> np.ndarray:
    """Indices of `m` rows (in selection order) whose running mean best tracks the mean of all rows."""
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    m = min(m, len(x))
    target = x.mean(axis=0)
    chosen: list[int] = []
    available = np.ones(len(x), dtype=bool)
    running = np.zeros_like(target)
    for k in range(1, m + 1):
        distance = np.linalg.norm(target - (running + x) / k, axis=1)
        distance[~available] = np.inf
        best = int(np.argmin(distance))
        chosen.append(best)
        available[best] = False
        running += x[best]
    return np.array(chosen, dtype=np.int64)


def select_exemplars(features: np.ndarray, targets: np.ndarray, per_class: int) -> np.ndarray:
    """Row indices of at most `per_class` herding exemplars of every class, grouped by class."""
    targets = np.asarray(targets)
    picked: list[np.ndarray] = []
    for t in np.unique(targets):
        rows = np.flatnonzero(targets == t)
        picked.append(rows[herding(features[rows], per_class)])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


@dataclass
class ExemplarMemory:
    """Stored exemplars: `values[i]` (a feature row or an activation) of class `labels[targets[i]]`."""

    kind: Kind
    values: list[np.ndarray]
    targets: np.ndarray  # indices into the model's labels
    per_class: int
    modality: str
    pooled: np.ndarray | None = None  # pooled features of the exemplars (herding space), when known

    def __len__(self) -> int:
        return len(self.values)

    def class_counts(self, labels: list[str]) -> dict[str, int]:
        counts = np.bincount(self.targets, minlength=len(labels))
        return {label: int(c) for label, c in zip(labels, counts, strict=True)}

    def manifest(self, labels: list[str]) -> dict[str, Any]:
        return {
            "per_class": self.per_class,
            "selection": SELECTION,
            "kind": self.kind,
            "n": len(self),
            "dtype": "float32" if self.kind == "features" else "float16",
            "class_counts": self.class_counts(labels),
        }

    def tensors(self) -> dict[str, np.ndarray]:
        out = {f"{PREFIX}labels": self.targets.astype(np.int64)}
        if self.kind == "features":
            out[f"{PREFIX}features"] = np.stack(self.values).astype(np.float32)
        elif self.modality == "text":
            out[f"{PREFIX}activations"] = np.concatenate(self.values).astype(np.float16)
            out[f"{PREFIX}lengths"] = np.array([len(v) for v in self.values], dtype=np.int64)
        else:
            out[f"{PREFIX}activations"] = np.stack(self.values).astype(np.float16)
        if self.pooled is not None and self.kind == "activations":
            out[f"{PREFIX}pooled"] = self.pooled.astype(np.float16)
        return out

    @classmethod
    def from_bundle(
        cls, section: dict[str, Any] | None, tensors: dict[str, np.ndarray], modality: str
    ) -> ExemplarMemory | None:
        """The memory saved in a bundle, or None when it has none."""
        if not section or f"{PREFIX}labels" not in tensors:
            return None
        targets = np.asarray(tensors[f"{PREFIX}labels"], dtype=np.int64)
        kind: Kind = section["kind"]
        pooled = tensors.get(f"{PREFIX}pooled")
        if kind == "features":
            features = np.asarray(tensors[f"{PREFIX}features"], dtype=np.float32)
            values = list(features)
            pooled = features
        elif modality == "text":
            rows = np.asarray(tensors[f"{PREFIX}activations"], dtype=np.float32)
            bounds = np.cumsum([0, *tensors[f"{PREFIX}lengths"].tolist()])
            values = [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        else:
            values = list(np.asarray(tensors[f"{PREFIX}activations"], dtype=np.float32))
        return cls(
            kind,
            values,
            targets,
            int(section["per_class"]),
            modality,
            None if pooled is None else np.asarray(pooled, dtype=np.float32),
        )


def strip_memory(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors without the memory's (for loaders that expect only model weights)."""
    return {k: v for k, v in tensors.items() if not k.startswith(PREFIX)}


FEATURE_MEMORY = 500  # pooled features are small (1.5-5 KB each): keep many, so expand forgets little
ACTIVATION_MEMORY = 20  # activations at a cut are large (tens of KB each): keep a rehearsal set


def memory_size(requested: int | None, default: int) -> int:
    """Exemplars per class: the user's `--memory`, else the kind's default."""
    return default if requested is None else requested


def feature_memory(features: np.ndarray, y: np.ndarray, labels: list[str], per_class: int) -> ExemplarMemory | None:
    """Herding exemplars of a linear model's pooled training features (None when `per_class` is 0)."""
    if per_class <= 0:
        return None
    target_of = {label: i for i, label in enumerate(labels)}
    targets = np.array([target_of[str(v)] for v in y], dtype=np.int64)
    rows = select_exemplars(features, targets, per_class)
    values = np.asarray(features[rows], dtype=np.float32)
    return ExemplarMemory("features", list(values), targets[rows], per_class, "", values)


def activation_memory(
    backbone: Backbone, train: Dataset, cut: int, config: FitConfig, labels: list[str]
) -> ExemplarMemory | None:
    """Herding exemplars (chosen on frozen pooled features) kept as unaugmented activations at `cut`."""
    from headstart.features import extract_activations, extract_features

    per_class = memory_size(config.memory, ACTIVATION_MEMORY)
    if per_class <= 0 or cut <= 0:
        return None
    run = {"threads": config.threads, "batch_size": config.batch_size, "on_bad": "skip", "progress": False}
    x = extract_features(backbone, train, **run)
    assert train.labels is not None
    target_of = {label: i for i, label in enumerate(labels)}
    targets = np.array([target_of[train.labels[i]] for i in x.kept], dtype=np.int64)
    rows = select_exemplars(x.features, targets, per_class)
    subset = train.subset([int(x.kept[r]) for r in rows])
    acts = extract_activations(backbone, subset, cut, views=1, augment=None, seed=config.seed, **run)
    values = [item[0] for item in acts.values]
    return ExemplarMemory(
        "activations",
        values,
        targets[rows][acts.kept],
        per_class,
        train.modality,
        np.asarray(x.features[rows][acts.kept], dtype=np.float32),
    )


def memory_section(model: Any, config: FitConfig) -> tuple[dict[str, Any] | None, dict[str, np.ndarray], str | None]:
    """(manifest section, tensors, reason when there is none) for a fitted model's exemplar memory."""
    memory: ExemplarMemory | None = getattr(model, "memory", None)
    if memory is not None and len(memory):
        return memory.manifest(list(model.labels)), memory.tensors(), None
    if config.memory == 0:
        return None, {}, "disabled (--memory 0): `headstart expand` would forget the old classes"
    strategy = model.manifest().get("strategy", {})
    name, cut = strategy.get("name"), strategy.get("cut")
    if name in ("full", "scratch") or cut == 0:
        reason = (
            f"{name} trains every stage, so no cached activations exist to keep cheaply; "
            "`headstart expand` needs --allow-forgetting (new data only, distillation as the anchor)"
        )
    elif name == "zero-shot":
        reason = "zero-shot trains on no examples; `headstart expand` adds new classes as prototypes"
    else:
        reason = f"strategy {name!r} keeps no exemplars"
    return None, {}, reason


def merge_memories(old: ExemplarMemory | None, new: ExemplarMemory | None, per_class: int) -> ExemplarMemory | None:
    """One memory of at most `per_class` exemplars per class: herding over the union of both, class by class.

    Classes only in `old` keep their exemplars (a subset when `per_class` shrank); `targets` of both must index
    the same (grown) label list.
    """
    parts = [m for m in (old, new) if m is not None and len(m)]
    if per_class <= 0 or not parts:
        return None
    if any(m.pooled is None for m in parts):
        raise ValueError("merging memories needs the pooled features of their exemplars")
    values = [v for m in parts for v in m.values]
    targets = np.concatenate([m.targets for m in parts])
    pooled = np.concatenate([np.asarray(m.pooled, dtype=np.float32) for m in parts])
    rows = select_exemplars(pooled, targets, per_class)
    return ExemplarMemory(
        parts[0].kind, [values[r] for r in rows], targets[rows], per_class, parts[0].modality, pooled[rows]
    )
