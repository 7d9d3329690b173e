"""What the API functions return: `FitResult`, `EvaluateResult`, `PredictResult` (of `Prediction`s).

Each has `to_dict()` (what `--json` prints) and a short `repr` for notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.data import SkippedItem
from headstart.tasks import DEFAULT_TASK, Answer
from headstart.tasks.metrics import TaskReport


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
            "accuracy_interval": _interval(self.metrics),  # 95 % (Wilson) for classification, else null
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
            f"test: {_figures(self.metrics)}, {counts}{run}{_more(notes=self.notes)})"
        )


def _interval(summary: dict[str, Any]) -> list[float] | None:
    from headstart.tasks.metrics import interval_of  # scipy loads only when a result is written out

    return interval_of(summary)


def _figures(values: dict[str, Any]) -> str:
    """`accuracy=0.933 macro_f1=0.931 n=12`: the numbers of a metrics summary, floats to 3 places."""
    shown = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items() if _is_number(v)]
    return " ".join(shown)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _more(**lists: list[Any]) -> str:
    """`, 2 notes (.notes)` for each non-empty list: what a short repr leaves out and where to find it."""
    return "".join(f", {len(v)} {k if len(v) > 1 else k.removesuffix('s')} (.{k})" for k, v in lists.items() if v)


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
            "accuracy_interval": _interval(self.report.summary()),
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
        more = _more(skipped=self.skipped, notes=self.notes, warnings=self.warnings)
        return f"EvaluateResult(bundle={self.bundle!r}, split={self.split!r}, {_figures(self.report.summary())}{more})"


@dataclass
class Prediction:
    """One input's prediction: its id, the top label and the top-k labels with probabilities.

    Multi-label predictions carry `labels` (every tag above its threshold) instead of one label, and
    regression predictions a `value`.
    """

    id: str
    label: str | None
    probability: float | None
    top: list[tuple[str, float]]
    input: str = ""  # the text itself, or the image file's path
    task: str = "classification"
    labels: list[str] | None = None
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        answer = Answer(self.task, self.label, self.probability, self.top, self.labels, self.value)
        return {"id": self.id, "input": self.input, **answer.to_dict()}


@dataclass
class PredictResult:
    predictions: list[Prediction]
    skipped: list[SkippedItem] = field(default_factory=list)
    task: str = "classification"
    out: str | None = None  # the file the predictions were written to (`out=`), if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "predictions": [p.to_dict() for p in self.predictions],
            "skipped": [s.to_dict() for s in self.skipped],
            **({"out": self.out} if self.out else {}),
        }

    def to_frame(self, inputs: Sequence[str] = ()) -> Any:
        """The predictions as a pandas DataFrame (with `inputs`, the one predicted table's columns first)."""
        from headstart.commands.prediction_files import predictions_frame

        return predictions_frame(self, inputs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.id!r}: {_decision(p)}" for p in self.predictions[:3])
        more = ", …" if len(self.predictions) > 3 else ""
        written = f", written to {self.out!r}" if self.out else ""
        count = f"{len(self.predictions)} prediction{'' if len(self.predictions) == 1 else 's'}"
        head = f"{self.task}, {count} {{{shown}{more}}}"
        return f"PredictResult({head}{_more(skipped=self.skipped)}{written})"


def _decision(p: Prediction) -> str:
    """One prediction in a few characters: `spam (0.981)`, `[a, b]` (tags) or `3.142` (a value)."""
    if p.value is not None:
        return f"{p.value:.3f}"
    if p.labels is not None:
        return "[" + ", ".join(p.labels) + "]"
    return f"{p.label} ({p.probability:.3f})" if p.probability is not None else str(p.label)
