"""Class expansion: grow a trained bundle with new classes (or more examples of old ones) without starting over.

- linear: the backbone is unchanged, so the head is refit, with the parent's C, on the features stored in the
  bundle (by default every old training item's, up to a byte cap: nothing is forgotten) plus the new data.
- zero-shot (texts): new classes become prototypes (the mean normalised embedding of their examples) appended
  to the label embeddings; old labels are untouched.
- partial:K: the bundle stores unaugmented activations at the cut (by default every training item's, up to a
  byte cap). By default (`head_only`) the parent's network is kept and only the grown head is fitted: a
  class-balanced, cross-validated logistic regression on the parent's pooled features of the stored + new
  items. With `head_only=False` (`--tune-stages`) the head grows (old rows copied, new rows imprinted from class
  means), and the trainable stages plus head train on the new items and the stored ones — both unaugmented, so
  augmentation cannot become a cue for "new class" — with class-balanced cross-entropy plus distillation on the
  old classes (Learning without Forgetting, Li & Hoiem 2016: KL at temperature T between the parent's and the
  new model's old-class outputs). Then the head is refit the same way on the tuned network's features
  (`head_refit`), which places the old/new boundary as a retrain would. full/scratch bundles keep no
  exemplars; with `allow_forgetting` they train on the new data only (augmented), distillation being the only
  anchor.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file
from torch import nn

from headstart.bundle import HEAD_WEIGHTS, MANIFEST, Predictor, read_manifest, save_bundle
from headstart.bundle import load as load_bundle
from headstart.config import ExpandConfig, FitConfig
from headstart.data import Dataset, load_dataset, split_dataset
from headstart.data.dataset import SkippedItem, file_sha256
from headstart.errors import BundleError, DataError, HeadstartError, ModalityMismatchError, StrategyError, UsageError
from headstart.features import extract_features
from headstart.metrics import classification_report
from headstart.strategies import get_strategy
from headstart.strategies.base import Model, class_counts
from headstart.strategies.feature_model import FeatureHeadModel
from headstart.strategies.finetune import (
    FinetuneModel,
    GradientStrategy,
    TopNet,
    activation_key,
    build_top,
    frozen_batchnorm,
)
from headstart.strategies.linear import MIN_PER_CLASS_FOR_CV, LinearHead, LinearStrategy
from headstart.strategies.memory import (
    ExemplarMemory,
    activation_memory,
    feature_memory,
    memory_section,
    merge_memories,
)
from headstart.strategies.training_data import ActivationData
from headstart.strategies.zero_shot import LabelSimilarityHead
from headstart.train import EarlyStopping, ProgressBar, Trainer, TrainerConfig

DEFAULT_EPOCHS = 8
DEFAULT_PATIENCE = 2  # the validation part holds new items only; the head is refit afterwards
LR_FACTOR = 0.3  # expansion fine-tunes at this fraction of the parent's learning rate
VALIDATION_FRACTION = 0.2


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class Expansion:
    """What one strategy-specific expansion produced."""

    model: Model
    memory: ExemplarMemory | None
    method: str
    n_train: int
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)  # forgetting checks on the old-class exemplars
    head_extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpandResult:
    """What `expand` returns and `headstart expand --json` prints."""

    bundle: Path
    parent: dict[str, Any]
    labels: list[str]
    added_classes: list[str]
    updated_classes: list[str]
    method: str
    metrics: dict[str, Any]
    timings: dict[str, float]
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "parent": self.parent,
            "labels": self.labels,
            "added_classes": self.added_classes,
            "updated_classes": self.updated_classes,
            "method": self.method,
            "metrics": self.metrics,
            "timings": self.timings,
            "counts": self.counts,
            "notes": self.notes,
            "skipped": [s.to_dict() for s in self.skipped],
        }


def expand_bundle(bundle: str | Path, data: str | Path, config: ExpandConfig) -> ExpandResult:
    """Add the classes of `data` to the bundle (or, with `update`, its examples to existing classes)."""
    started = time.perf_counter()
    parent_path = Path(bundle).resolve()
    manifest = read_manifest(parent_path)
    predictor = load_bundle(parent_path)
    dataset = _load_new_data(data, predictor, config)
    old_labels = list(manifest["labels"])
    added, updated = plan_changes(old_labels, dataset.classes, update=config.update)
    labels = [*old_labels, *added]
    train, test, notes = _split(dataset, config)
    tensors = load_file(str(parent_path / HEAD_WEIGHTS))
    memory = ExemplarMemory.from_bundle(manifest["head"].get("memory"), tensors, dataset.modality)
    per_class = config.memory if config.memory is not None else (memory.per_class if memory else 0)
    loaded = time.perf_counter()

    expansion = _expand(predictor, manifest, memory, train, labels, per_class, config)
    trained = time.perf_counter()
    metrics = _evaluate(expansion, test, labels, config)
    evaluated = time.perf_counter()

    notes = [*dataset.notes, *notes, *expansion.notes]
    skipped = [*dataset.skipped, *expansion.skipped]
    counts = {
        "new_items": len(dataset) + len(dataset.skipped),
        "train": expansion.n_train,
        "test": int(metrics["test"]["n"]) if metrics.get("test") else 0,
        "rehearsal": len(memory) if memory is not None else 0,
        "classes": len(labels),
        "skipped": len(skipped),
    }
    parent = {
        "path": str(parent_path),
        "manifest_sha256": file_sha256(parent_path / MANIFEST),
        "created": manifest.get("created"),
        "labels": old_labels,
    }
    changes = {
        "added_classes": added,
        "updated_classes": updated,
        "new_items": len(dataset),
        "method": expansion.method,
    }
    model_manifest = expansion.model.manifest()
    section, memory_tensors, reason = memory_section(_as_memory_holder(expansion), _memory_config(per_class))
    head = {**model_manifest["head"], **expansion.head_extra, "memory": section}
    counts["memory_items"], counts["memory_bytes"] = (section["n"], section["bytes"]) if section else (0, 0)
    if section is None:
        head["memory_reason"] = manifest["head"].get("memory_reason") or reason
    new_manifest = {
        "task": manifest.get("task", "classification"),
        "modality": manifest["modality"],
        "labels": labels,
        "backbone": manifest.get("backbone"),
        "strategy": model_manifest["strategy"],
        "head": head,
        "data": {
            "source": str(Path(data).resolve()),
            "fingerprint": dataset.fingerprint(),
            "counts": counts,
            "class_counts_train": class_counts([train.labels[i] for i in range(len(train))]) if train.labels else {},
        },
        "metrics": metrics,
        "history": expansion.history,
        "config": manifest.get("config"),
        "expand_config": config.model_dump(exclude={"progress"}),
        "seed": config.seed,
        "versions": manifest.get("versions"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": parent,
        "changes": changes,
        "energy": None,
        "notes": notes,
        "skipped": [s.to_dict() for s in skipped],
    }
    from headstart.api import package_versions

    new_manifest["versions"] = package_versions()
    path = save_bundle(config.out, new_manifest, {**expansion.model.tensors(), **memory_tensors})
    done = time.perf_counter()
    timings = {
        "load_seconds": loaded - started,
        "train_seconds": trained - loaded,
        "test_seconds": evaluated - trained,
        "save_seconds": done - evaluated,
        "total_seconds": done - started,
    }
    return ExpandResult(
        bundle=path,
        parent=parent,
        labels=labels,
        added_classes=added,
        updated_classes=updated,
        method=expansion.method,
        metrics=metrics,
        timings=timings,
        counts=counts,
        notes=notes,
        skipped=skipped,
    )


# ---------------------------------------------------------------- inputs and checks


def _load_new_data(data: str | Path, predictor: Predictor, config: ExpandConfig) -> Dataset:
    """NEW_DATA as a labelled dataset of the bundle's modality (one class is enough)."""
    dataset = load_dataset(
        str(data),
        text_column=config.text_column,
        label_column=config.label_column,
        on_bad=config.on_bad,
        require_labels=False,
    )
    if dataset.modality != predictor.modality:
        name = predictor.backbone.name if predictor.backbone else predictor.manifest["strategy"]["name"]
        raise ModalityMismatchError(name, predictor.modality, dataset.modality)
    if dataset.labels is None or not dataset.classes:
        raise DataError(
            f"{str(data)!r} has no labels",
            expected="labelled examples of the new classes (class folders, or a label column)",
            fix="pass --label-column NAME, or lay images out as <root>/<class>/<file>",
        )
    return dataset


def plan_changes(old_labels: list[str], new_classes: list[str], *, update: bool) -> tuple[list[str], list[str]]:
    """(added, updated) classes; raises when NEW_DATA does not fit the mode (expand or `--update`)."""
    known = set(old_labels)
    existing = [c for c in new_classes if c in known]
    unknown = [c for c in new_classes if c not in known]
    if update:
        if unknown:
            raise UsageError(
                f"--update takes examples of existing classes only, but NEW_DATA has new class(es): "
                f"{', '.join(unknown[:20])}",
                expected=f"labels among the bundle's: {', '.join(old_labels[:20])}",
                fix="run `headstart expand` without --update to add the new classes (in a separate step)",
            )
        return [], existing
    if existing:
        raise UsageError(
            f"class(es) {', '.join(existing[:20])} already exist in the bundle",
            expected="only classes the bundle does not predict yet",
            fix="pass --update to add examples of existing classes, or rename/remove those items",
        )
    return unknown, []


def _split(dataset: Dataset, config: ExpandConfig) -> tuple[Dataset, Dataset | None, list[str]]:
    """A stratified held-out part of NEW_DATA for the metrics (none when `test_size` is 0 or too little data)."""
    if config.test_size <= 0:
        return dataset, None, ["no held-out split of NEW_DATA (--test-size 0): no metrics"]
    try:
        parts = split_dataset(dataset, test_size=config.test_size, seed=config.seed)
    except DataError:
        return dataset, None, ["NEW_DATA is too small to hold out a test split: no metrics"]
    return parts.train, parts.test, list(parts.notes)


def _no_memory_error(manifest: dict[str, Any], degraded: bool) -> HeadstartError:
    reason = manifest["head"].get("memory_reason") or "the bundle predates exemplar memory (it was fitted without it)"
    lost = "retraining on the new data alone would forget the old classes"
    if degraded:
        return BundleError(
            f"the bundle keeps no exemplars of its old classes ({reason}); {lost}",
            expected="a bundle fitted with exemplar memory (the default for linear and partial:K)",
            fix="pass --allow-forgetting to grow the head and train on the new data only (the old model's "
            "outputs on it, distilled, are the only anchor), or refit on all data with `headstart fit`",
        )
    return BundleError(
        f"the bundle keeps no exemplars of its old classes ({reason}); {lost}",
        expected="a linear bundle fitted with exemplar memory (the default; not --memory 0)",
        fix="refit on old + new data with `headstart fit` (it then keeps exemplars for the next expand)",
    )


def _memory_config(per_class: int | None) -> Any:
    """A stand-in for FitConfig in `memory_section` (only `memory` is read)."""
    return FitConfig(memory=per_class)


class _Holder:
    def __init__(self, model: Model, memory: ExemplarMemory | None) -> None:
        self.labels = model.labels
        self.memory = memory
        self._model = model

    def manifest(self) -> dict[str, Any]:
        return self._model.manifest()


def _as_memory_holder(expansion: Expansion) -> Any:
    return _Holder(expansion.model, expansion.memory)


# ---------------------------------------------------------------- per strategy


def _expand(
    predictor: Predictor,
    manifest: dict[str, Any],
    memory: ExemplarMemory | None,
    train: Dataset,
    labels: list[str],
    per_class: int | None,
    config: ExpandConfig,
) -> Expansion:
    name = manifest["strategy"]["name"]
    model = predictor.model
    model = getattr(model, "inner", model)
    if name == "linear":
        assert isinstance(model, FeatureHeadModel)
        return _expand_linear(model, manifest, memory, train, labels, per_class, config)
    if name == "zero-shot":
        assert isinstance(model, FeatureHeadModel)
        return _expand_zero_shot(model, manifest, train, labels, config)
    if isinstance(model, FinetuneModel):
        return _expand_finetune(model, manifest, memory, train, labels, per_class, config)
    raise StrategyError(
        f"expand does not support bundles of strategy {name!r}",
        expected="a linear, zero-shot (texts) or fine-tuned (partial:K, full, scratch) bundle",
        fix="refit on old + new data with `headstart fit`",
    )


def _run_options(config: ExpandConfig) -> dict[str, Any]:
    return {
        "threads": config.threads,
        "batch_size": config.batch_size,
        "on_bad": config.on_bad,
        "progress": config.progress,
    }


def _expand_linear(
    parent: FeatureHeadModel,
    manifest: dict[str, Any],
    memory: ExemplarMemory | None,
    train: Dataset,
    labels: list[str],
    per_class: int | None,
    config: ExpandConfig,
) -> Expansion:
    if memory is None or memory.kind != "features":
        raise _no_memory_error(manifest, degraded=False)
    assert parent.backbone is not None and train.labels is not None
    x = extract_features(parent.backbone, train, **_run_options(config))
    y_new = np.array([train.labels[i] for i in x.kept])
    old_labels = list(manifest["labels"])
    y_old = np.array([old_labels[t] for t in memory.targets])
    memory_features = memory.feature_matrix()
    X = np.concatenate([memory_features, x.features])
    y = np.concatenate([y_old, y_new])
    C = parent_C(manifest)
    head = LinearHead(kind=manifest["head"]["kind"], C=C, seed=config.seed).fit(X, y)
    _reorder(head, labels)
    model = LinearStrategy()._model(parent.backbone, head, config.threads, config.batch_size)

    target_of = {label: i for i, label in enumerate(labels)}
    fresh = feature_memory(x.features, y_new, labels, per_class)
    new_memory = merge_memories(memory, fresh, per_class)
    before = parent.head.predict_proba(memory_features).argmax(axis=1)
    after = head.predict_proba(memory_features).argmax(axis=1)
    checks = _checks(before, after, memory.targets)
    y_targets = np.array([target_of[v] for v in y])
    kept = "all the old training items" if memory.complete else f"{len(memory)} stored exemplar(s) of the old classes"
    notes = [f"linear head refit on {kept} and {len(x.kept)} new item(s)"]
    if C is not None:
        notes.append(f"C={C:g} reused from the parent (no new cross-validated search)")
    return Expansion(
        model=model,
        memory=new_memory,
        method="linear refit on stored exemplar features + new data",
        n_train=len(y_targets),
        notes=notes,
        skipped=x.skipped,
        checks=checks,
        head_extra={"C_source": "parent" if C is not None else "cross-validation"},
    )


def parent_C(manifest: dict[str, Any]) -> float | None:
    """The parent's regularisation C, when it was fixed by the user or chosen by cross-validation, else None.

    Reused because the old classes' data, usually most of the refit's, is what it was tuned on, while a new
    search fits 3 folds × 3 values on all of it (on banking77, 24 s of a 28 s head fit). A parent with a class
    too small for cross-validation took C=1 by default rather than by search, so then the search runs again.
    """
    fixed = (manifest.get("config") or {}).get("C")
    if fixed:
        return float(fixed)
    counts = (manifest["head"].get("memory") or {}).get("class_counts") or {}
    chosen = manifest["head"].get("C")
    if not chosen or not counts or min(counts.values()) < MIN_PER_CLASS_FOR_CV:
        return None
    return float(chosen)


def _reorder(head: LinearHead, labels: list[str]) -> None:
    """Put the head's rows in `labels` order (old labels first, new appended) instead of sorted order."""
    classes = [str(c) for c in head.classes_]
    if classes == labels:
        return
    if head.coef_.shape[0] == 1:
        raise StrategyError("a binary linear head cannot be reordered", fix="report this as a bug")
    order = [classes.index(label) for label in labels]
    head.coef_ = head.coef_[order]
    head.intercept_ = head.intercept_[order]
    head.classes_ = np.array(labels)


def _checks(before: np.ndarray, after: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Forgetting checks on the old classes' stored exemplars (training items, so not a test)."""
    if len(targets) == 0:
        return {}
    return {
        "on": "the old classes' stored exemplars (trained on: a forgetting check, not a test)",
        "n": int(len(targets)),
        "parent_accuracy": float((before == targets).mean()),
        "accuracy": float((after == targets).mean()),
        "agreement_with_parent": float((before == after).mean()),
    }


def _expand_zero_shot(
    parent: FeatureHeadModel, manifest: dict[str, Any], train: Dataset, labels: list[str], config: ExpandConfig
) -> Expansion:
    head = parent.head
    if not isinstance(head, LabelSimilarityHead):
        raise StrategyError(
            "expand cannot grow an image zero-shot bundle: its labels map onto the backbone's pretraining "
            "classes, and new examples do not fit that head",
            expected="a linear, fine-tuned or text zero-shot bundle",
            fix="fit a linear model on old + new data with `headstart fit DATA --strategy linear`",
        )
    assert parent.backbone is not None and train.labels is not None
    x = extract_features(parent.backbone, train, **_run_options(config))
    unit = _l2(x.features)
    y = np.array([train.labels[i] for i in x.kept])
    old_labels = list(manifest["labels"])
    vectors = [np.asarray(v, dtype=np.float64) for v in head.label_vectors]
    label_texts = dict(head.label_texts)
    prototypes: dict[str, Any] = dict(manifest["head"].get("prototypes") or {})
    for label in labels:
        rows = unit[y == label]
        if not len(rows):
            continue
        if label in old_labels:  # --update: the label text counts as one example beside the new ones
            i = old_labels.index(label)
            previous = int((prototypes.get(label) or {}).get("n", 0))
            vectors[i] = vectors[i] * (previous + 1) + rows.sum(axis=0)
            prototypes[label] = {"n": previous + len(rows), "with_label_text": label in head.label_texts}
        else:
            vectors.append(rows.mean(axis=0))
            label_texts[label] = f"(prototype of {len(rows)} example(s))"
            prototypes[label] = {"n": len(rows), "with_label_text": False}
    new_head = LabelSimilarityHead(_l2(np.stack(vectors)), label_texts, head.temperature)
    model = FeatureHeadModel(
        parent.backbone, new_head, labels, manifest["strategy"], "zero-shot", config.threads, config.batch_size
    )
    notes = [
        "zero-shot: new classes are prototypes (mean normalised embedding of their examples); old label "
        "embeddings are unchanged. Prototypes of examples can sit closer to texts than label names do, so "
        "check old-class accuracy with `headstart evaluate`"
    ]
    return Expansion(
        model=model,
        memory=None,
        method="zero-shot label prototypes appended",
        n_train=len(x.kept),
        notes=notes,
        skipped=x.skipped,
        head_extra={"prototypes": prototypes},
    )


def balanced_weights(targets: np.ndarray, n_classes: int) -> torch.Tensor:
    """Per-class loss weights n / (k · n_c) over the k classes present (1 for absent ones).

    An old class is present only through its few stored exemplars, a new one through all its items: unweighted,
    the grown head learns that prior and pushes old-class items into new classes (the bias of class-incremental
    learning; Wu et al. 2019, Zhao et al. 2020). Weighted, each class counts as much as in a balanced retrain.
    """
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


class DistillationLoss:
    """Class-weighted cross-entropy on all classes + weight × T² × KL(parent ‖ model) on the old classes' outputs."""

    def __init__(
        self,
        teacher: nn.Module,
        n_old: int,
        temperature: float,
        weight: float,
        smoothing: float,
        class_weight: torch.Tensor | None = None,
    ) -> None:
        self.teacher = teacher.eval()
        self.n_old = n_old
        self.temperature = temperature
        self.weight = weight
        self.smoothing = smoothing
        self.class_weight = class_weight

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = nn.functional.cross_entropy(logits, target, weight=self.class_weight, label_smoothing=self.smoothing)
        if self.weight == 0:
            return loss
        with torch.no_grad():
            old = self.teacher(state)
        t = self.temperature
        kl = nn.functional.kl_div(
            nn.functional.log_softmax(logits[:, : self.n_old] / t, dim=1),
            nn.functional.softmax(old / t, dim=1),
            reduction="batchmean",
        )
        return loss + self.weight * t * t * kl


def _fit_config(manifest: dict[str, Any], config: ExpandConfig, per_class: int | None) -> FitConfig:
    """The parent's fit options with this run's runtime options (for the strategy's data helpers)."""
    saved = {k: v for k, v in (manifest.get("config") or {}).items() if k in FitConfig.model_fields}
    saved.update(
        threads=config.threads,
        batch_size=config.batch_size,
        on_bad=config.on_bad,
        progress=config.progress,
        seed=config.seed,
        out=config.out,
        memory=per_class,
        resume=False,
        track=False,
    )
    return FitConfig(**saved)


def _grow(
    parent: TopNet, student: TopNet, n_old: int, data: Any, batch_size: int, seed: int, class_weight: torch.Tensor
) -> None:
    """Copy the parent into `student` with a bigger head that computes the same old-class logits.

    The feature standardisation is re-estimated on `data` (old exemplars + new items: features of new classes
    can be far outside the parent's statistics) and the old rows are rescaled so their logits do not change.
    New rows are imprinted: the new class's mean standardised feature, scaled like the old rows.
    """
    pooled, targets = _pooled(parent, data, batch_size, seed)
    mean, scale = pooled.mean(dim=0), pooled.std(dim=0).clamp_min(1e-6)
    state = {k: v.clone() for k, v in parent.state_dict().items()}
    weight, bias = state.pop("head.weight"), state.pop("head.bias")
    old_mean, old_scale = state.pop("mean"), state.pop("scale")
    # w·(f - m)/s + b == w'·(f - m')/s' + b'  with  w' = w·s'/s  and  b' = b + w·(m' - m)/s
    new_weight = weight * scale / old_scale
    new_bias = bias + weight @ ((mean - old_mean) / old_scale)
    student.load_state_dict(state, strict=False)
    with torch.no_grad():
        student.mean.copy_(mean)
        student.scale.copy_(scale)
        student.head.weight[:n_old] = new_weight
        student.head.bias[:n_old] = new_bias
        if student.head.out_features > n_old:
            z = (pooled - mean) / scale
            k = student.head.out_features - n_old
            rows_w, rows_b = _fit_new_rows(z, targets, new_weight, new_bias, k, class_weight)
            student.head.weight[n_old:] = rows_w
            student.head.bias[n_old:] = rows_b


def _fit_new_rows(
    z: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    k: int,
    class_weight: torch.Tensor | None = None,
    l2: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """New head rows by logistic regression with the old rows' logits fixed (a convex warm start).

    Without it a new row starts far below the old logits on its own items (old heads can be very confident
    on unfamiliar inputs), and the fine-tuning that follows spends its few epochs undoing that.
    """
    with torch.no_grad():
        fixed = z @ weight.T + bias
        means = torch.stack([z[targets == len(bias) + j].mean(dim=0) for j in range(k)])
    new_w = (nn.functional.normalize(means, dim=1) * weight.norm(dim=1).mean()).clone().requires_grad_(True)
    new_b = torch.full((k,), float(bias.mean()), requires_grad=True)
    optimizer = torch.optim.LBFGS([new_w, new_b], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = torch.cat([fixed, z @ new_w.T + new_b], dim=1)
        loss = nn.functional.cross_entropy(logits, targets, weight=class_weight) + l2 * new_w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return new_w.detach(), new_b.detach()


@torch.no_grad()
def _pooled(top: TopNet, data: Any, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features of the parent network (before standardisation) and targets, unaugmented order."""
    top.eval()
    features, targets = [], []
    for state, target in data.batches(batch_size, epoch=None, seed=seed):
        features.append(top.features(state))
        targets.append(target)
    return torch.cat(features), torch.cat(targets)


def _expand_finetune(
    parent: FinetuneModel,
    manifest: dict[str, Any],
    memory: ExemplarMemory | None,
    train: Dataset,
    labels: list[str],
    per_class: int | None,
    config: ExpandConfig,
) -> Expansion:
    if memory is None and not config.allow_forgetting:
        raise _no_memory_error(manifest, degraded=True)
    backbone, cut = parent.backbone, parent.cut
    assert backbone is not None and train.labels is not None
    strategy = get_strategy(manifest["strategy"]["name"])
    assert isinstance(strategy, GradientStrategy)
    fit_config = _fit_config(manifest, config, per_class)
    n_old = len(manifest["labels"])
    target_of = {label: i for i, label in enumerate(labels)}

    def encode(values: list[str]) -> np.ndarray:
        return np.array([target_of[v] for v in values], dtype=np.int64)

    if head_only(config, memory):
        return _expand_head_only(parent, memory, train, labels, fit_config, config)
    notes: list[str] = []

    fit_part, validation = train, None
    if min(train.class_counts().values()) >= 2 and len(train) >= 5:
        parts = split_dataset(train, test_size=VALIDATION_FRACTION, seed=config.seed)
        fit_part, validation = parts.train, parts.test
        notes.append(f"held out {len(validation)} new item(s) for early stopping")
    rehearsing = memory is not None and len(memory) > 0
    # the new items' unaugmented activations: kept in the new bundle's memory and, when rehearsing, trained on
    fresh = activation_memory(backbone, train, cut, fit_config, labels) if rehearsing else None
    new_data, n_new, skipped, _ = strategy._training_data(
        backbone, fit_part, cut, fit_config, encode, evaluation=rehearsing
    )
    val_data = (
        strategy._training_data(backbone, validation, cut, fit_config, encode, evaluation=True)[0]
        if validation is not None
        else None
    )
    rehearsal = None
    train_data: Any = new_data
    if memory is not None and rehearsing:
        notes.append(
            "new items train on unaugmented activations, like the stored ones: augmented new items beside "
            "unaugmented old ones teach the network that augmentation means a new class"
        )
        key = activation_key(backbone, cut)
        rehearsal = ActivationData([[v] for v in memory.values], memory.targets, backbone.modality, key)
        assert isinstance(new_data, ActivationData)
        train_data = ActivationData(
            [*new_data.views, *rehearsal.views],
            np.concatenate([new_data.targets, rehearsal.targets]),
            backbone.modality,
            key,
        )
    else:
        notes.append(
            "no stored exemplars: trained on the new data only (--allow-forgetting); the old classes are kept "
            "only by distillation on the new data, so expect them to degrade — check with `headstart evaluate`"
        )

    teacher = copy.deepcopy(parent.top).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = build_top(backbone, cut, len(labels), pretrained=True)
    class_weight = balanced_weights(train_data.targets, len(labels))
    _grow(parent.top, student, n_old, train_data, config.batch_size, config.seed, class_weight)

    trainer_options = manifest["strategy"].get("trainer") or {}
    lr = config.lr or LR_FACTOR * float(trainer_options.get("lr") or strategy.default_lr)
    ratio = float(trainer_options.get("lr_ratio") or 10.0)
    trainer_config = TrainerConfig(
        max_epochs=config.max_epochs or DEFAULT_EPOCHS, batch_size=config.batch_size, seed=config.seed
    )
    torch.manual_seed(config.seed)
    loss = DistillationLoss(
        teacher, n_old, config.temperature, config.distill_weight, trainer_config.label_smoothing, class_weight
    )
    trainer = Trainer(
        student,
        _with_head(strategy.param_groups(student, lr, ratio), student, lr),
        trainer_config,
        frozen=frozen_batchnorm(student),
        callbacks=[
            EarlyStopping(patience=DEFAULT_PATIENCE if config.patience is None else config.patience),
            ProgressBar(f"expand {strategy.name}", len(train_data), enabled=config.progress),
        ],
        loss=loss,
    )
    state = trainer.fit(train_data, val_data)
    if state.stop_reason:
        notes.append(state.stop_reason)
    refit = None
    if config.head_refit and rehearsal is not None and fresh is not None:
        both = ActivationData(
            [*rehearsal.views, *[[v] for v in fresh.values]],
            np.concatenate([rehearsal.targets, fresh.targets]),
            backbone.modality,
            rehearsal.key,
        )
        pooled, targets = _pooled(student, both, config.batch_size, config.seed)
        refit = _refit_head(student, pooled, targets, labels, config)
        notes.append(
            f"head refit as a class-balanced logistic regression (C={refit['C']:g}, cross-validated) on the "
            f"tuned network's features of {len(rehearsal)} stored and {len(fresh)} new item(s)"
        )
    strategy_manifest = {
        **manifest["strategy"],
        "expand": {
            "lr": lr,
            "lr_ratio": ratio,
            "max_epochs": trainer_config.max_epochs,
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch,
            "distillation": {"temperature": config.temperature, "weight": config.distill_weight, "on": "old classes"},
            "rehearsal_items": len(rehearsal) if rehearsal is not None else 0,
            "head_refit": refit,
            "class_weights": "balanced: n / (k · n_c) over the classes in new data + rehearsal",
            "param_groups": trainer.describe_groups(),
        },
    }
    model = FinetuneModel(backbone, student, cut, labels, strategy_manifest)
    model.threads, model.batch_size = config.threads, config.batch_size

    new_memory = None
    checks: dict[str, Any] = {}
    if memory is not None and len(memory):
        new_memory = merge_memories(memory, fresh, per_class)
        assert rehearsal is not None
        before, after = _predict(teacher, rehearsal, config), _predict(student, rehearsal, config)
        checks = _checks(before, after, memory.targets)
    method = (
        "grown head + rehearsal on stored activations + distillation (LwF)"
        if rehearsal is not None
        else "grown head + new data only + distillation (forgetting allowed)"
    )
    return Expansion(
        model=model,
        memory=new_memory,
        method=method,
        n_train=n_new + (len(rehearsal) if rehearsal is not None else 0),
        history=state.history,
        notes=notes,
        skipped=skipped,
        checks=checks,
    )


def head_only(config: ExpandConfig, memory: ExemplarMemory | None) -> bool:
    """Whether a fine-tuned expand skips the gradient phase: by default yes when the bundle stores activations and
    no training option (`max_epochs`, `lr`, `patience`, `head_refit=False`) is given.

    On flowers (partial:2, 3 seeds) the head-only refit matched the retrain (all-class 0.738 vs 0.736) at ~6
    CPU s, while 1, 2 or up to 8 epochs first reached 0.734, 0.732, 0.731 at 11, 14, 19 CPU s.
    """
    training = [
        name
        for name, given in (
            ("--max-epochs", config.max_epochs is not None),
            ("--lr", config.lr is not None),
            ("--patience", config.patience is not None),
            ("--no-head-refit", not config.head_refit),
        )
        if given
    ]
    if config.head_only is None:
        return memory is not None and len(memory) > 0 and not training
    if config.head_only and training:
        raise UsageError(
            f"{', '.join(training)} set(s) the gradient phase, which --head-only skips",
            expected="either --head-only, or training options with --tune-stages",
            fix=f"drop {', '.join(training)}, or replace --head-only by --tune-stages",
        )
    return config.head_only


def _expand_head_only(
    parent: FinetuneModel,
    memory: ExemplarMemory | None,
    train: Dataset,
    labels: list[str],
    fit_config: FitConfig,
    config: ExpandConfig,
) -> Expansion:
    """No gradient phase: the parent's tuned stages are kept and only the grown head is fitted, as the class-
    balanced logistic regression of `_refit_head`, on the parent's pooled features of the stored + new items.

    Costs one unaugmented extraction of the new items, one forward pass of the trainable stages over stored +
    new items, and one cross-validated linear fit; the old classes' features are exactly the parent's.
    """
    if memory is None or not len(memory):
        raise UsageError(
            "--head-only refits the head on the old classes' stored activations, and this bundle keeps none",
            expected="a partial:K bundle fitted with exemplar memory (the default; not --memory 0)",
            fix="drop --head-only (add --allow-forgetting to train on the new data only), or refit on all data "
            "with `headstart fit`",
        )
    backbone, cut = parent.backbone, parent.cut
    assert backbone is not None
    # the new items under the parent's bound, like the stored ones: with `fit --memory 20` on flowers (seed 0),
    # refitting on 20 herded old items per class beside *every* new item gave all-class 0.591 (old 0.415)
    # against 0.624 (old 0.602) with 20 herded new items per class too
    fresh = activation_memory(backbone, train, cut, fit_config, labels)
    if fresh is None:
        raise DataError(
            "no item of NEW_DATA could be read for --head-only",
            expected="readable examples of the new classes",
            fix="check the files (see the skipped items), or pass --on-bad error to see the first failure",
        )
    key = activation_key(backbone, cut)
    both = ActivationData(
        [[v] for v in [*memory.values, *fresh.values]],
        np.concatenate([memory.targets, fresh.targets]),
        backbone.modality,
        key,
    )
    student = build_top(backbone, cut, len(labels), pretrained=True)
    kept = {
        k: v for k, v in parent.top.state_dict().items() if not k.startswith("head.") and k not in ("mean", "scale")
    }
    student.load_state_dict(kept, strict=False)
    pooled, targets = _pooled(student, both, config.batch_size, config.seed)
    refit = _refit_head(student, pooled, targets, labels, config)
    notes = [
        "head only (the default; --tune-stages trains the last stages first): the parent's tuned stages are "
        f"kept and the grown head is a class-balanced logistic regression (C={refit['C']:g}, cross-validated) "
        f"on their features of {len(memory)} stored and {len(fresh)} new item(s)"
    ]
    if len(fresh) < len(train):
        notes.append(f"{len(train) - len(fresh)} new item(s) unreadable or over the memory bound: not used")
    strategy_manifest = {
        **parent.manifest()["strategy"],
        "expand": {"head_only": True, "epochs_run": 0, "rehearsal_items": len(memory), "head_refit": refit},
    }
    model = FinetuneModel(backbone, student, cut, labels, strategy_manifest)
    model.threads, model.batch_size = config.threads, config.batch_size
    old = pooled[: len(memory)]
    with torch.no_grad():
        before = _head_answers(parent.top, old)
        after = _head_answers(student, old)
    return Expansion(
        model=model,
        memory=merge_memories(memory, fresh, fit_config.memory),
        method="grown head refit on the parent's features of stored activations + new data (head only)",
        n_train=len(both),
        notes=notes,
        checks=_checks(before, after, memory.targets),
    )


def _head_answers(top: TopNet, pooled: torch.Tensor) -> np.ndarray:
    """Argmax of `top`'s standardisation + head on pooled features (what `top` answers for their items)."""
    return top.head((pooled - top.mean) / top.scale).argmax(dim=1).numpy()


class RefitHead(LinearHead):
    """Logistic regression whose cross-validated C also searches 10x below the linear strategy's grid.

    The tuned network was trained on the very items the head is refit on, so their features separate better
    than unseen ones will; the search then asks for the strongest regularisation on offer.
    """

    grid = (0.001, 0.003, 0.01, 0.1)

    def _choose_C(self, Xs: np.ndarray, y: np.ndarray, folds: Any) -> float:
        if folds is None:
            return 1.0
        scores = np.zeros(len(self.grid))
        for train, held_out in folds.split(Xs, y):
            model = self._estimator(self.grid[0]).set_params(warm_start=True)
            for j, C in enumerate(self.grid):
                model.set_params(C=C).fit(Xs[train], y[train])
                scores[j] += self._score(model, Xs[held_out], y[held_out])
        return float(self.grid[int(np.argmax(scores))])


def _refit_head(
    student: TopNet, pooled: torch.Tensor, targets: torch.Tensor, labels: list[str], config: ExpandConfig
) -> dict[str, Any]:
    """Replace the student's head (and feature standardisation) by a class-balanced logistic regression with C
    chosen by cross-validation, fitted on the tuned network's pooled features (`_pooled`) of stored + new items.

    The gradient phase learns good features but a poorly placed old/new boundary: its few epochs start from the
    parent's head, with the old classes seen only through stored items. A convex, balanced fit on the final
    features places it as a retrain's head would (flowers, seed 0: all-class 0.678 → 0.700; the retrain: 0.701).
    """
    y = np.array(labels)[targets.numpy()]
    head = RefitHead(class_weight="balanced", seed=config.seed).fit(pooled.numpy(), y)
    _reorder(head, labels)
    student.init_head_from(head)
    return {
        "on": "tuned pooled features of the stored + new items (unaugmented)",
        "n": int(len(y)),
        "C": float(head.C_),
        "class_weight": "balanced",
    }


@torch.no_grad()
def _with_head(groups: list[dict[str, Any]], student: TopNet, lr: float) -> list[dict[str, Any]]:
    """`groups` plus the grown head at `lr` when the strategy's groups leave it out.

    `contrastive` trains its body with no head (its head is a logistic regression fitted afterwards), so its
    groups hold only stages; an expansion must still train the head's new rows.
    """
    grouped = {id(p) for group in groups for p in group["params"]}
    head = [p for p in student.head.parameters() if id(p) not in grouped]
    return [*groups, {"name": "head", "params": head, "lr": lr}] if head else groups


def _predict(top: nn.Module, data: ActivationData, config: ExpandConfig) -> np.ndarray:
    top.eval()
    out = [top(state).argmax(dim=1).numpy() for state, _ in data.batches(config.batch_size, epoch=None, seed=0)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------- metrics


def _evaluate(expansion: Expansion, test: Dataset | None, labels: list[str], config: ExpandConfig) -> dict[str, Any]:
    metrics: dict[str, Any] = {"old_class_exemplars": expansion.checks or None}
    if test is None or not len(test):
        metrics["test"] = None
        return metrics
    result = expansion.model.predict_dataset(test, on_bad=config.on_bad, progress=config.progress, cache=True)
    assert test.labels is not None
    report = classification_report([test.labels[i] for i in result.kept], result.proba, labels)
    metrics["test"] = {
        **report.to_dict(),
        "evaluated_on": "the held-out part of NEW_DATA only (new/updated classes); run `headstart evaluate` on "
        "a test set with every class for the full picture",
    }
    return metrics
