"""What every strategy provides: `fit(FitInputs) -> Model`, and `load(...)` to rebuild a saved Model.

A `Model` is what a bundle holds: it predicts probabilities for a dataset, describes itself for the
manifest, and hands its learned arrays to safetensors. The api and the bundle code only speak this
protocol, so adding a strategy adds a module, not branches elsewhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset, SkippedItem
from headstart.manifest import HeadSection, StrategySection, register_sections
from headstart.tasks import Record, get_task

if TYPE_CHECKING:
    import torch

    from headstart.config import FitConfig
    from headstart.features import Extraction
    from headstart.manifest import Manifest

# How `headstart expand` grows a strategy's bundles (expand/ maps each to its handler): refit the linear head on
# features, add label-similarity rows, or the fine-tuned head/last stages with rehearsal. None: refit instead.
Expansion = Literal["feature-head", "label-similarity", "finetuned"]


class Section(ABC):
    """A typed part of a model's manifest that the strategy which produced the model adds (e.g. `auto`'s choice)."""

    key: str  # its key in the manifest's `strategy` section

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The section as JSON-ready data."""


@dataclass
class DatasetPrediction:
    """Probabilities for the usable items of a dataset; `kept[i]` is the dataset index of row i.

    A task kind whose answer is not a row of numbers also gets `records[i]` for row i (a document's fields, with
    `proba` one confidence per field); the task's `report`, `decisions` and `answer` read them.
    """

    proba: np.ndarray
    kept: np.ndarray
    labels: list[str]
    skipped: list[SkippedItem] = field(default_factory=list)
    n_cached: int = 0
    n_computed: int = 0
    records: list[Record] | None = None
    notes: list[str] = field(default_factory=list)  # how items were read ("<id>: pages cut at 50"), for the user

    @property
    def predicted(self) -> list[str]:
        return [self.labels[i] for i in self.proba.argmax(axis=1)] if len(self.proba) else []


@dataclass
class FitInputs:
    """What a strategy may learn from: the training part only (the test split is never passed)."""

    train: Dataset
    backbone: Backbone | None
    config: FitConfig
    params: dict[str, Any] = field(default_factory=dict)  # e.g. {"arg": "2"} for partial:2
    validation: Dataset | None = None  # the data's own validation split, when it has one


@dataclass
class TrainReport:
    """What happened while fitting: items used and skipped, cache use, per-epoch history."""

    n_train: int
    skipped: list[SkippedItem] = field(default_factory=list)
    features_cached: int = 0
    features_computed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)


class Model(ABC):
    """A fitted model: `predict_dataset`, plus what a bundle needs to save and rebuild it."""

    labels: list[str]  # classes, tags (multi-label) or the one target name (regression)
    backbone: Backbone | None
    report: TrainReport | None = None
    task: str = "classification"  # what the output columns mean: softmax, independent sigmoids, or values
    thresholds: np.ndarray | None = None  # multi-label: per-tag decision thresholds tuned on held-out data
    memory: Any = None  # exemplars kept for `headstart expand` (an ExemplarMemory, see strategies/memory.py)
    chosen_by: Section | None = None  # set by a strategy that chose this model's strategy (`auto`), for the manifest

    @abstractmethod
    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        """Class probabilities (columns ordered as `labels`) for the usable items of `dataset`."""

    def embed_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> Extraction:
        """Backbone features of the usable items (models without a backbone cannot embed)."""
        raise NotImplementedError(f"{type(self).__name__} has no embedding")

    @abstractmethod
    def sections(self) -> dict[str, Any]:
        """`{"strategy": {...}, "head": {...}}`: enough, with `tensors()`, for the strategy's `load`."""

    def manifest(self) -> dict[str, Any]:
        """The model's `sections()`, with the section of the strategy that chose it (`auto`) in `strategy`."""
        sections = self.sections()
        if self.chosen_by is None:
            return sections
        strategy = {**sections["strategy"], self.chosen_by.key: self.chosen_by.to_dict()}
        return {**sections, "strategy": strategy}

    @abstractmethod
    def tensors(self) -> dict[str, np.ndarray]:
        """Learned arrays, saved with safetensors."""

    def export_module(self) -> torch.nn.Module:
        """The whole model as one torch module: `module(*inputs)` → probabilities (N, n_labels).

        Inputs are the preprocessed tensors in `backbone.input_names` order; `headstart export` compiles
        the module to a single ONNX file. Strategies that can be exported override this.
        """
        from headstart.errors import StrategyError

        name = self.sections().get("strategy", {}).get("name", type(self).__name__)
        raise StrategyError(
            f"export is not supported for strategy {name!r} yet",
            expected="a bundle of a strategy that implements export (e.g. linear)",
            fix="serve the bundle with `headstart serve`, or refit it with --strategy linear to export it",
        )

    exports_folder: ClassVar[bool] = False  # True: `export_folder` writes several files instead of one ONNX

    def export_folder(self, folder: Path, bundle_info: dict[str, Any]) -> Any:
        """Write the model as a folder of files (ONNX parts, arrays, a card), each checked against the model;
        models with `exports_folder` override this (the fields extractors: OCR, encoder and tagger)."""
        raise NotImplementedError(f"{type(self).__name__} exports one ONNX file (export_module)")


class Strategy(ABC):
    """One way to adapt a backbone; registered by name in `headstart.strategies`.

    A strategy declares what the rest of headstart needs to know about it: the `fit` options it reads (the run's
    tracked params and the "ignored" notes derive from them, see `strategies.options`), whether it writes a
    resumable checkpoint, and how `expand` grows its bundles."""

    name: str
    needs_backbone: bool = True
    description: str = ""
    tasks: tuple[str, ...] = ("classification",)  # task kinds this strategy can fit
    # FitConfig options this strategy reads beyond those every fit reads (data, backbone, seed, budget, ...)
    options: frozenset[str] = frozenset()
    image_options: frozenset[str] = frozenset()  # options it reads only on images (augmentation)
    # options it reads only for a task kind (regression: loss)
    task_options: ClassVar[Mapping[str, frozenset[str]]] = {}
    # writes a checkpoint under --out while training: `--resume` applies, overwriting one is refused
    checkpoints: bool = False
    expansion: Expansion | None = None  # how `headstart expand` grows its bundles; None: it cannot
    # a strategy that picks another (`auto`): the options it reads to pick
    chooser_options: frozenset[str] = frozenset()
    study_modalities: frozenset[str] = frozenset()  # a `study` without --strategies runs it on these modalities
    # the modality of the backbone it runs when that is not the data's (None: the data's); the fields tagger
    # embeds a document's OCR lines with a text backbone
    backbone_modality: str | None = None
    # False when the strategy tunes itself on train (cross-validation): `merge_validation` then adds the data's
    # validation split to train rather than leave it unused, and says why with `validation_note`.
    uses_validation: bool = True
    validation_note: str = ""
    # the typed `strategy` and `head` sections of its bundles' manifests (`read_manifest` validates them)
    manifest_section: ClassVar[type[StrategySection]] = StrategySection
    head_section: ClassVar[type[HeadSection]] = HeadSection

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A strategy class that names itself declares its manifest sections to `read_manifest`."""
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("name"), str):
            register_sections(cls.name, cls.manifest_section, cls.head_section)

    def uses(self, modality: str | None = None, task: str | None = None) -> frozenset[str]:
        """The options it reads on `modality` / `task` data (None: on some data); `resume` when it checkpoints."""
        used = set(self.options) | ({"resume"} if self.checkpoints else set())
        if modality in (None, "image"):
            used |= self.image_options
        for kind, extra in self.task_options.items():
            if task in (None, kind):
                used |= extra
        return frozenset(used)

    @abstractmethod
    def fit(self, inputs: FitInputs) -> Model:
        """Learn from `inputs.train` and return the fitted Model (with its `report` set)."""

    @abstractmethod
    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> Model:
        """Rebuild the Model saved in a bundle."""


class CrossValidatedStrategy(Strategy):
    """A strategy that tunes itself by cross-validation on train: the data's validation split joins train (noted)."""

    uses_validation = False

    def fit(self, inputs: FitInputs) -> Model:
        inputs, merged = merge_validation(self, inputs)  # a no-op after api.fit; `auto` passes validation on
        model = self._fit(inputs)
        if merged and model.report is not None:
            model.report.notes = [*merged, *model.report.notes]
        return model

    @abstractmethod
    def _fit(self, inputs: FitInputs) -> Model:
        """Learn from `inputs.train`, which already holds any validation items."""


def merge_validation(strategy: Strategy, inputs: FitInputs) -> tuple[FitInputs, list[str]]:
    """`inputs` with the validation split added to train when `strategy` has no use for it, and the note saying so.

    A label budget (`labels_per_class`) is drawn again over the merged items, so it still holds.
    """
    validation = inputs.validation
    if strategy.uses_validation or validation is None or not len(validation):
        return inputs, []
    from dataclasses import replace

    from headstart.data.dataset import concat
    from headstart.data.splits import labels_per_class

    train = concat(inputs.train, validation)
    n = inputs.config.labels_per_class
    if n is not None:  # the first draw's notes (a class short of the budget) may no longer hold
        train = labels_per_class(replace(train, notes=()), n, seed=inputs.config.seed)
    reason = f": {strategy.validation_note}" if strategy.validation_note else ""
    budget = f"; the budget of {n} per class is drawn from both" if n is not None else ""
    note = f"validation split ({len(validation)} items) added to training{reason}{budget}"
    return replace(inputs, train=train, validation=None), [note]


def check_backbone_modality(strategy: Strategy, backbone: Backbone, data_modality: str) -> None:
    """A BackboneError unless `backbone` reads what `strategy` feeds it on `data_modality` data: the data itself,
    or (`backbone_modality`) the strategy's own input, e.g. a document's OCR lines as text."""
    from headstart.backbones import check_modality
    from headstart.errors import BackboneError

    wanted = strategy.backbone_modality
    if wanted is None:
        check_modality(backbone, data_modality)
        return
    if backbone.modality != wanted:
        from headstart.data.modalities import get_modality

        default = get_modality(wanted).default_backbone
        raise BackboneError(
            f"backbone {backbone.name!r} reads {backbone.modality}, but on {data_modality} data this strategy embeds "
            f"each OCR line with a {wanted} backbone",
            expected=f"a {wanted} backbone (default: {default})",
            fix=f"leave --backbone out (uses {default}), or pick a {wanted} backbone from `headstart models`",
        )


def require_classes(labels: np.ndarray | list[str], what: str = "the training data") -> None:
    """At least two classes must remain after budgets and skipped items."""
    classes = sorted(set(np.asarray(labels).tolist()))
    if len(classes) < 2:
        from headstart.errors import DataError

        raise DataError(
            f"{what} has {len(classes)} usable class(es) {classes}",
            expected="usable examples of at least 2 classes",
            fix="add examples of more classes, or check the skipped items listed by `headstart inspect`",
        )


def output_labels(train: Dataset, target: str | None) -> list[str]:
    """A model's output names: the classes or tags of `train`, or the target's name for regression."""
    return get_task(train.task).output_names(train.classes, target)


def require_targets(y: np.ndarray, task: str, what: str = "the training data") -> None:
    """Multi-label needs two tags that vary; regression two different values (after skipped items)."""
    get_task(task).require_targets(y, what)


def class_counts(labels: np.ndarray | list[str]) -> dict[str, int]:
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
