"""The `auto` strategy: rank candidate backbones and cuts on the training data, pick a strategy, delegate.

`decide` is the whole decision rule, a pure function of a score table, the labels per class, the time
budget and the data's shape (modality, classes, items, words per text). The rules, applied in order (first match
wins):

- R0 no labels → `zero-shot` with the first candidate (scores need labels).
- RC texts with at most CONTRASTIVE_MAX_CLASSES classes and at least CONTRASTIVE_OVER_ZERO_SHOT labels per
  class, when contrastive's estimated CPU time fits (the time budget, else CONTRASTIVE_MAX_SECONDS) →
  `contrastive`: with that many labels the tuned body beats label names and the probe (BENCHMARKS.md, "`auto`
  on texts").
- RZ zero-shot, which learns nothing, is more accurate on the labelled training items than the cross-validated
  kNN vote of the frozen features at the best backbone's last cut (a cheap stand-in for, and usually below, the
  linear probe) → `zero-shot`: training would not beat label names. A tie goes to training: the kNN vote
  underrates the probe (BENCHMARKS.md, "`auto` against the best fixed strategy").
- RC texts with at most CONTRASTIVE_MAX_CLASSES classes and at least CONTRASTIVE_MIN_LABELS labels per class,
  when the estimate fits → `contrastive`: on few-class texts it leads or ties the probe; with many classes it
  trails the probe at many times its cost, so the probe stays (BENCHMARKS.md, "`auto` on texts").
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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.backbones import get_backbone, list_backbones
from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality
from headstart.errors import HeadstartError, StrategyError
from headstart.strategies.base import FitInputs, Model, Section, Strategy, TrainReport
from headstart.transferability import ScoreRow, rank, sort_rows, subsample

if TYPE_CHECKING:
    from headstart.manifest import Manifest

FEW_LABELS = 100
CONTRASTIVE_MAX_CLASSES = 10
CONTRASTIVE_MIN_LABELS = 8
CONTRASTIVE_OVER_ZERO_SHOT = 64
CONTRASTIVE_MAX_SECONDS = 1800.0  # without a time budget: what `auto` may spend tuning the body
# CPU seconds per training item for contrastive's 10 epochs at REFERENCE_WORDS words per text (1 thread; sst2
# 64/class: 38-43 CPU s for 128 items of ~10 words); cost grows about linearly with the words per text
CONTRASTIVE_SECONDS_PER_ITEM = 0.33
REFERENCE_WORDS = 10.0
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


@dataclass(frozen=True)
class DataShape:
    """What the rules read about the training data besides the scores."""

    modality: str
    n_classes: int
    n_items: int
    words_per_item: float | None = None  # mean words per text (None for images)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def contrastive_seconds(shape: DataShape) -> float:
    """Estimated CPU seconds of `contrastive` (its default 10 epochs, 1 thread) on data of this shape."""
    words = max(REFERENCE_WORDS, shape.words_per_item or REFERENCE_WORDS)
    return shape.n_items * CONTRASTIVE_SECONDS_PER_ITEM * words / REFERENCE_WORDS


def _contrastive_fits(shape: DataShape | None, n_per_class: int, time_budget: float | None) -> str | None:
    """Why `contrastive` suits these texts (RC), or None when it does not."""
    if shape is None or not get_modality(shape.modality).accepts_texts or n_per_class < CONTRASTIVE_MIN_LABELS:
        return None
    if not 2 <= shape.n_classes <= CONTRASTIVE_MAX_CLASSES:
        return None
    seconds, allowed = contrastive_seconds(shape), time_budget or CONTRASTIVE_MAX_SECONDS
    if seconds > allowed:
        return None
    return (
        f"texts, {shape.n_classes} classes (<= {CONTRASTIVE_MAX_CLASSES}), {n_per_class} labels per class: "
        f"`contrastive` tunes the body on them (estimated {seconds:.0f} CPU s <= {allowed:.0f} s)"
    )


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
    shape: DataShape | None = None,
) -> Decision:
    """The decision rule of the module docstring, on a score table (rows for any backbones and cuts).

    `n_per_class` is the smallest number of training labels of a class; `zero_shot_accuracy` is zero-shot's
    accuracy on the labelled training items (None: not measured, RZ is skipped); `shape` (None: unknown, RC is
    skipped) the data's modality, classes, items and words per text. When R4 needs the intermediate cuts
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
    contrastive = _contrastive_fits(shape, n_per_class, time_budget)
    if contrastive and n_per_class >= CONTRASTIVE_OVER_ZERO_SHOT:
        return Decision("contrastive", best.backbone, 1, "RC", f"{contrastive}; {what}")
    if zero_shot_accuracy is not None and not np.isnan(knn) and zero_shot_accuracy > knn:
        reason = (
            f"zero-shot is right on {zero_shot_accuracy:.3f} of the labelled items, more than the frozen features' "
            f"cross-validated kNN accuracy ({knn:.3f}): training would not beat the label names; {what}"
        )
        return Decision("zero-shot", best.backbone, None, "RZ", reason)
    if contrastive:
        return Decision("contrastive", best.backbone, 1, "RC", f"{contrastive}; {what}")
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


def data_shape(train: Dataset) -> DataShape:
    """The modality, classes, items and (texts) mean words per item of `train`, for the rules."""
    words = (
        float(np.mean([len(str(t).split()) for t in train.items]))
        if get_modality(train.modality).accepts_texts and len(train)
        else None
    )
    return DataShape(train.modality, len(train.class_counts()), len(train), words)


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
    default = get_modality(modality).default_backbone
    return installed or ([default] if default else [])


@dataclass
class AutoSection(Section):
    """What `auto` chose and why, with the scores it read: the manifest's `strategy.auto`."""

    decision: Decision
    data: dict[str, Any]  # the DataShape the rules read: modality, classes, items, words per text
    contrastive_seconds_estimate: float | None  # RC's estimate of contrastive's CPU time on these texts
    metric: str
    candidates: list[str]
    labels_per_class_min: int
    time_budget: float | None
    items_ranked: int
    rank_seconds: float
    zero_shot_train_accuracy: float | None
    zero_shot_seconds: float
    scores: list[dict[str, Any]]
    rules: dict[str, float]
    notes: list[str]
    key = "auto"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": self.decision.to_dict()}

    def lines(self) -> list[str]:
        """What auto chose and what it measured, for the fit's notes."""
        decision = self.decision
        lines = [f"auto chose {decision.strategy} on {decision.backbone} (rule {decision.rule}): {decision.reason}"]
        if self.scores:
            table = ", ".join(
                f"{r['backbone']}@{r['stage']} {self.metric}={_number(r['scores'].get(self.metric))}"
                for r in self.scores[:6]
            )
            lines.append(f"auto ranked {len(self.scores)} (backbone, cut) pair(s) in {self.rank_seconds:.1f}s: {table}")
        if self.zero_shot_train_accuracy is not None:
            lines.append(
                f"auto measured zero-shot on the ranked items: accuracy {self.zero_shot_train_accuracy:.3f} "
                f"({self.zero_shot_seconds:.1f}s, included above)"
            )
        return lines


def _number(value: Any) -> str:
    return "nan" if value is None else f"{float(value):.3f}"


@dataclass
class _Ranking:
    rows: list[ScoreRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    zero_shot: float | None = None  # zero-shot's accuracy on the ranked sample
    zero_shot_seconds: float = 0.0


class AutoStrategy(Strategy):
    """Rank candidates on the training data, apply `decide`, then fit with the chosen strategy.

    It returns the chosen strategy's model itself, with an `AutoSection` saying why (`Model.chosen_by`)."""

    name = "auto"
    choices_names = ("zero-shot", "linear", "partial", "full", "contrastive")  # what `decide` may pick
    chooser_options = frozenset({"candidates", "time_budget"})
    checkpoints = True  # the strategy it picks may train by gradient
    needs_backbone = False  # it picks the backbone itself (--backbone or --backbones narrow the choice)
    description = "rank backbones and cuts (LogME, kNN, ...), then pick zero-shot, linear, partial:K or full"
    metric = "logme"
    metrics = ("logme", "knn")  # only the scores the rules read (H-score, NCE and LEEP would add time, not choices)

    def __init__(self, choices: Mapping[str, Strategy]) -> None:
        self.choices = dict(choices)

    def uses(self, modality: str | None = None, task: str | None = None) -> frozenset[str]:
        """Its own options and every option it might hand to the strategy it picks."""
        handed = frozenset().union(*(c.uses(modality, task) for c in self.choices.values()))
        return self.chooser_options | handed | {"resume"}

    def resolve(self, spec: str) -> tuple[Strategy, dict[str, Any]]:
        """A decision's strategy spec (`partial:2`) as one of the strategies it may choose, and its parameters."""
        name, sep, arg = spec.partition(":")
        return self.choices[name], ({"arg": arg} if sep else {})

    def choose(self, inputs: FitInputs) -> AutoSection:
        """Rank the candidates on `inputs.train` and apply `decide`: what `fit` then trains, and why."""
        started = time.perf_counter()
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        names = candidate_backbones(train.modality, config.backbone, getattr(config, "candidates", None))
        counts = train.class_counts()
        n_per_class = min(counts.values()) if counts else 0
        sample = subsample(train, RANK_MAX_ITEMS, seed=config.seed)
        shape = data_shape(train)
        ranking = _Ranking()
        if n_per_class > 0:
            self._rank(ranking, sample, names, "last", config)
        first: dict[str, Any] = {"metric": self.metric, "candidates": names, "shape": shape}
        decision = decide(ranking.rows, n_per_class, config.time_budget, **first)
        # from CONTRASTIVE_OVER_ZERO_SHOT labels per class RC precedes RZ: zero-shot cannot change the choice
        if n_per_class > 0 and not (decision.rule == "RC" and n_per_class >= CONTRASTIVE_OVER_ZERO_SHOT):
            ranking.zero_shot = self._zero_shot_accuracy(sample, str(decision.backbone), config, ranking)
        decide_with = {**first, "zero_shot_accuracy": ranking.zero_shot}
        decision = decide(ranking.rows, n_per_class, config.time_budget, **decide_with)
        if decision.rule not in ("R0", "RZ", "RC", "R1", "R2", "R3") and needs_cuts(
            ranking.rows, str(decision.backbone)
        ):
            self._rank(ranking, sample, [str(decision.backbone)], "all", config)
            decision = decide(ranking.rows, n_per_class, config.time_budget, **decide_with)
        ranking.seconds = time.perf_counter() - started
        return self._section(decision, ranking, names, n_per_class, len(sample), config.time_budget, shape)

    def fit(self, inputs: FitInputs) -> Model:
        section = self.choose(inputs)
        decision, config = section.decision, inputs.config
        remaining = None if config.time_budget is None else max(1.0, config.time_budget - section.rank_seconds)
        chosen = config.model_copy(
            update={"strategy": decision.strategy, "backbone": decision.backbone, "time_budget": remaining}
        )
        strategy, params = self.resolve(decision.strategy)
        backbone = get_backbone(decision.backbone) if strategy.needs_backbone and decision.backbone else None
        model = strategy.fit(
            FitInputs(train=inputs.train, backbone=backbone, config=chosen, params=params, validation=inputs.validation)
        )
        report = model.report or TrainReport(n_train=len(inputs.train))
        report.notes = [*section.lines(), *report.notes]
        model.report = report
        model.chosen_by = section
        return model

    def _zero_shot_accuracy(self, sample: Dataset, name: str, config: Any, ranking: _Ranking) -> float | None:
        """Zero-shot's accuracy on the labelled sample (unbiased: it learns nothing from them), or None."""
        started = time.perf_counter()
        strategy, params = self.resolve("zero-shot")
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

    def _section(
        self,
        decision: Decision,
        ranking: _Ranking,
        names: Sequence[str],
        n_per_class: int,
        n_ranked: int,
        time_budget: float | None,
        shape: DataShape,
    ) -> AutoSection:
        return AutoSection(
            decision=decision,
            data=shape.to_dict(),
            contrastive_seconds_estimate=contrastive_seconds(shape)
            if get_modality(shape.modality).accepts_texts
            else None,
            metric=self.metric,
            candidates=list(names),
            labels_per_class_min=n_per_class,
            time_budget=time_budget,
            items_ranked=n_ranked,
            rank_seconds=ranking.seconds,
            zero_shot_train_accuracy=ranking.zero_shot,
            zero_shot_seconds=ranking.zero_shot_seconds,
            scores=[r.to_dict() for r in sort_rows(ranking.rows, self.metric)],
            rules={
                "few_labels": FEW_LABELS,
                "tight_budget_seconds": TIGHT_BUDGET_SECONDS,
                "good_knn": GOOD_KNN,
                "many_labels": MANY_LABELS,
                "full_budget_seconds": FULL_BUDGET_SECONDS,
                "contrastive_max_classes": CONTRASTIVE_MAX_CLASSES,
                "contrastive_min_labels": CONTRASTIVE_MIN_LABELS,
                "contrastive_over_zero_shot": CONTRASTIVE_OVER_ZERO_SHOT,
                "contrastive_max_seconds": CONTRASTIVE_MAX_SECONDS,
                "contrastive_seconds_per_item": CONTRASTIVE_SECONDS_PER_ITEM,
            },
            notes=ranking.notes,
        )

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> Model:
        """Bundles record the chosen strategy's name; this runs only for a manifest edited by hand."""
        chosen = (manifest.strategy.auto or {}).get("decision", {}).get("strategy", "linear")
        return self.resolve(chosen)[0].load(manifest, tensors, backbone)
