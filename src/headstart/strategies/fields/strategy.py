"""The strategies that fit the `fields` task: each builds one kind of `FieldExtractor`, reads every document's
lines (given box files, the OCR cache, or RapidOCR) and returns a `FieldsModel`.

The user asks for them by the words used everywhere (`strategies.registry.for_task`): `linear` (default: a frozen
text encoder's line embeddings + layout, the transfer strategy), `baseline` (TF-IDF + layout, no pretrained
network) and `rules` (hand-written rules). The extractor's arrays go to safetensors, its settings to the manifest's
`head` section, the OCR settings and where the lines came from to its `strategy` section.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset, SkippedItem
from headstart.data.documents import OcrLine, parse_fields
from headstart.errors import BadItemError, DataError, StrategyError
from headstart.manifest import HeadSection, StrategySection
from headstart.ocr import OcrSettings, ReadLines, read_documents
from headstart.strategies.base import DatasetPrediction, FitInputs, Model, Strategy, TrainReport
from headstart.strategies.fields.extractor import DocumentFields, FieldExtractor, LineEmbedder
from headstart.strategies.fields.embedding import line_embedder
from headstart.tasks.fields import FIELDS

if TYPE_CHECKING:
    from pathlib import Path

    from headstart.strategies.fields.export import EncoderExport, FolderExport
    from headstart.config import FitConfig
    from headstart.manifest import Manifest

OCR_OPTIONS = frozenset({"ocr_max_side", "ocr_max_pages", "ocr_orientation"})  # fit options of every fields strategy
TENSOR_PREFIX = "extractor."  # the extractor's arrays in head.safetensors (never a head's `intercept`...)

# Each extractor kind's class, imported when a strategy fits or loads one (`register_extractor` adds others).
_EXTRACTORS: dict[str, str] = {
    "rules": "headstart.strategies.fields.rules:RulesExtractor",
    "tfidf": "headstart.strategies.fields.tagged:TfidfExtractor",
    "linear": "headstart.strategies.fields.tagged:LinearExtractor",
}
_EXTRACTOR_CLASSES: dict[str, type[FieldExtractor]] = {}


def register_extractor(kind: str, cls: type[FieldExtractor]) -> None:
    """Make `cls` the extractor of `kind` (a plugin's own, or a test's)."""
    _EXTRACTOR_CLASSES[kind] = cls


def extractor_class(kind: str) -> type[FieldExtractor]:
    """The extractor class of `kind`; StrategyError when this installation has none."""
    if kind in _EXTRACTOR_CLASSES:
        return _EXTRACTOR_CLASSES[kind]
    where = _EXTRACTORS.get(kind)
    try:
        if where is None:
            raise ImportError(kind)
        module, _, attribute = where.partition(":")
        cls: type[FieldExtractor] = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        raise StrategyError(
            f"the {kind!r} field extractor is not available in this headstart",
            expected=f"one of the extractors it ships ({', '.join(_EXTRACTORS)})",
            fix="upgrade headstart (pip install -U headstart), or fit with another --strategy",
        ) from None
    return _EXTRACTOR_CLASSES.setdefault(kind, cls)


class FieldsSection(StrategySection):
    """`strategy` of a fields bundle: the extractor kind, the OCR settings documents are read with, and where the
    training documents' lines came from (given box files, the OCR cache, or OCR run then)."""

    extractor: str = ""
    ocr: dict[str, Any] = {}
    lines: dict[str, int] = {}
    embedding: dict[str, Any] | None = None  # the linear extractor's: which backbone embeds the lines, and how


class FieldsHeadSection(HeadSection):
    """`head` of a fields bundle: the fields it extracts and the extractor's own settings (its `state()` config)."""

    fields: list[str] = []
    extractor: dict[str, Any] = {}


MAX_READING_NOTES = 10  # per fit: the OCR's notes on how documents were read (pages turned, cut, blank)


def reading_notes(notes: Sequence[Mapping[str, str]]) -> list[str]:
    """The OCR's per-document notes as fit notes ("img/7.jpg: page 1 was turned 180°..."), the first few."""
    shown = [f"{n['id']}: {n['note']}" for n in notes[:MAX_READING_NOTES]]
    more = len(notes) - len(shown)
    return [*shown, *([f"... and {more} more note(s) on how training documents were read"] if more else [])]


class FieldsModel(Model):
    """A fitted field extractor: documents -> lines (given, cached or OCR) -> each document's fields."""

    task = FIELDS.name

    def __init__(
        self,
        extractor: FieldExtractor,
        strategy: dict[str, Any],
        ocr: OcrSettings,
        backbone: Backbone | None = None,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        self.extractor = extractor
        self.labels = list(extractor.field_names)
        self.strategy = strategy
        self.ocr = ocr
        self.backbone = backbone
        self.threads = threads
        self.batch_size = batch_size

    def embedder(self, progress: bool = False) -> LineEmbedder | None:
        """The line embedder the extractor reads (None for extractors without embeddings)."""
        if not self.extractor.uses_embeddings:
            return None
        if self.backbone is None:
            raise StrategyError(
                f"the {self.extractor.kind!r} field extractor embeds lines, but the model has no backbone",
                fix="the bundle was edited: train it again with `headstart fit`",
            )
        return line_embedder(self.backbone, threads=self.threads, batch_size=self.batch_size, progress=progress)

    def use_ocr(self, **options: Any) -> list[str]:
        """Read documents with the OCR settings it was fitted with, changed by `options` (`OcrSettings` names;
        None keeps the bundle's); a note naming each setting that now differs from the fit's."""
        given = {name: value for name, value in options.items() if value is not None}
        fitted = self.ocr
        self.ocr = OcrSettings.from_options(**{**asdict(fitted), **given})
        changed = [
            f"{name}={value!r} (fitted with {getattr(fitted, name)!r})"
            for name, value in given.items()
            if getattr(fitted, name) != value
        ]
        if not changed:
            return []
        return [f"OCR settings differ from the model's: {', '.join(changed)}; lines may be read unlike at fit time"]

    def read(self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False) -> ReadLines:
        """Every document's lines; with `on_bad="fail"` an unreadable document raises."""
        read = read_documents(
            list(dataset.items), list(dataset.ids), self.ocr, threads=self.threads or 2, progress=progress
        )
        if on_bad == "fail" and read.skipped:
            raise BadItemError(read.skipped[0]["id"], read.skipped[0]["reason"])
        return read

    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        """Each readable document's fields (`records`) and one confidence per field (`proba`, 0: not found); a
        document without text lines (a blank page) has none, without asking the extractor."""
        read = self.read(dataset, on_bad=on_bad, progress=progress)
        kept = [i for i, lines in enumerate(read.lines) if lines is not None]
        documents = [read.lines[i] or [] for i in kept]
        with_text = [lines for lines in documents if lines]
        extracted = iter(self.extractor.extract(with_text, self.embedder(progress)) if with_text else [])
        found: list[DocumentFields] = [next(extracted) if lines else {} for lines in documents]
        proba = np.array(
            [[f[name].confidence if name in f else 0.0 for name in self.labels] for f in found], dtype=np.float32
        ).reshape(len(found), len(self.labels))
        return DatasetPrediction(
            proba=proba,
            kept=np.array(kept, dtype=np.int64),
            labels=self.labels,
            skipped=[SkippedItem(s["id"], s["reason"]) for s in read.skipped],
            n_cached=read.sources.get("cache", 0) + read.sources.get("given", 0),
            n_computed=read.sources.get("ocr", 0),
            records=[{name: value.to_dict() for name, value in f.items()} for f in found],
            notes=[f"{n['id']}: {n['note']}" for n in read.notes],
        )

    def sections(self) -> dict[str, Any]:
        _, config = self.extractor.state()
        head = {"type": "field-extractor", "kind": self.extractor.kind, "fields": self.labels, "extractor": config}
        return {"strategy": self.strategy, "head": head}

    def tensors(self) -> dict[str, np.ndarray]:
        arrays, _ = self.extractor.state()
        return {TENSOR_PREFIX + name: np.asarray(value) for name, value in arrays.items()}

    exports_folder: ClassVar[bool] = True

    def export_folder(self, folder: Path, bundle_info: dict[str, Any]) -> FolderExport:
        """The export folder of `strategies/fields/export.py` (OCR models, encoder and tagger ONNX, a card)."""
        from headstart.strategies.fields.export import export_fields

        return export_fields(
            self.extractor, folder=folder, ocr=self.ocr, backbone=self.backbone, embed=self.embedder(),
            bundle_info=bundle_info, encoder=self.encoder_export(),
        )  # fmt: skip

    def encoder_export(self) -> EncoderExport | None:
        """What the export writes as the line encoder when it is not the frozen backbone (None: the backbone's
        frozen stages and pool)."""
        return None


class FieldsStrategy(Strategy):
    """Fit one kind of field extractor on the training documents' lines and their fields."""

    extractor_kind: ClassVar[str]
    spec: ClassVar[str]  # the name the user gives (`linear`), recorded as the manifest's `spec`
    tasks = (FIELDS.name,)
    needs_backbone = False
    study_modalities = frozenset({"document"})
    uses_validation = False
    validation_note = "the field extractors learn from training documents only"
    manifest_section = FieldsSection
    head_section = FieldsHeadSection
    options = OCR_OPTIONS

    def fit(self, inputs: FitInputs) -> FieldsModel:
        config, train = inputs.config, inputs.train
        assert train.labels is not None
        ocr = OcrSettings.from_options(**config.ocr_settings())  # None: the default setting
        model = self.model_class(
            extractor_class(self.extractor_kind)(**self.extractor_options(config)),
            {},
            ocr,
            inputs.backbone if self.needs_backbone else None,
            config.threads,
            config.batch_size,
        )
        read = model.read(train, on_bad=config.on_bad, progress=config.progress)
        usable = [(lines, parse_fields(label)) for lines, label in zip(read.lines, train.labels, strict=True) if lines]
        if not usable:
            raise DataError(
                f"none of the {len(train)} training documents has readable lines",
                expected="documents whose pages OCR can read, or OCR lines given with them (box/<stem>.csv)",
                fix="check the skipped documents listed by `headstart inspect`",
            )
        documents: list[Sequence[OcrLine]] = [lines for lines, _ in usable]
        fields = [fields for _, fields in usable]
        embed, embedding_notes = self.line_embedder(model, inputs, documents, fields)
        notes = [*embedding_notes, *model.extractor.fit(documents, fields, embed)]
        model.labels = list(model.extractor.field_names)
        model.strategy = self._section(ocr, read.sources, model, config)
        empty = len(train) - len(read.skipped) - len(usable)
        unused = [] if self.needs_backbone or config.backbone is None else [
            f"{self.spec} uses no pretrained network: backbone {config.backbone!r} is unused"
        ]  # fmt: skip
        model.report = TrainReport(
            n_train=len(usable),
            skipped=[SkippedItem(s["id"], s["reason"]) for s in read.skipped],
            features_cached=read.sources.get("cache", 0) + read.sources.get("given", 0),
            features_computed=read.sources.get("ocr", 0),
            notes=[
                *notes,
                *([f"{empty} training document(s) have no text lines: not learned from"] if empty else []),
                *reading_notes(read.notes),
                *unused,
            ],
        )
        return model

    model_class: ClassVar[type[FieldsModel]] = FieldsModel

    def extractor_options(self, config: FitConfig) -> dict[str, Any]:
        """The keyword arguments its extractor is built with from the fit options it declares (`options`)."""
        return {}

    def line_embedder(
        self,
        model: FieldsModel,
        inputs: FitInputs,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
    ) -> tuple[LineEmbedder | None, list[str]]:
        """What embeds the training lines for the extractor (None: it reads no embeddings), and notes on it; the
        frozen backbone's cached features by default."""
        return model.embedder(inputs.config.progress), []

    def _section(
        self, ocr: OcrSettings, sources: Mapping[str, int], model: FieldsModel, config: FitConfig
    ) -> dict[str, Any]:
        section: dict[str, Any] = {
            "name": self.name,
            "spec": self.spec,
            "extractor": self.extractor_kind,
            "ocr": {**asdict(ocr), "cache_key": ocr.key()},
            "lines": dict(sources),
        }
        if model.backbone is not None:
            backbone = model.backbone
            section["embedding"] = {"backbone": backbone.name, "feature_dim": backbone.feature_dim, "unit": "OCR line"}
        return section

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> FieldsModel:
        strategy = FieldsSection.of(manifest.strategy)
        head = FieldsHeadSection.of(manifest.head)
        arrays = {k.removeprefix(TENSOR_PREFIX): v for k, v in tensors.items() if k.startswith(TENSOR_PREFIX)}
        extractor = extractor_class(strategy.extractor or self.extractor_kind).from_state(arrays, head.extractor)
        known = {f.name for f in OcrSettings.__dataclass_fields__.values()}
        ocr = OcrSettings(**{k: v for k, v in strategy.ocr.items() if k in known})
        return FieldsModel(extractor, strategy.to_dict(), ocr, backbone)


class TaggerStrategy(FieldsStrategy):
    """A line tagger's strategy: `C`, the inverse regularisation of its logistic regression, reaches the extractor."""

    options = OCR_OPTIONS | {"C"}

    def extractor_options(self, config: FitConfig) -> dict[str, Any]:
        return {} if config.C is None else {"c": config.C}


class LinearFieldsStrategy(TaggerStrategy):
    """`linear` on documents: a frozen text encoder's line embeddings + layout, a linear tagger (the transfer one)."""

    name = "fields-linear"
    spec = "linear"
    extractor_kind = "linear"
    description = "frozen text encoder line embeddings + layout, linear line tagger"
    needs_backbone = True
    backbone_modality = "text"


class BaselineFieldsStrategy(TaggerStrategy):
    """`baseline` on documents: TF-IDF of the lines + layout, a linear tagger (no pretrained network)."""

    name = "fields-baseline"
    spec = "baseline"
    extractor_kind = "tfidf"
    description = "TF-IDF line features + layout, linear line tagger (no pretrained network)"


class RulesFieldsStrategy(FieldsStrategy):
    """`rules`: hand-written rules (a date and an amount pattern, the first lines for the company...)."""

    name = "rules"
    spec = "rules"
    extractor_kind = "rules"
    description = "hand-written field rules (documents only; no learning, no pretrained network)"
