"""Exemplar memory: the training examples (or a bounded, herding-selected set per class) kept inside a bundle.

`headstart expand` rehearses on it so old classes are not forgotten when new ones arrive. Linear bundles keep
pooled features (`kind="features"`, float16 after per-dimension standardisation: 0.75-2.5 KB per item), by
default of every training item up to `FEATURE_MEMORY_BYTES`, so a linear expand refits on exactly the old
training set. `partial:K` bundles keep unaugmented activations at the cut (`kind="activations"`, float16;
texts are ragged, so their token rows are concatenated with a `memory.lengths` array), by default of every
training item while they and their pooled features fit in `ACTIVATION_MEMORY_BYTES` (texts' per-token
activations are tens of KB an item: the cap holds whatever `--memory N` says). A class over its bound keeps the
exemplars chosen by herding (iCaRL, Rebuffi et al. 2017): greedily, the item that keeps the running mean of the
chosen ones closest to the class mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality

if TYPE_CHECKING:
    from headstart.backbones.base import Backbone
    from headstart.config import FitConfig

PREFIX = "memory."
SELECTION = "herding"
Kind = Literal["features", "activations"]


def herding(features: np.ndarray, m: int) -> np.ndarray:
    """Indices of `m` rows (in selection order) whose running mean best tracks the mean of all rows.

    Step k picks the row x minimising ||mean - (sum of chosen + x) / k||, which is the row maximising
    2·(k·mean - sum of chosen)·x - ||x||²: one matrix-vector product per step, no (n, d) temporaries.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    m = min(m, len(x))
    squares = np.einsum("ij,ij->i", x, x)
    toward_mean = x @ x.mean(axis=0)
    toward_chosen = np.zeros(len(x))
    chosen = np.empty(m, dtype=np.int64)
    available = np.ones(len(x), dtype=bool)
    for k in range(1, m + 1):
        score = 2.0 * (k * toward_mean - toward_chosen) - squares
        score[~available] = -np.inf
        best = int(np.argmax(score))
        chosen[k - 1] = best
        available[best] = False
        toward_chosen += x @ x[best]
    return chosen


def select_exemplars(features: np.ndarray, targets: np.ndarray, per_class: int | None) -> np.ndarray:
    """Row indices of at most `per_class` exemplars of every class, grouped by class (None: every row).

    A class with no more rows than the bound keeps all of them (no herding needed); a bigger one keeps its
    herding selection.
    """
    targets = np.asarray(targets)
    picked: list[np.ndarray] = []
    for t in np.unique(targets):
        rows = np.flatnonzero(targets == t)
        if per_class is None or len(rows) <= per_class:
            picked.append(rows)
        else:
            picked.append(rows[herding(features[rows], per_class)])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def fitting_bound(counts: np.ndarray, capacity: int) -> int | None:
    """The largest per-class bound b with sum(min(count, b)) <= capacity rows (None: every row fits)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() <= capacity:
        return None
    low, high = 1, int(counts.max())
    while low < high:
        middle = (low + high + 1) // 2
        if np.minimum(counts, middle).sum() <= capacity:
            low = middle
        else:
            high = middle - 1
    return low


FLOAT16_MAX = 60_000.0  # float16 overflows at 65,504


def _compact_features(rows: np.ndarray, name: str = "features") -> dict[str, np.ndarray]:
    """Feature rows as float16 *after* per-dimension standardisation (mean and scale kept as float32).

    Raw float16 is not enough: a dimension with a large mean and a small spread loses most of its variation to
    rounding, and a head refit on rounded old rows beside exact new ones learns the rounding (it moved old-class
    items into new classes). Standardised values keep ~0.001 of each dimension's spread.
    Statistics are taken in float64 and constant dimensions are stored as exact offsets from their first value:
    MiniLM has dimensions of ~1e-33 noise whose float32 spread underflows, and losing them to rounding turns
    them into a feature that separates stored rows from fresh ones.
    """
    if not len(rows):
        return {f"{PREFIX}{name}": rows.astype(np.float16)}
    exact = rows.astype(np.float64)
    mean = exact.mean(axis=0)
    spread = exact.std(axis=0)
    constant = spread == 0
    mean = np.where(constant, exact[0], mean).astype(np.float32)
    scale = np.where(constant, 1.0, spread).astype(np.float32)
    z = (exact - mean) / scale
    if float(np.abs(z).max()) >= FLOAT16_MAX:
        return {f"{PREFIX}{name}": rows}
    return {
        f"{PREFIX}{name}": z.astype(np.float16),
        f"{PREFIX}{name}_mean": mean,
        f"{PREFIX}{name}_scale": scale,
    }


def _expanded_features(tensors: dict[str, np.ndarray], name: str = "features") -> np.ndarray:
    """The stored feature rows as float32 (undoing `_compact_features`; older bundles stored them plain)."""
    rows = np.asarray(tensors[f"{PREFIX}{name}"], dtype=np.float32)
    if f"{PREFIX}{name}_mean" not in tensors:
        return rows
    return rows * tensors[f"{PREFIX}{name}_scale"].astype(np.float32) + tensors[f"{PREFIX}{name}_mean"]


@dataclass
class ExemplarMemory:
    """Stored exemplars: `values[i]` (a feature row or an activation) of class `labels[targets[i]]`.

    `per_class` is the bound asked for (None: every training item, up to `max_bytes`); `complete` says whether
    every training item of every class is stored, i.e. whether an expand refits on the whole old training set.
    """

    kind: Kind
    values: list[np.ndarray]
    targets: np.ndarray  # indices into the model's labels
    per_class: int | None
    modality: str
    pooled: np.ndarray | None = None  # pooled features of the exemplars (herding space), when known
    complete: bool = False
    max_bytes: int | None = None
    # partial:K: the fitted network's own pooled features (the head's input) of *every* training item, with their
    # targets. A head-only expand refits on these, so it sees every old item even when the activations are capped
    tuned: np.ndarray | None = None
    tuned_targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    def class_counts(self, labels: list[str]) -> dict[str, int]:
        counts = np.bincount(self.targets, minlength=len(labels))
        return {label: int(c) for label, c in zip(labels, counts, strict=True)}

    def manifest(self, labels: list[str]) -> dict[str, Any]:
        tensors = self.tensors()
        stored = tensors.get(f"{PREFIX}features", tensors.get(f"{PREFIX}activations"))
        return {
            "per_class": self.per_class,
            "max_bytes": self.max_bytes,
            "selection": SELECTION,
            "complete": self.complete,
            "kind": self.kind,
            "n": len(self),
            "dtype": str(stored.dtype) if stored is not None else "float16",
            "standardised": f"{PREFIX}features_mean" in tensors,
            "bytes": int(sum(v.nbytes for v in tensors.values())),
            "class_counts": self.class_counts(labels),
            "tuned_n": 0 if self.tuned is None else len(self.tuned),
        }

    def feature_matrix(self) -> np.ndarray:
        """The stored feature rows as one float32 matrix (features memories)."""
        return np.asarray(np.stack(self.values), dtype=np.float32) if len(self) else np.zeros((0, 0), np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        out = {f"{PREFIX}labels": self.targets.astype(np.int64)}
        if self.kind == "features":
            out.update(_compact_features(self.feature_matrix()))
        elif get_modality(self.modality).ragged:
            out[f"{PREFIX}activations"] = np.concatenate(self.values).astype(np.float16)
            out[f"{PREFIX}lengths"] = np.array([len(v) for v in self.values], dtype=np.int64)
        else:
            out[f"{PREFIX}activations"] = np.stack(self.values).astype(np.float16)
        if self.pooled is not None and self.kind == "activations":
            out[f"{PREFIX}pooled"] = self.pooled.astype(np.float16)
        if self.tuned is not None and self.tuned_targets is not None:
            out.update(_compact_features(np.asarray(self.tuned, dtype=np.float32), "tuned"))
            out[f"{PREFIX}tuned_labels"] = self.tuned_targets.astype(np.int64)
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
            features = _expanded_features(tensors)
            values = list(features)
            pooled = features
        elif get_modality(modality).ragged:
            rows = np.asarray(tensors[f"{PREFIX}activations"], dtype=np.float32)
            bounds = np.cumsum([0, *tensors[f"{PREFIX}lengths"].tolist()])
            values = [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        else:
            values = list(np.asarray(tensors[f"{PREFIX}activations"], dtype=np.float32))
        per_class = section.get("per_class")
        tuned = _expanded_features(tensors, "tuned") if f"{PREFIX}tuned" in tensors else None
        return cls(
            kind,
            values,
            targets,
            None if per_class is None else int(per_class),
            modality,
            None if pooled is None else np.asarray(pooled, dtype=np.float32),
            complete=bool(section.get("complete", False)),
            max_bytes=section.get("max_bytes"),
            tuned=tuned,
            tuned_targets=None if tuned is None else np.asarray(tensors[f"{PREFIX}tuned_labels"], dtype=np.int64),
        )


def strip_memory(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors without the memory's (for loaders that expect only model weights)."""
    return {k: v for k, v in tensors.items() if not k.startswith(PREFIX)}


FEATURE_MEMORY: int | None = None  # linear bundles keep every training item's pooled features ...
FEATURE_MEMORY_BYTES = 32 * 2**20  # ... up to 32 MB (float16: ~13k items at 1280 dims, ~43k at 384)
ACTIVATION_MEMORY_BYTES = 32 * 2**20  # partial:K bundles: every item's activations + pooled features up to
# 32 MB (flowers at 128 px: 8.7 KB an item, ~3,800 items; banking77 on MiniLM: 12.9 KB, ~2,600 texts)
ROW_BYTES = 16  # an activation item's int64 label and (texts) int64 length


def memory_bytes(megabytes: float | None) -> int | None:
    """`--memory-mb` in bytes (None: the kind's default cap, FEATURE_/ACTIVATION_MEMORY_BYTES)."""
    return None if megabytes is None else int(megabytes * 2**20)


def memory_size(requested: int | None, default: int | None) -> int | None:
    """Exemplars per class: the user's `--memory`, else the kind's default (None: all, up to a byte cap)."""
    return default if requested is None else requested


def feature_memory(
    features: np.ndarray, y: np.ndarray, labels: list[str], per_class: int | None, max_bytes: int | None = None
) -> ExemplarMemory | None:
    """A linear model's pooled training features: all of them (`per_class` None) up to `max_bytes` (default
    `FEATURE_MEMORY_BYTES`), else at most `per_class` per class; classes over the bound keep herding exemplars.
    None when 0."""
    if per_class is not None and per_class <= 0:
        return None
    target_of = {label: i for i, label in enumerate(labels)}
    targets = np.array([target_of[str(v)] for v in y], dtype=np.int64)
    features = np.asarray(features, dtype=np.float32)
    cap = FEATURE_MEMORY_BYTES if max_bytes is None else max_bytes
    bound = per_class if per_class is not None else _byte_bound(targets, features.shape[1], len(labels), cap)
    rows = select_exemplars(features, targets, bound)
    values = features[rows]
    return ExemplarMemory(
        "features",
        list(values),
        targets[rows],
        per_class,
        "",
        values,
        complete=len(rows) == len(targets),
        max_bytes=cap if per_class is None else None,
    )


def feature_rows_bytes(n: int, dim: int) -> int:
    """Bytes of `n` stored feature rows (`_compact_features`): float16 rows with an int64 label each, plus the
    float32 mean and scale of every dimension."""
    return n * (2 * dim + 8) + 8 * dim


def _byte_bound(targets: np.ndarray, dim: int, n_labels: int, max_bytes: int) -> int | None:
    """The per-class bound that keeps the stored features within `max_bytes` (None: all fit)."""
    counts = np.bincount(targets, minlength=n_labels)
    fixed, per_row = feature_rows_bytes(0, dim), feature_rows_bytes(1, dim) - feature_rows_bytes(0, dim)
    return fitting_bound(counts, max(0, max_bytes - fixed) // per_row)


def activation_memory(
    backbone: Backbone, train: Dataset, cut: int, config: FitConfig, labels: list[str], top: Any = None
) -> ExemplarMemory | None:
    """Unaugmented activations at `cut` of every training item that fits in `config.memory_mb` (default
    `ACTIVATION_MEMORY_BYTES`; at most `config.memory` per class when given); classes over the bound keep herding
    exemplars (frozen pooled features).

    When every item fits (the usual case), the activations are extracted once and their pooled features come
    from the frozen stages after the cut run in torch, instead of a second pass through the whole network.
    With the fitted network `top` (and no per-class bound), its pooled features of every item are kept too
    (`tuned`, ~0.8 KB an item for MiniLM against ~13 KB of activations), inside the same cap: a head-only expand
    refits on them, so it sees every old item even where the cap keeps few activations (BENCHMARKS.md, "Expand").
    """
    from headstart.features import extract_activations, extract_features

    per_class = config.memory
    limit = memory_bytes(config.memory_mb) or ACTIVATION_MEMORY_BYTES
    cap = limit  # what the activations may take (less what `tuned` takes)
    if (per_class is not None and per_class <= 0) or cut <= 0 or not len(train):
        return None
    run: dict[str, Any] = {
        "threads": config.threads,
        "batch_size": config.batch_size,
        "on_bad": "skip",
        "progress": False,
    }
    assert train.labels is not None
    target_of = {label: i for i, label in enumerate(labels)}

    def activations(subset: Dataset) -> tuple[list[np.ndarray], np.ndarray]:
        acts = extract_activations(backbone, subset, cut, views=1, augment=None, seed=config.seed, **run)
        return [item[0] for item in acts.values], acts.kept

    first = activations(train.subset([0]))[0]
    room = cap // max(1, 2 * (first[0].size + backbone.feature_dim) + ROW_BYTES) if first else 0
    tuned = None
    if (
        get_modality(train.modality).ragged or not first or len(train) <= room
    ):  # texts: ragged, sized by their activations
        values, kept = activations(train)
        pooled = frozen_pooled(backbone, values, cut, config.batch_size)
        if top is not None and per_class is None and values:
            tuned = tuned_pooled(top, backbone, values, cut, config.batch_size)
    else:  # more items than can fit: choose on pooled features first, then extract only the chosen
        x = extract_features(backbone, train, **run)
        kept, pooled, values = x.kept, np.asarray(x.features, dtype=np.float32), []
        if top is not None and per_class is None:
            tuned = _tuned_in_chunks(top, backbone, train, kept, cut, activations, config.batch_size)
    if tuned is not None:  # kept inside the cap when small beside it (0.8 KB a MiniLM text vs ~13 KB activations)
        tuned_bytes = feature_rows_bytes(*tuned.shape)
        tuned, cap = (tuned, cap - tuned_bytes) if tuned_bytes < cap // 2 else (None, cap)
    if not len(kept):
        return None
    targets = np.array([target_of[train.labels[i]] for i in kept], dtype=np.int64)
    if values:
        sizes = np.array([2 * (v.size + pooled.shape[1]) + ROW_BYTES for v in values], dtype=np.int64)
    else:
        sizes = np.full(len(kept), 2 * (first[0].size + pooled.shape[1]) + ROW_BYTES, dtype=np.int64)
    rows = select_within_bytes(pooled, targets, per_class, sizes, cap)
    if values:
        chosen = [values[r] for r in rows]
    else:
        chosen, read = activations(train.subset([int(kept[r]) for r in rows]))
        rows = rows[read]
    return ExemplarMemory(
        "activations",
        chosen,
        targets[rows],
        per_class,
        train.modality,
        pooled[rows],
        complete=len(rows) == len(targets),
        max_bytes=limit,
        tuned=tuned,
        tuned_targets=None if tuned is None else targets,
    )


def _tuned_in_chunks(
    top: Any, backbone: Backbone, train: Dataset, kept: np.ndarray, cut: int, activations: Any, batch_size: int
) -> np.ndarray | None:
    """`tuned_pooled` of the items `kept` (indices into `train`), extracting their activations a chunk at a time
    so they never all sit in memory; None when an item read before cannot be read now."""
    rows: dict[int, np.ndarray] = {}
    for start in range(0, len(kept), TUNED_CHUNK):
        chunk = [int(i) for i in kept[start : start + TUNED_CHUNK]]
        values, read = activations(train.subset(chunk))
        features = tuned_pooled(top, backbone, values, cut, batch_size)
        rows.update({chunk[int(r)]: f for r, f in zip(read, features, strict=True)})
    if len(rows) != len(kept):
        return None
    return np.stack([rows[int(i)] for i in kept]).astype(np.float32)


TUNED_CHUNK = 256  # items whose activations are held at once while computing `tuned` for an over-cap set


def tuned_pooled(top: Any, backbone: Backbone, values: list[np.ndarray], cut: int, batch_size: int) -> np.ndarray:
    """A fitted network's pooled features (before its standardisation and head) of activations at `cut`."""
    top.eval()
    return _pooled_batches(top.features, backbone, values, cut, batch_size)


def frozen_pooled(backbone: Backbone, values: list[np.ndarray], cut: int, batch_size: int) -> np.ndarray:
    """The frozen backbone's pooled features of activations at `cut` (stages[cut:] run in torch)."""
    n = len(backbone.stages)

    def network(state: Any) -> Any:
        return backbone.pool(backbone.forward(state, cut, n))

    return _pooled_batches(network, backbone, values, cut, batch_size)


def _pooled_batches(
    network: Any, backbone: Backbone, values: list[np.ndarray], cut: int, batch_size: int
) -> np.ndarray:
    """`network` (activations at `cut` -> pooled features) over `values`, a batch at a time, without gradients."""
    import torch

    from headstart.strategies.training_data import activation_key, activation_state

    key, out = activation_key(backbone, cut), []
    with torch.inference_mode():
        for start in range(0, len(values), batch_size):
            state = activation_state(values[start : start + batch_size], backbone.modality, key)
            out.append(network(state).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, backbone.feature_dim), dtype=np.float32)


def select_within_bytes(
    pooled: np.ndarray, targets: np.ndarray, per_class: int | None, sizes: np.ndarray, max_bytes: int
) -> np.ndarray:
    """`select_exemplars` rows with the largest per-class bound (<= `per_class`) whose `sizes` sum to <= `max_bytes`.

    The bound starts from the classes' mean item sizes and shrinks until the chosen rows really fit (texts'
    sizes vary with their length); at a bound of 1 the rows are cut in order, so the cap always holds.
    """
    targets = np.asarray(targets)
    classes = np.unique(targets)
    counts = np.array([(targets == t).sum() for t in classes])
    means = np.array([sizes[targets == t].mean() for t in classes])
    top = int(counts.max()) if per_class is None else min(per_class, int(counts.max()))
    low, high = 1, top
    while low < high:  # largest b with sum(min(n_c, b) * mean size_c) <= max_bytes
        middle = (low + high + 1) // 2
        if float((np.minimum(counts, middle) * means).sum()) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    bound = low
    while True:
        rows = select_exemplars(pooled, targets, None if bound >= int(counts.max()) else bound)
        if int(sizes[rows].sum()) <= max_bytes or bound == 1:
            break
        bound = max(1, bound - max(1, bound // 20))
    within = np.cumsum(sizes[rows]) <= max_bytes
    return rows[within]


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


def merge_memories(
    old: ExemplarMemory | None, new: ExemplarMemory | None, per_class: int | None, max_bytes: int | None = None
) -> ExemplarMemory | None:
    """One memory of both: at most `per_class` exemplars per class (None: all, up to the byte cap: `max_bytes`,
    else the old memory's, else the kind's default), herding over the union of a class's old and new exemplars
    only where a class is over the bound.

    `targets` of both must index the same (grown) label list.
    """
    parts = [m for m in (old, new) if m is not None and len(m)]
    if (per_class is not None and per_class <= 0) or not parts:
        return None
    if any(m.pooled is None for m in parts):
        raise ValueError("merging memories needs the pooled features of their exemplars")
    kind = parts[0].kind
    values = [v for m in parts for v in m.values]
    targets = np.concatenate([m.targets for m in parts])
    pooled = np.concatenate([np.asarray(m.pooled, dtype=np.float32) for m in parts])
    cap = max_bytes or (old.max_bytes if old is not None else None)
    if kind == "activations":
        max_bytes = cap or ACTIVATION_MEMORY_BYTES
        sizes = np.array([2 * (v.size + pooled.shape[1]) + ROW_BYTES for v in values], dtype=np.int64)
        rows = select_within_bytes(pooled, targets, per_class, sizes, max_bytes)
    else:
        if per_class is None:
            max_bytes = cap or FEATURE_MEMORY_BYTES
            bound = _byte_bound(targets, pooled.shape[1], int(targets.max()) + 1, max_bytes)
        else:
            max_bytes, bound = None, per_class
        rows = select_exemplars(pooled, targets, bound)
    return ExemplarMemory(
        kind,
        [values[r] for r in rows],
        targets[rows],
        per_class,
        parts[0].modality,
        pooled[rows],
        complete=all(m.complete for m in parts) and len(rows) == len(targets),
        max_bytes=max_bytes,
    )
