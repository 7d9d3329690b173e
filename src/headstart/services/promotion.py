"""The promotion gate: does a candidate model beat the current one on the same labelled data, class by class?"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headstart.bundle import PROMOTION_FILE
from headstart.errors import PromotionRefused, UsageError
from headstart.metrics import ClassificationReport
from headstart.tasks.metrics import FieldsReport

# +1: higher is better, -1: lower is better
METRICS = {"accuracy": 1.0, "macro_f1": 1.0, "ece": -1.0, "entity_f1": 1.0, "entity_precision": 1.0, "entity_recall": 1.0}
GateReport = ClassificationReport | FieldsReport  # classes are checked class by class, fields field by field
ALIAS = "production"


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UsageError(
            f"metric={metric!r} is not a promotion metric",
            expected=f"one of {', '.join(METRICS)}",
            fix="pass --metric macro_f1 (or accuracy, ece)",
        )
    return metric


@dataclass
class ClassChange:
    """One class's F1 under both models."""

    label: str
    current: float
    candidate: float
    support: int

    @property
    def change(self) -> float:
        return self.candidate - self.current

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "current_f1": self.current,
            "candidate_f1": self.candidate,
            "change": self.change,
            "support": self.support,
        }


@dataclass
class PromotionResult:
    """Both models' metrics on the same data, per-class F1 changes, and the decision with its reasons."""

    candidate: str
    current: str
    data: str
    metric: str
    margin: float
    class_tolerance: float
    current_metrics: dict[str, float]
    candidate_metrics: dict[str, float]
    classes: list[ClassChange]
    promoted: bool
    reasons: list[str]
    regressed: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # labels of either model with no example in the data
    n: int = 0
    recorded: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def improvement(self) -> float:
        """How much better the candidate is on `metric` (positive = better, whatever the metric's direction)."""
        sign = METRICS[self.metric]
        return sign * (self.candidate_metrics[self.metric] - self.current_metrics[self.metric])

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": self.promoted,
            "reasons": self.reasons,
            "candidate": self.candidate,
            "current": self.current,
            "data": self.data,
            "n": self.n,
            "metric": self.metric,
            "margin": self.margin,
            "class_tolerance": self.class_tolerance,
            "improvement": self.improvement,
            "current_metrics": self.current_metrics,
            "candidate_metrics": self.candidate_metrics,
            "classes": [c.to_dict() for c in self.classes],
            "regressed_classes": self.regressed,
            "unchecked_classes": self.unchecked,
            "recorded": self.recorded,
            "notes": self.notes,
        }


def refusal(result: PromotionResult) -> PromotionRefused:
    """The error `promote` raises when the gate stays closed; it carries the whole comparison."""
    return PromotionRefused(
        f"{result.candidate!r} is not promoted over {result.current!r}: {'; '.join(result.reasons)}",
        expected=f"{result.metric} better by at least {result.margin:g} and no class's F1 "
        f"lower by more than {result.class_tolerance:g}",
        fix=(
            "pass data with examples of every class, or --allow-missing-classes to accept the gap"
            if result.unchecked and not result.regressed and result.improvement >= result.margin - 1e-12
            else "improve the candidate (more labels, another strategy), or state a looser --margin/--class-tolerance"
        ),
        comparison=result.to_dict(),
    )


def _summary(report: GateReport) -> dict[str, float]:
    if isinstance(report, FieldsReport):
        s = report.scores
        return {"entity_f1": s.f1, "entity_precision": s.precision, "entity_recall": s.recall}
    return {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "ece": report.ece}


def _per_class(report: GateReport) -> dict[str, dict[str, Any]]:
    """Per class: its F1 and support; per field of a fields report: its exact-match rate and documents."""
    if isinstance(report, FieldsReport):
        return {name: {"f1": c.exact_match, "support": c.documents} for name, c in report.per_field.items()}
    return report.per_class


def decide(
    candidate: GateReport,
    current: GateReport,
    *,
    names: tuple[str, str, str],
    metric: str = "macro_f1",
    margin: float = 0.01,
    class_tolerance: float = 0.05,
    allow_missing_classes: bool = False,
) -> PromotionResult:
    """Compare two reports on the same data; `names` = (candidate, current, data) for messages.

    A class either model knows but the data has no example of cannot be checked for a regression: the gate
    stays closed unless `allow_missing_classes`, and the result names those classes either way.
    """
    check_metric(metric)
    new, old = _per_class(candidate), _per_class(current)
    labels = [
        label
        for label in sorted(set(new) | set(old))
        if max(new.get(label, {}).get("support", 0), old.get(label, {}).get("support", 0))
    ]
    classes = [
        ClassChange(
            label=label,
            current=float(old.get(label, {}).get("f1", 0.0)),
            candidate=float(new.get(label, {}).get("f1", 0.0)),
            support=int(old.get(label, {}).get("support", 0)),
        )
        for label in labels
    ]
    result = PromotionResult(
        candidate=names[0],
        current=names[1],
        data=names[2],
        metric=metric,
        margin=margin,
        class_tolerance=class_tolerance,
        current_metrics=_summary(current),
        candidate_metrics=_summary(candidate),
        classes=classes,
        promoted=False,
        reasons=[],
        n=current.n,
    )
    result.unchecked = sorted((set(new) | set(old)) - set(labels))
    eps = 1e-12
    if result.improvement < margin - eps:
        result.reasons.append(
            f"{metric} {result.candidate_metrics[metric]:.4f} vs {result.current_metrics[metric]:.4f}: "
            f"improvement {result.improvement:+.4f} is below the margin {margin:g}"
        )
    result.regressed = [c.label for c in classes if -c.change > class_tolerance + eps]
    if result.regressed:
        drops = ", ".join(
            f"{c.label} {c.current:.3f} -> {c.candidate:.3f}" for c in classes if c.label in result.regressed
        )
        result.reasons.append(f"F1 drops by more than {class_tolerance:g} for {drops}")
    if result.unchecked:
        missing = f"no example of {', '.join(result.unchecked)} in {names[2]!r}: their F1 was not checked"
        if allow_missing_classes:
            result.notes.append(missing)
        else:
            result.reasons.append(missing)
    result.promoted = not result.reasons
    if result.promoted:
        result.reasons.append(
            f"{metric} improves by {result.improvement:+.4f} (margin {margin:g}) and no class's F1 drops by more "
            f"than {class_tolerance:g}"
        )
    return result


def write_decision(result: PromotionResult, bundle: str | Path) -> Path:
    """Write `promotion.json` into the candidate bundle folder (not part of the bundle's hashed files)."""
    path = Path(bundle) / PROMOTION_FILE
    document = {"decided": datetime.now(UTC).isoformat(timespec="seconds"), **result.to_dict()}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
