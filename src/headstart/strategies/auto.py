"""The `auto` strategy: rank candidate backbones and cuts on the training data, pick a strategy, delegate.

`decide` is the whole decision rule, a pure function of a score table, the labels per class and the time
budget. The rules, applied in order (first match wins):

- R0 no labels → `zero-shot` with the first candidate (scores need labels).
- RZ zero-shot, which learns nothing, is more accurate on the labelled training items than the cross-validated
  kNN vote of the frozen features at the best backbone's last cut (a cheap stand-in for, and usually below, the
  linear probe) → `zero-shot`: training would not beat label names. A tie goes to training: the kNN vote
  underrates the probe (BENCHMARKS.md, "`auto` against the best fixed strategy").
- R1 fewer than FEW_LABELS labels per class → `linear` on the backbone with the best score at its last cut:
  below that, fine-tuning did not beat the probe by more than the seed spread on the benchmarks, at many times
  its cost (bench/archive/2026-11-25-auto-rules.md).
- R2 a time budget under TIGHT_BUDGET_SECONDS → `linear` on that backbone (fine-tuning on a CPU would not
  finish a useful number of epochs).
- R3 the frozen features already separate the classes (kNN cross-validated accuracy at the last cut ≥
  GOOD_KNN) → `linear`: little left for fine-tuning to gain.
- R4 an earlier cut of that backbone scores higher than its last cut → `partial:K` retraining the K stages
  after the best cut: the late stages are too specific to the pretraining task.
- R5 at least MANY_LABELS labels per class and no budget, or one ≥ FULL_BUDGET_SECONDS → `full`.
- R6 otherwise → `partial:1`: adapt the last stage and the head, a cheap step beyond the probe.

The fitted model is the chosen strategy's model; its manifest says that strategy's name (so its loader
rebuilds it) and carries the reasoning in `strategy.auto`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from headstart.backbones import get_backbone, list_backbones
from headstart.backbones.base import Backbone
from headstart.config import DEFAULT_BACKBONES
from headstart.data.dataset import Dataset
from headstart.errors import StrategyError
from headstart.strategies.base import DatasetPrediction, FitInputs, Model, Strategy, TrainReport
from headstart.transferability import ScoreRow, rank, sort_rows, subsample

FEW_LABELS = 100
TIGHT_BUDGET_SECONDS = 300.0
GOOD_KNN = 0.9
MANY_LABELS = 100
FULL_BUDGET_SECONDS = 1800.0
RANK_MAX_ITEMS = 1000  # ranking reads at most this many training items (stratified subsample)


@dataclass
class Decision:
    """What `auto` chose and why."""

    strategy: str  # a strategy spec, e.g. "linear" or "partial:2"
    backbone: str | None
    cut: int | None  # stages[0:cut] stay frozen (the last cut for linear)
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _score(row: ScoreRow, metric: str) -> float:
    value = row.scores.get(metric)
    return float("nan") if value is None else float(value)


def decide(
    rows: Sequence[ScoreRow],
    n_per_class: int,
    time_budget: float | None = None,
    *,
    metric: str = "logme",
    candidates: Sequence[str] = (),
    zero_shot_accuracy: float | None = None,
) -> Decision:
    """The decision rule of the module docstring, on a score table (rows for any backbones and cuts).

    `n_per_class` is the smallest number of training labels of a class; `zero_shot_accuracy` is zero-shot's
    accuracy on the labelled training items (None: not measured, RZ is skipped). When R4 needs the intermediate cuts
    of the chosen backbone and the table has only its last cut, R4 is skipped; `auto` ranks those cuts
    first (see `needs_cuts`).
    """
    if n_per_class <= 0:
        name = candidates[0] if candidates else (rows[0].backbone if rows else None)
        return Decision("zero-shot", name, None, "R0", "no labelled examples: zero-shot is the only option")
    last_rows = [r for r in rows if r.is_last and not np.isnan(_score(r, metric))]
    if not last_rows:
        raise StrategyError(
            f"auto has no {metric} score at the last cut of any candidate",
            expected="at least one candidate backbone ranked at its last cut",
            fix="pass --backbones with installed backbones of the data's modality",
        )
    best = sort_rows(last_rows, metric)[0]
    n = best.n_stages
    what = f"{best.backbone} has the best {metric} at its last cut ({_score(best, metric):.3f})"
    knn = _score(best, "knn")
    if zero_shot_accuracy is not None and not np.isnan(knn) and zero_shot_accuracy > knn:
        reason = (
            f"zero-shot is right on {zero_shot_accuracy:.3f} of the labelled items, more than the frozen features' "
            f"cross-validated kNN accuracy ({knn:.3f}): training would not beat the label names; {what}"
        )
        return Decision("zero-shot", best.backbone, None, "RZ", reason)
    if n_per_class < FEW_LABELS:
        reason = f"{n_per_class} labels per class < {FEW_LABELS}: a linear probe; {what}"
        return Decision("linear", best.backbone, n, "R1", reason)
    if time_budget is not None and time_budget < TIGHT_BUDGET_SECONDS:
        reason = f"time budget {time_budget:.0f}s < {TIGHT_BUDGET_SECONDS:.0f}s: a linear probe; {what}"
        return Decision("linear", best.backbone, n, "R2", reason)
    if not np.isnan(knn) and knn >= GOOD_KNN:
        reason = f"frozen features already separate the classes (kNN accuracy {knn:.3f} >= {GOOD_KNN}); {what}"
        return Decision("linear", best.backbone, n, "R3", reason)
    own = [r for r in rows if r.backbone == best.backbone and not np.isnan(_score(r, metric))]
    top = sort_rows(own, metric)[0]
    if top.cut < n:
        k = n - top.cut
        reason = (
            f"{what}, but its cut {top.stage} (stage {top.cut}/{n}) scores higher ({_score(top, metric):.3f}): "
            f"keep stages 1-{top.cut} frozen and retrain the last {k}"
        )
        return Decision(f"partial:{k}", best.backbone, top.cut, "R4", reason)
    budget_ok = time_budget is None or time_budget >= FULL_BUDGET_SECONDS
    if n_per_class >= MANY_LABELS and budget_ok:
        reason = f"{n_per_class} labels per class >= {MANY_LABELS} and time to spare: full fine-tuning; {what}"
        return Decision("full", best.backbone, 0, "R5", reason)
    reason = f"{n_per_class} labels per class: fine-tune the last stage and the head; {what}"
    return Decision("partial:1", best.backbone, n - 1, "R6", reason)


def needs_cuts(rows: Sequence[ScoreRow], backbone: str) -> bool:
    """Whether the table lacks the intermediate cuts of `backbone` (R4 needs them)."""
    return not any(r.backbone == backbone and not r.is_last for r in rows)


def candidate_backbones(modality: str, backbone: str | None, candidates: Sequence[str] | None) -> list[str]:
    """`candidates` if given, else `backbone`, else every installed (non-test) backbone of the modality."""
    if candidates:
        return list(candidates)
    if backbone:
        return [backbone]
    installed = [i.name for i in list_backbones() if i.modality == modality]
    return installed or [DEFAULT_BACKBONES[modality]]


class AutoModel(Model):
    """The chosen strategy's model, with the auto reasoning added to its manifest."""

    def __init__(self, inner: Model, record: dict[str, Any]) -> None:
        self.inner = inner
        self.record = record
        self.labels = inner.labels
        self.backbone = inner.backbone
        self.report = inner.report

    def __getattr__(self, name: str) -> Any:  # threads, batch_size, head... of the inner model
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        return self.inner.predict_dataset(dataset, on_bad=on_bad, progress=progress, cache=cache)

    def embed_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> Any:
        return self.inner.embed_dataset(dataset, on_bad=on_bad, progress=progress, cache=cache)

    def manifest(self) -> dict[str, Any]:
        manifest = dict(self.inner.manifest())
        manifest["strategy"] = {**manifest["strategy"], "auto": self.record}
        return manifest

    def tensors(self) -> dict[str, np.ndarray]:
        return self.inner.tensors()

    def export_module(self) -> Any:
        return self.inner.export_module()


@dataclass
class _Ranking:
    rows: list[ScoreRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    zero_shot: float | None = None  # zero-shot's accuracy on the ranked sample
    zero_shot_seconds: float = 0.0


class AutoStrategy(Strategy):
    """Rank candidates on the training data, apply `decide`, then fit with the chosen strategy."""

    name = "auto"
    needs_backbone = False  # it picks the backbone itself (--backbone or --backbones narrow the choice)
    description = "rank backbones and cuts (LogME, kNN, ...), then pick zero-shot, linear, partial:K or full"
    metric = "logme"
    metrics = ("logme", "knn")  # only the scores the rules read (H-score, NCE and LEEP would add time, not choices)

    def fit(self, inputs: FitInputs) -> Model:
        from headstart.strategies import resolve_strategy

        started = time.perf_counter()
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        names = candidate_backbones(train.modality, config.backbone, getattr(config, "candidates", None))
        counts = train.class_counts()
        n_per_class = min(counts.values()) if counts else 0
        sample = subsample(train, RANK_MAX_ITEMS, seed=config.seed)
        ranking = _Ranking()
        if n_per_class > 0:
            self._rank(ranking, sample, names, "last", config)
        decision = decide(ranking.rows, n_per_class, config.time_budget, metric=self.metric, candidates=names)
        if n_per_class > 0:
            ranking.zero_shot = self._zero_shot_accuracy(sample, str(decision.backbone), config, ranking)
        decide_with = {"metric": self.metric, "candidates": names, "zero_shot_accuracy": ranking.zero_shot}
        decision = decide(ranking.rows, n_per_class, config.time_budget, **decide_with)
        if decision.rule not in ("R0", "RZ", "R1", "R2", "R3") and needs_cuts(ranking.rows, str(decision.backbone)):
            self._rank(ranking, sample, [str(decision.backbone)], "all", config)
            decision = decide(ranking.rows, n_per_class, config.time_budget, **decide_with)
        ranking.seconds = time.perf_counter() - started

        remaining = None if config.time_budget is None else max(1.0, config.time_budget - ranking.seconds)
        chosen = config.model_copy(
            update={"strategy": decision.strategy, "backbone": decision.backbone, "time_budget": remaining}
        )
        strategy, params = resolve_strategy(decision.strategy)
        backbone = get_backbone(decision.backbone) if strategy.needs_backbone and decision.backbone else None
        inner = strategy.fit(
            FitInputs(train=train, backbone=backbone, config=chosen, params=params, validation=inputs.validation)
        )
        record = self._record(decision, ranking, names, n_per_class, len(sample), config.time_budget)
        report = inner.report or TrainReport(n_train=len(train))
        report.notes = [*self._notes(decision, ranking), *report.notes]
        inner.report = report
        return AutoModel(inner, record)

    def _zero_shot_accuracy(self, sample: Dataset, name: str, config: Any, ranking: _Ranking) -> float | None:
        """Zero-shot's accuracy on the labelled sample (unbiased: it learns nothing from them), or None."""
        from headstart.errors import HeadstartError
        from headstart.strategies import resolve_strategy

        started = time.perf_counter()
        strategy, params = resolve_strategy("zero-shot")
        chosen = config.model_copy(update={"strategy": "zero-shot", "backbone": name, "time_budget": None})
        try:
            model = strategy.fit(
                FitInputs(train=sample, backbone=get_backbone(name), config=chosen, params=params, validation=None)
            )
            pred = model.predict_dataset(sample, on_bad=config.on_bad, progress=False, cache=True)
        except HeadstartError as err:
            ranking.notes.append(f"zero-shot was not measured (rule RZ skipped): {err}")
            return None
        assert sample.labels is not None
        labels = np.asarray(model.labels)
        truth = np.asarray([sample.labels[i] for i in pred.kept])
        ranking.zero_shot_seconds = time.perf_counter() - started
        return float(np.mean(labels[np.argmax(pred.proba, axis=1)] == truth)) if len(truth) else None

    def _rank(self, ranking: _Ranking, data: Dataset, names: Sequence[str], cuts: str, config: Any) -> None:
        known = {(r.backbone, r.cut) for r in ranking.rows}
        result = rank(
            data,
            names,
            cuts,
            metric=self.metric,
            metrics=self.metrics,
            threads=config.threads,
            batch_size=config.batch_size,
            on_bad=config.on_bad,
            progress=config.progress,
            seed=config.seed,
        )
        ranking.rows += [r for r in result.rows if (r.backbone, r.cut) not in known]
        ranking.notes = list(dict.fromkeys([*ranking.notes, *result.notes]))

    def _record(
        self,
        decision: Decision,
        ranking: _Ranking,
        names: Sequence[str],
        n_per_class: int,
        n_ranked: int,
        time_budget: float | None,
    ) -> dict[str, Any]:
        return {
            "decision": decision.to_dict(),
            "metric": self.metric,
            "candidates": list(names),
            "labels_per_class_min": n_per_class,
            "time_budget": time_budget,
            "items_ranked": n_ranked,
            "rank_seconds": ranking.seconds,
            "zero_shot_train_accuracy": ranking.zero_shot,
            "zero_shot_seconds": ranking.zero_shot_seconds,
            "scores": [r.to_dict() for r in sort_rows(ranking.rows, self.metric)],
            "rules": {
                "few_labels": FEW_LABELS,
                "tight_budget_seconds": TIGHT_BUDGET_SECONDS,
                "good_knn": GOOD_KNN,
                "many_labels": MANY_LABELS,
                "full_budget_seconds": FULL_BUDGET_SECONDS,
            },
            "notes": ranking.notes,
        }

    def _notes(self, decision: Decision, ranking: _Ranking) -> list[str]:
        lines = [
            f"auto chose {decision.strategy} on {decision.backbone} (rule {decision.rule}): {decision.reason}",
        ]
        if ranking.rows:
            table = ", ".join(
                f"{r.backbone}@{r.stage} {self.metric}={_score(r, self.metric):.3f}"
                for r in sort_rows(ranking.rows, self.metric)[:6]
            )
            lines.append(f"auto ranked {len(ranking.rows)} (backbone, cut) pair(s) in {ranking.seconds:.1f}s: {table}")
        if ranking.zero_shot is not None:
            lines.append(
                f"auto measured zero-shot on the ranked items: accuracy {ranking.zero_shot:.3f} "
                f"({ranking.zero_shot_seconds:.1f}s, included above)"
            )
        return lines

    def load(self, manifest: dict[str, Any], tensors: dict[str, np.ndarray], backbone: Backbone | None) -> Model:
        """Bundles record the chosen strategy's name; this runs only for a manifest edited by hand."""
        from headstart.strategies import get_strategy

        chosen = manifest["strategy"].get("auto", {}).get("decision", {}).get("strategy", "linear")
        return get_strategy(chosen.partition(":")[0]).load(manifest, tensors, backbone)
