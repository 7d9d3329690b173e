"""The core: every CLI command and HTTP handler calls exactly one function here."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from headstart.backbones import check_modality, get_backbone
from headstart.backbones import list_backbones as _registry_list
from headstart.backbones.base import Backbone, BackboneInfo
from headstart.bundle import Predictor, save_bundle
from headstart.bundle import load as _load_bundle
from headstart.config import (
    DEFAULT_BACKBONES,
    EvaluateConfig,
    FitConfig,
    PredictConfig,
    validated,
)
from headstart.data import (
    Dataset,
    InspectReport,
    SkippedItem,
    inspect_dataset,
    labels_per_class,
    load_dataset,
    load_inputs,
    split_dataset,
)
from headstart.errors import DataError, ModalityMismatchError
from headstart.metrics import ClassificationReport, classification_report
from headstart.strategies import FitInputs, Strategy, TrainReport, resolve_strategy

PACKAGES = ("headstart", "torch", "onnxruntime", "scikit-learn", "numpy", "transformers")


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "backbone": self.backbone,
            "strategy": self.strategy,
            "metrics": self.metrics,
            "timings": self.timings,
            "counts": self.counts,
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": self.notes,
        }


@dataclass
class EvaluateResult:
    """What `evaluate` returns: metrics plus the items that could not be used."""

    report: ClassificationReport
    skipped: list[SkippedItem] = field(default_factory=list)
    bundle: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, **self.report.to_dict(), "skipped": [s.to_dict() for s in self.skipped]}


@dataclass
class Prediction:
    """One input's prediction: its id, the top label and the top-k labels with probabilities."""

    id: str
    label: str
    probability: float
    top: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "probability": self.probability,
            "top": [{"label": lab, "probability": p} for lab, p in self.top],
        }


@dataclass
class PredictResult:
    predictions: list[Prediction]
    skipped: list[SkippedItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": [p.to_dict() for p in self.predictions],
            "skipped": [s.to_dict() for s in self.skipped],
        }


def list_backbones(include_test: bool = False) -> list[BackboneInfo]:
    """Backbones installed here."""
    return _registry_list(include_test=include_test)


def inspect(data: str | Path, *, text_column: str | None = None, label_column: str | None = None) -> InspectReport:
    """Per-class counts, unreadable items, duplicates and imbalance warnings for a dataset."""
    dataset = load_dataset(str(data), text_column=text_column, label_column=label_column, on_bad="skip")
    return inspect_dataset(dataset)


def load(bundle: str | Path) -> Predictor:
    """Load a bundle for prediction."""
    return _load_bundle(bundle)


def _resolve_backbone(name: str | None, dataset: Dataset, strategy: Strategy) -> Backbone | None:
    if not strategy.needs_backbone:
        return None  # the strategy notes an unused --backbone itself
    backbone = get_backbone(name or DEFAULT_BACKBONES[dataset.modality])
    check_modality(backbone, dataset.modality)
    return backbone


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def _backbone_manifest(backbone: Backbone | None) -> dict[str, Any] | None:
    if backbone is None:
        return None
    return {
        "name": backbone.name,
        "options": getattr(backbone, "options", {}),
        "weights_sha256": backbone.weights_sha256,
        "feature_dim": backbone.feature_dim,
        "preprocess": backbone.preprocess_config(),
    }


def fit(data: str | Path, **options: Any) -> FitResult:
    """Adapt a pretrained backbone to the labelled data at `data` and save a bundle.

    Options are the fields of `FitConfig` (backbone, strategy, head, labels_per_class, seed, out, ...).
    """
    config: FitConfig = validated(FitConfig, **options)
    strategy, params = resolve_strategy(config.strategy)
    started = time.perf_counter()
    dataset = load_dataset(
        str(data), text_column=config.text_column, label_column=config.label_column, on_bad=config.on_bad
    )
    backbone = _resolve_backbone(config.backbone, dataset, strategy)
    splits = split_dataset(dataset, test_size=config.test_size, seed=config.seed)
    train = splits.train
    if config.labels_per_class is not None:
        train = labels_per_class(train, config.labels_per_class, seed=config.seed, classes=dataset.classes)
    loaded = time.perf_counter()

    model = strategy.fit(
        FitInputs(train=train, backbone=backbone, config=config, params=params, validation=splits.validation)
    )
    trained = time.perf_counter()
    tested = model.predict_dataset(splits.test, on_bad=config.on_bad, progress=config.progress, cache=True)
    assert splits.test.labels is not None
    report = classification_report([splits.test.labels[i] for i in tested.kept], tested.proba, model.labels)
    evaluated = time.perf_counter()

    train_report = model.report or TrainReport(n_train=len(train))
    notes = list(dict.fromkeys([*dataset.notes, *splits.notes, *train.notes, *train_report.notes]))
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
    manifest = {
        "task": "classification",
        "modality": dataset.modality,
        "labels": model.labels,
        "backbone": _backbone_manifest(backbone),
        **model.manifest(),
        "data": {
            "source": str(Path(data).resolve()),
            "fingerprint": dataset.fingerprint(),
            "labels_per_class": config.labels_per_class,
            "counts": counts,
            "class_counts_train": train_report.class_counts,
        },
        "metrics": {"test": report.to_dict()},
        "history": train_report.history,
        "config": config.model_dump(exclude={"progress"}),
        "seed": config.seed,
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": None,
        "energy": None,
        "notes": notes,
        "skipped": [s.to_dict() for s in skipped],
    }
    path = save_bundle(config.out, manifest, model.tensors())
    timings["save_seconds"] = time.perf_counter() - evaluated
    timings["total_seconds"] = time.perf_counter() - started
    return FitResult(
        bundle=path,
        metrics=report.summary(),
        timings=timings,
        counts=counts,
        skipped=skipped,
        notes=notes,
        backbone=backbone.name if backbone else "",
        strategy=config.strategy,
    )


def evaluate(bundle: str | Path, data: str | Path, **options: Any) -> EvaluateResult:
    """Metrics of a bundle on labelled data (which must use only the bundle's labels)."""
    config: EvaluateConfig = validated(EvaluateConfig, **options)
    predictor = _load_bundle(bundle)
    dataset = load_dataset(
        str(data), text_column=config.text_column, label_column=config.label_column, on_bad=config.on_bad
    )
    _check_bundle_modality(predictor, dataset)
    unknown = sorted(set(dataset.classes) - set(predictor.labels))
    if unknown:
        raise DataError(
            f"{str(data)!r} has labels the model was not trained on: {', '.join(unknown[:10])}",
            expected=f"labels among the model's: {', '.join(predictor.labels[:20])}",
            fix="remove those items, or refit the model on data with every label",
        )
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    result = predictor.predict_dataset(dataset, cache=True, on_bad=config.on_bad, progress=config.progress)
    assert dataset.labels is not None
    y_true = [dataset.labels[i] for i in result.kept]
    report = classification_report(y_true, result.proba, predictor.labels)
    return EvaluateResult(report=report, skipped=[*dataset.skipped, *result.skipped], bundle=str(bundle))


def _check_bundle_modality(predictor: Predictor, dataset: Dataset) -> None:
    if predictor.modality != dataset.modality:
        name = predictor.backbone.name if predictor.backbone else predictor.manifest["strategy"]["name"]
        raise ModalityMismatchError(name, predictor.modality, dataset.modality)


def predict(bundle: str | Path, inputs: list[str], **options: Any) -> PredictResult:
    """Labels with probabilities for image files/folders, a table or text file, or raw texts."""
    config: PredictConfig = validated(PredictConfig, **options)
    predictor = _load_bundle(bundle)
    dataset = load_inputs(list(inputs), modality=predictor.modality, text_column=config.text_column)
    _check_bundle_modality(predictor, dataset)
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    result = predictor.predict_dataset(dataset, on_bad=config.on_bad, progress=config.progress)
    labels = predictor.labels
    k = min(config.top_k, len(labels))
    predictions = []
    for row, index in enumerate(result.kept):
        p = result.proba[row]
        order = np.argsort(-p)[:k]
        predictions.append(
            Prediction(
                id=dataset.ids[index],
                label=labels[order[0]],
                probability=float(p[order[0]]),
                top=[(labels[j], float(p[j])) for j in order],
            )
        )
    return PredictResult(predictions=predictions, skipped=[*dataset.skipped, *result.skipped])


def create_app(bundle: str | Path, **options: Any) -> Any:
    """The HTTP service for a bundle as a FastAPI app; options are `headstart.serve.ServeConfig` fields."""
    from headstart.serve.app import create_app as _create_app

    return _create_app(bundle, **options)


def serve(
    bundle: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serve a bundle over HTTP until interrupted (uvicorn; `workers` > 1 starts that many processes)."""
    import json
    import os

    import uvicorn

    from headstart.errors import UsageError
    from headstart.runtime import default_threads
    from headstart.serve.app import ENV_SPEC
    from headstart.serve.app import create_app as _create_app
    from headstart.serve.schemas import ServeConfig

    if workers < 1:
        raise UsageError(f"workers={workers} is not a process count", expected="an integer >= 1", fix="pass --workers 1")
    if not 0 <= port <= 65535:
        raise UsageError(f"port={port} is not a TCP port", expected="0 to 65535", fix="pass --port 8000")
    if workers > 1 and options.get("threads") is None:
        options["threads"] = max(1, default_threads() // workers)  # the cores are shared by the processes
    validated(ServeConfig, **options)  # type: ignore[arg-type]
    predictor = _load_bundle(bundle)  # fail here, before any process starts, when the bundle is unusable
    if workers == 1:
        uvicorn.run(_create_app(predictor, **options), host=host, port=port, log_level=log_level)
        return
    os.environ[ENV_SPEC] = json.dumps({"bundle": str(Path(bundle).resolve()), "options": options})
    uvicorn.run(
        "headstart.serve.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def export(bundle: str | Path, *, out: str | Path | None = None, format: str = "onnx") -> Any:
    """Write the whole model as one ONNX file (default `BUNDLE/model.onnx`) plus a JSON sidecar.

    Returns an `headstart.export.ExportResult`; the export is checked against the bundle (max abs diff).
    """
    from headstart.export import export_bundle

    predictor = _load_bundle(bundle)
    return export_bundle(predictor, Path(bundle) / "model.onnx" if out is None else out, format=format)
