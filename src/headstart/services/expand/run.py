"""`expand_bundle`: load the parent and NEW_DATA, dispatch to the strategy's expansion, evaluate, save the child."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.numpy import load_file

from headstart.bundle import HEAD_WEIGHTS, MANIFEST, Predictor, save_bundle
from headstart.bundle import load as load_bundle
from headstart.config import ExpandConfig, FitConfig
from headstart.data import Dataset, load_dataset, split_dataset
from headstart.data.dataset import SkippedItem, file_sha256
from headstart.data.modalities import item_digests
from headstart.errors import DataError, ModalityMismatchError, StrategyError, UsageError
from headstart.manifest import Manifest, build_manifest
from headstart.metrics import classification_report
from headstart.provenance import package_versions
from headstart.services.expand.common import ExpandInputs, Expansion, no_memory_error
from headstart.services.expand.head import expand_head_only, head_only
from headstart.services.expand.linear import expand_linear
from headstart.services.expand.tune import expand_finetune
from headstart.services.expand.zero_shot import expand_zero_shot
from headstart.strategies import all_strategies, get_strategy
from headstart.strategies.base import Expansion as StrategyExpansion
from headstart.strategies.base import Model, class_counts
from headstart.strategies.feature_model import FeatureHeadModel
from headstart.strategies.finetune import FinetuneModel
from headstart.strategies.memory import ExemplarMemory, memory_section


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
    if Path(config.out).resolve() == parent_path:
        raise UsageError(
            f"--out {str(config.out)!r} is the bundle being expanded",
            expected="a new folder for the grown model: the parent stays as it is, and the child's lineage names it",
            fix=f"pass e.g. --out {parent_path.name}-v2 (and point your service at it once `headstart evaluate` "
            "is happy)",
        )
    predictor = load_bundle(parent_path)
    manifest = predictor.manifest
    dataset = _load_new_data(data, predictor, config)
    old_labels = list(manifest.labels)
    added, updated = plan_changes(old_labels, dataset.classes, update=config.update)
    labels = [*old_labels, *added]
    train, test, notes = _split(dataset, config)
    tensors = load_file(str(parent_path / HEAD_WEIGHTS))
    memory = ExemplarMemory.from_bundle(manifest.head.memory, tensors, dataset.modality)
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
        "rehearsal": expansion.rehearsal if expansion.rehearsal is not None else len(memory) if memory else 0,
        "classes": len(labels),
        "skipped": len(skipped),
    }
    parent = {
        "path": str(parent_path),
        "manifest_sha256": file_sha256(parent_path / MANIFEST),
        "created": manifest.created,
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
        head["memory_reason"] = manifest.head.memory_reason or reason
    new_manifest = build_manifest(
        task=manifest.task,
        modality=manifest.modality,
        labels=labels,
        model_sections={**model_manifest, "head": head},
        backbone=manifest.backbone.to_dict() if manifest.backbone else None,
        data={
            "source": str(Path(data).resolve()),
            "fingerprint": dataset.fingerprint(item_digests(dataset)),
            "counts": counts,
            "class_counts_train": class_counts([train.labels[i] for i in range(len(train))]) if train.labels else {},
        },
        targets=manifest.targets.to_dict() if manifest.targets else None,
        versions=package_versions(),
        metrics=metrics,
        history=expansion.history,
        config=manifest.config,
        expand_config=config.model_dump(exclude={"progress"}),
        seed=config.seed,
        parent=parent,
        changes=changes,
        notes=notes,
        skipped=[s.to_dict() for s in skipped],
    )
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
        name = predictor.backbone.name if predictor.backbone else predictor.manifest.strategy.name
        raise ModalityMismatchError(name, predictor.modality, dataset.modality, model=True)
    if dataset.labels is None or not dataset.classes:
        raise DataError(
            f"{str(data)!r} has no labels",
            expected="labelled examples of the new classes (class folders, or a label column)",
            fix="pass --label-column NAME, or lay images out as <root>/<class>/<file>",
        )
    return dataset


def plan_changes(old_labels: list[str], new_classes: list[str], *, update: bool) -> tuple[list[str], list[str]]:
    """(added, updated) classes of NEW_DATA.

    Without `update`, every class must be new: an existing one usually means a mislabelled folder, so it is an
    error that names it. With `update`, examples of existing classes are welcome, alone or beside new classes.
    """
    known = set(old_labels)
    existing = [c for c in new_classes if c in known]
    unknown = [c for c in new_classes if c not in known]
    if existing and not update:
        raise UsageError(
            f"class(es) {', '.join(existing[:20])} already exist in the bundle",
            expected="only classes the bundle does not predict yet (or --update to add examples of existing ones)",
            fix="pass --update to add these examples to the existing classes too, or rename/remove those items",
        )
    return unknown, existing if update else []


def _split(dataset: Dataset, config: ExpandConfig) -> tuple[Dataset, Dataset | None, list[str]]:
    """A stratified held-out part of NEW_DATA for the metrics (none when `test_size` is 0 or too little data)."""
    if config.test_size <= 0:
        return dataset, None, ["no held-out split of NEW_DATA (--test-size 0): no metrics"]
    try:
        parts = split_dataset(dataset, test_size=config.test_size, seed=config.seed)
    except DataError:
        return dataset, None, ["NEW_DATA is too small to hold out a test split: no metrics"]
    return parts.train, parts.test, list(parts.notes)


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
    manifest: Manifest,
    memory: ExemplarMemory | None,
    train: Dataset,
    labels: list[str],
    per_class: int | None,
    config: ExpandConfig,
) -> Expansion:
    """Grow the parent with the handler its strategy declares (`Strategy.expansion`)."""
    name = manifest.strategy.name
    expansion = get_strategy(name).expansion
    if expansion is None:
        able = ", ".join(s.name for s in all_strategies() if s.expansion)
        raise StrategyError(
            f"expand does not support bundles of strategy {name!r}",
            expected=f"a bundle of a strategy that can grow: {able}",
            fix="refit on old + new data with `headstart fit`",
        )
    return EXPANDERS[expansion](predictor.model, ExpandInputs(manifest, memory, train, labels, per_class, config))


def _expand_feature_head(model: Model, inputs: ExpandInputs) -> Expansion:
    assert isinstance(model, FeatureHeadModel)
    return expand_linear(model, inputs)


def _expand_label_similarity(model: Model, inputs: ExpandInputs) -> Expansion:
    assert isinstance(model, FeatureHeadModel)
    return expand_zero_shot(model, inputs)


def _expand_finetuned(model: Model, inputs: ExpandInputs) -> Expansion:
    """Head only (the parent's stored activations) or the last stages too; never without rehearsal unless allowed."""
    assert isinstance(model, FinetuneModel)
    if inputs.memory is None and not inputs.config.allow_forgetting:
        raise no_memory_error(inputs.manifest, degraded=True)
    if head_only(inputs.config, inputs.memory):
        return expand_head_only(model, inputs)
    return expand_finetune(model, inputs)


EXPANDERS: dict[StrategyExpansion, Callable[[Model, ExpandInputs], Expansion]] = {
    "feature-head": _expand_feature_head,
    "label-similarity": _expand_label_similarity,
    "finetuned": _expand_finetuned,
}


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
