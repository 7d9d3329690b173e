"""`fit`: adapt a pretrained backbone to labelled data, score it on a held-out test split, save a bundle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart import tracking
from headstart.backbones import get_backbone
from headstart.backbones.base import Backbone
from headstart.bundle import check_output_folder, save_bundle
from headstart.commands.reading import data_options
from headstart.commands.summaries import figures, interval, left_out
from headstart.config import FitConfig
from headstart.data import Dataset, SkippedItem, labels_per_class, load_dataset, split_dataset
from headstart.data.inspect import data_warnings
from headstart.data.modalities import get_modality, item_digests
from headstart.engines import use_engine
from headstart.errors import UsageError
from headstart.manifest import build_manifest
from headstart.provenance import package_versions
from headstart.strategies import FitInputs, Strategy, TrainReport, check_strategy_task, for_task, resolve_strategy
from headstart.strategies.base import check_backbone_modality, merge_validation
from headstart.strategies.memory import memory_section
from headstart.strategies.options import applicable_params, ignored_option_notes
from headstart.strategies.resume import refuse_checkpoint_overwrite
from headstart.tasks import DEFAULT_TASK, DEFAULT_THRESHOLD, Outputs, get_task, task_report
from headstart.train.callbacks import discard_checkpoint


@dataclass
class FitResult:
    """What `fit` returns and `headstart fit --json` prints."""

    bundle: Path
    metrics: dict[str, Any]
    timings: dict[str, float]
    counts: dict[str, int]
    skipped: list[SkippedItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backbone: str = ""
    strategy: str = ""
    run_id: str | None = None
    trained: str = ""  # the strategy the bundle holds (differs from `strategy` for auto)
    task: str = DEFAULT_TASK  # the task kind, as detected or forced
    modality: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "run_id": self.run_id,
            "task": self.task,
            "modality": self.modality,
            "backbone": self.backbone,
            "strategy": self.strategy,
            "trained": self.trained or self.strategy,
            "metrics": self.metrics,
            "accuracy_interval": interval(self.metrics),  # 95 % (Wilson) for classification, else null
            "timings": self.timings,
            "counts": self.counts,
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": self.notes,
        }

    def __repr__(self) -> str:
        strategy = self.strategy if self.trained in ("", self.strategy) else f"{self.strategy} -> {self.trained}"
        counts = " ".join(f"{k}={self.counts[k]}" for k in ("train", "test", "classes", "skipped") if k in self.counts)
        run = f", run_id={self.run_id!r}" if self.run_id else ""
        return (
            f"FitResult(bundle={str(self.bundle)!r}, strategy={strategy!r}, backbone={self.backbone!r}, "
            f"test: {figures(self.metrics)}, {counts}{run}{left_out(notes=self.notes)})"
        )


def fit(data: str, config: FitConfig) -> FitResult:
    """Fit `config.strategy` on the data at `data` (checked by the facade) and save the bundle at `config.out`."""
    strategy, params = resolve_strategy(config.strategy)
    check_output_folder(config.out)  # before training, not after: the save would refuse the same folder
    refuse_checkpoint_overwrite(config, strategy)  # an interrupted fit's checkpoint: --resume, or delete it
    started = time.perf_counter()
    dataset = load_dataset(str(data), **data_options(config))
    check_strategy_task(strategy, dataset.task)
    strategy = for_task(strategy, dataset.task)  # `linear` on documents is the fields tagger
    backbone = resolve_backbone(config.backbone, dataset, strategy)
    digests = item_digests(dataset)  # once: copies, fingerprint and tracking
    splits = split_dataset(dataset, test_size=config.test_size, seed=config.seed, digests=digests)
    train = splits.train
    if config.labels_per_class is not None:
        train = labels_per_class(train, config.labels_per_class, seed=config.seed, classes=dataset.classes)
    inputs, merged = merge_validation(  # linear and baseline cross-validate on train: validation joins it
        strategy, FitInputs(train=train, backbone=backbone, config=config, params=params, validation=splits.validation)
    )
    train = inputs.train
    loaded = time.perf_counter()

    with use_engine(config.engine, address=config.ray_address, threads=config.threads):  # extraction runs there
        model = strategy.fit(inputs)
        trained = time.perf_counter()
        backbone = backbone or model.backbone  # `auto` picks its backbone while fitting
        tested = model.predict_dataset(splits.test, on_bad=config.on_bad, progress=config.progress, cache=True)
    assert splits.test.labels is not None
    y_test = [splits.test.labels[i] for i in tested.kept]
    report = task_report(dataset.task, y_test, tested.proba, model.labels, model.thresholds, tested.records)
    evaluated = time.perf_counter()

    train_report = model.report or TrainReport(n_train=len(train))
    data_notes = [*dataset.notes, *data_warnings(dataset, digests), *splits.notes, *merged, *train.notes]
    truncation = getattr(backbone, "truncation_note", None)  # text backbones read a bounded number of tokens
    data_notes += [note for note in [truncation(dataset.items) if truncation else None] if note]
    notes = list(dict.fromkeys([*data_notes, *train_report.notes]))
    skipped = [*dataset.skipped, *train_report.skipped, *tested.skipped]
    counts = {
        "items": len(dataset) + len(dataset.skipped),
        "train": train_report.n_train,
        "test": len(tested.kept),
        "classes": len(model.labels),
        "skipped": len(skipped),
        "features_cached": train_report.features_cached + tested.n_cached,
        "features_computed": train_report.features_computed + tested.n_computed,
    }
    timings = {
        "load_seconds": loaded - started,
        "train_seconds": trained - loaded,
        "test_seconds": evaluated - trained,
    }
    memory, memory_tensors, memory_reason = memory_section(getattr(model, "inner", model), config)
    if "memory" not in get_task(dataset.task).supports:
        memory, memory_tensors, memory_reason = None, {}, f"`headstart expand` does not support {dataset.task} models"
    counts["memory_items"], counts["memory_bytes"] = (memory["n"], memory["bytes"]) if memory else (0, 0)
    if memory_reason and "--allow-forgetting" in memory_reason:  # say it now, not when the user first expands
        notes.append(f"no exemplar memory kept: {memory_reason}")
    model_sections = model.manifest()
    head = {**model_sections["head"], "memory": memory, **({"memory_reason": memory_reason} if memory_reason else {})}
    notes.extend(ignored_option_notes(config, strategy, model_sections["strategy"], dataset.modality, dataset.task))
    manifest = build_manifest(
        task=dataset.task,
        modality=dataset.modality,
        labels=model.labels,
        model_sections={**model_sections, "head": head},
        backbone=backbone_manifest(backbone),
        data={
            "source": str(Path(data).resolve()),
            "fingerprint": dataset.fingerprint(digests),
            "labels_per_class": config.labels_per_class,
            "counts": counts,
            "class_counts_train": train_report.class_counts,
        },
        targets=target_manifest(dataset.task, config, model),
        versions=package_versions(),
        metrics={"test": report.to_dict()},
        history=train_report.history,
        config=config.model_dump(exclude={"progress"}),
        seed=config.seed,
        notes=notes,
        skipped=[s.to_dict() for s in skipped],
    )
    record = tracking.data_record(data, dataset, digests)
    params = applicable_params(config, strategy, dataset.task)
    with tracking.tracked_run("fit", params, record, enabled=config.track) as run:
        manifest.run_id = run.run_id
        manifest.tracking_uri = tracking.tracking_uri() if run.run_id else None  # where `runs show` finds it
        saving = time.perf_counter()  # total_seconds includes starting the run; save_seconds does not
        path = save_bundle(config.out, manifest, {**model.tensors(), **memory_tensors})
        discard_checkpoint(config.out)  # only now: killed while testing or saving, --resume skips the training
        timings["save_seconds"] = time.perf_counter() - saving
        timings["total_seconds"] = time.perf_counter() - started
        result = FitResult(
            bundle=path,
            metrics=report.summary(),
            timings=timings,
            counts=counts,
            skipped=skipped,
            notes=notes,
            backbone=backbone.name if backbone else "",
            strategy=config.strategy,
            run_id=run.run_id,
            trained=manifest.trained,
            task=manifest.task,
            modality=manifest.modality,
        )
        tracking.record_fit(run, config, result, manifest)
    result.notes.extend(run.problems)
    return result


def resolve_backbone(name: str | None, dataset: Dataset, strategy: Strategy) -> Backbone | None:
    """The backbone to fit on (the default one for the modality unless named); None for strategies without one.

    The modality is the data's, or the one the strategy runs a backbone of (the fields tagger embeds lines: text).
    """
    if not strategy.needs_backbone:
        return None  # the strategy notes an unused --backbone itself
    modality = strategy.backbone_modality or dataset.modality
    default = get_modality(modality).default_backbone
    if name is None and default is None:
        raise UsageError(
            f"{modality} data has no default backbone",
            expected="--backbone NAME",
            fix="pass a backbone of that modality",
        )
    backbone = get_backbone(name or default or "")
    check_backbone_modality(strategy, backbone, dataset.modality)
    return backbone


def backbone_manifest(backbone: Backbone | None) -> dict[str, Any] | None:
    """The manifest's `backbone` section: what `load` needs to rebuild and check the network."""
    if backbone is None:
        return None
    return {
        "name": backbone.name,
        "options": getattr(backbone, "options", {}),
        "weights_sha256": backbone.weights_sha256,
        "feature_dim": backbone.feature_dim,
        "preprocess": backbone.preprocess_config(),
    }


def target_manifest(task: str, config: FitConfig, model: Any) -> dict[str, Any] | None:
    """The manifest's `targets` section: tag separator and thresholds, or the regressed column."""
    outputs = get_task(task).outputs
    if outputs is Outputs.TAGS:
        limits = model.thresholds if model.thresholds is not None else [DEFAULT_THRESHOLD] * len(model.labels)
        return {"separator": config.separator, "thresholds": dict(zip(model.labels, map(float, limits), strict=True))}
    if outputs is Outputs.VALUE:
        return {"column": config.target}
    return None
