"""`evaluate`: a bundle's metrics on labelled data, and what it warns about: DATA's test split, the model's own
training data, and the model's classes that DATA has no example of."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.bundle import Predictor
from headstart.bundle import load as load_bundle
from headstart.commands.reading import check_bundle_modality, data_options
from headstart.commands.summaries import figures, interval, left_out
from headstart.config import EvaluateConfig
from headstart.data import Dataset, SkippedItem, load_dataset
from headstart.data.modalities import item_digests
from headstart.errors import DataError, UsageError
from headstart.metrics import ClassificationReport
from headstart.score_names import display_name
from headstart.tasks import DEFAULT_TASK, task_report
from headstart.tasks.metrics import TaskReport


@dataclass
class EvaluateResult:
    """What `evaluate` returns: metrics plus the items that could not be used."""

    report: TaskReport
    skipped: list[SkippedItem] = field(default_factory=list)
    bundle: str = ""
    split: str = "all"  # the part of DATA scored: "test" (its test split) or "all" (every item)
    missing_classes: list[str] = field(default_factory=list)  # model classes without examples in that part
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. DATA is the data the model was fitted on
    task: str = DEFAULT_TASK  # the bundle's task kind
    modality: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "split": self.split,
            **self.report.to_dict(),
            "task": self.task,
            "modality": self.modality,
            "accuracy_interval": interval(self.report.summary()),
            "missing_classes": self.missing_classes,
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": self.notes,
            "warnings": self.warnings,
        }

    @property
    def accuracy(self) -> float | None:
        """Accuracy of a classification model (None for multi-label and regression: see `.report`)."""
        return getattr(self.report, "accuracy", None)

    @property
    def macro_f1(self) -> float | None:
        """Macro-averaged F1 over the classes or tags (None for regression: see `.report`)."""
        return getattr(self.report, "macro_f1", None)

    def __repr__(self) -> str:
        more = left_out(skipped=self.skipped, notes=self.notes, warnings=self.warnings)
        return f"EvaluateResult(bundle={self.bundle!r}, split={self.split!r}, {figures(self.report.summary())}{more})"


def evaluate(bundle: str | Path, data: str, config: EvaluateConfig) -> EvaluateResult:
    """Score the bundle at `bundle` on the labelled data at `data` (checked by the facade), as `config` says."""
    predictor = load_bundle(bundle)
    dataset = load_dataset(str(data), **data_options(config, predictor))
    check_bundle_modality(predictor, dataset)
    unknown = sorted(set(dataset.classes) - set(predictor.labels))
    if unknown:
        raise DataError(
            f"{str(data)!r} has labels the model was not trained on: {', '.join(unknown[:10])}",
            expected=f"labels among the model's: {', '.join(predictor.labels[:20])}",
            fix="remove those items, or refit the model on data with every label",
        )
    warnings = fitted_data_warnings(predictor, dataset, config.split, str(data))  # on the whole of DATA
    part, split, notes = evaluated_part(dataset, config.split, str(data), fitted=bool(warnings))
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    result = predictor.predict_dataset(part, cache=True, on_bad=config.on_bad, progress=config.progress)
    assert part.labels is not None
    y_true = [part.labels[i] for i in result.kept]
    report = task_report(predictor.task, y_true, result.proba, predictor.labels, predictor.thresholds, result.records)
    missing = missing_classes(report)
    where = f"the test split of {data}" if split == "test" else str(data)
    notes += [f"{label}: no examples in {where} (not in macro-F1){predicted_note(report, label)}" for label in missing]
    return EvaluateResult(
        report=report,
        skipped=[*dataset.skipped, *result.skipped],
        bundle=str(bundle),
        split=split,
        missing_classes=missing,
        notes=notes,
        warnings=warnings,
        task=predictor.task,
        modality=predictor.modality,
    )


def evaluated_part(
    dataset: Dataset, split: str | None, name: str, *, fitted: bool = False
) -> tuple[Dataset, str, list[str]]:
    """The items `evaluate` scores: DATA's test split when it marks one (unless `split="all"`), else every item.

    `fitted`: DATA is the model's training data, which a warning already says.
    """
    marks = Counter(s for s in dataset.splits or () if s is not None)
    if split == "test" and not marks["test"]:
        raise UsageError(
            f"{name!r} has no test split to evaluate on",
            expected="test items: a `split` column with `test` rows, or a test/ folder beside train/",
            fix="pass --split all to score every item",
        )
    if marks["test"] and split != "all":
        test = [i for i, s in enumerate(dataset.splits or ()) if s == "test"]
        note = f"scored the test split of {name}: {len(test)} of {len(dataset)} items (--split all scores every item)"
        return dataset.subset(test), "test", [note]
    others = [f"{marks[s]} marked {s}" for s in ("train", "validation") if marks[s]]
    if not others:
        return dataset, "all", []
    opening = "scored every item" if split == "all" else f"{name} has no test split, so every item was scored"
    caveat = "" if fitted else ": if this model was trained on them, this is not a held-out score"
    return dataset, "all", [f"{opening}, including {' and '.join(others)}{caveat}"]


def fitted_data_warnings(predictor: Predictor, dataset: Dataset, split: str | None, name: str) -> list[str]:
    """A warning when DATA is the very data the bundle was fitted on, unless only fit's own test split is scored."""
    recorded = predictor.manifest.data
    if not recorded.fingerprint or recorded.fingerprint != dataset.fingerprint(item_digests(dataset)):
        return []
    marks = set(dataset.splits or ())
    if split != "all" and {"train", "test"} <= marks:
        return []  # fit held out exactly DATA's test split, and only that is scored: a held-out score
    counts = recorded.counts
    held_out = f"{counts['test']} of its {counts['items']} items" if {"test", "items"} <= set(counts) else "a part"
    metric = predictor.kind.primary_metric
    score = predictor.manifest.test_metrics.get(metric)
    shown = display_name(metric)
    there = f", {shown} {score:.3f} there" if isinstance(score, int | float) else ""
    return [
        f"{name} is the data this model was fitted on (its test split is {held_out}{there}; "
        f"{_trained_part(counts, recorded.labels_per_class)}): this is not a held-out score; evaluate on "
        "data the model has not seen"
    ]


def _trained_part(counts: dict[str, int], budget: int | None) -> str:
    """What fit trained on besides its test split: the rest, or under a label budget `counts.train` items."""
    if not budget or not {"train", "test", "items"} <= set(counts):
        return "the rest were used in training"
    rest = counts["items"] - counts["test"]
    return f"{counts['train']} of the other {rest} were used in training, a budget of {budget} labels per class"


def missing_classes(report: TaskReport) -> list[str]:
    """The model's classes (tags) with no example in the scored data: left out of macro-F1."""
    per_class = getattr(report, "per_class", None) or getattr(report, "per_label", None) or {}
    return [label for label, m in per_class.items() if m["support"] == 0]


def predicted_note(report: TaskReport, label: str) -> str:
    """A suffix saying how often a class without examples was still predicted (classification), else ""."""
    if not isinstance(report, ClassificationReport) or not report.confusion_matrix:
        return ""
    column = report.labels.index(label)
    n = sum(row[column] for row in report.confusion_matrix)
    return f", but predicted for {n} item(s)" if n else ""
