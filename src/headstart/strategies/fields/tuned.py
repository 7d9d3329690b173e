"""`partial:K` on documents: the text encoder's last K layers fine-tuned on the training lines' weak labels
(`line_tuning`, through the one Trainer), then the linear line tagger and decoders on the tuned encoder's line
embeddings + layout, as `linear` does on the frozen ones.

The bundle keeps the extractor (as every fields bundle) and the tuned stages with their head under `encoder.` in
safetensors; the manifest's `strategy.encoder` says where the encoder was cut and how it trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from headstart.backbones.base import Backbone
from headstart.config import FitConfig
from headstart.data.documents import OcrLine
from headstart.errors import StrategyError
from headstart.ocr import OcrSettings
from headstart.strategies.base import FitInputs
from headstart.strategies.fields.extractor import LineEmbedder
from headstart.strategies.fields.line_tuning import TunedEncoder, tune_for_tagging
from headstart.strategies.fields.strategy import FieldsModel, FieldsSection, TaggerStrategy
from headstart.strategies.finetune import FinetuneModel, build_top

if TYPE_CHECKING:
    from headstart.manifest import Manifest
    from headstart.strategies.fields.export import EncoderExport

ENCODER_PREFIX = "encoder."  # the tuned stages, their pool's standardisation and head in head.safetensors
GRADIENT_OPTIONS = frozenset({"max_epochs", "lr", "lr_ratio", "patience", "time_budget"})


class TunedFieldsSection(FieldsSection):
    """`strategy` of a `partial:K` fields bundle: the fields section, and the tuned encoder's cut, line classes
    and training (the gradient strategies' record: param groups, epochs, stop reason, trainer settings)."""

    encoder: dict[str, Any] = {}


class TunedFieldsModel(FieldsModel):
    """A fields model whose lines are embedded by a fine-tuned encoder (no features cache: its weights are its
    own)."""

    tuned: TunedEncoder | None = None  # set by the strategy's fit or load

    def embedder(self, progress: bool = False) -> LineEmbedder | None:
        if self.tuned is None:
            raise StrategyError(
                "this fields model embeds lines with a fine-tuned encoder, but it has none",
                fix="the bundle was edited: train it again with `headstart fit --strategy partial:K`",
            )
        self.tuned.model.threads = self.threads
        return self.tuned.embedder(batch_size=self.batch_size, progress=progress)

    def tensors(self) -> dict[str, np.ndarray]:
        assert self.tuned is not None
        encoder = {ENCODER_PREFIX + name: value for name, value in self.tuned.model.tensors().items()}
        return {**super().tensors(), **encoder}

    def encoder_export(self) -> EncoderExport | None:
        from headstart.strategies.fields.export import EncoderExport

        assert self.tuned is not None
        model = self.tuned.model
        described = {
            "fine_tuned": {
                "from": model.backbone.name,
                "cut": model.cut,
                "trainable_stages": model.backbone.stages[model.cut :],
                "note": "the backbone's weights_sha256 are the pretrained ones; the stages after the cut are this "
                "bundle's (encoder.* in head.safetensors)",
            }
        }
        return EncoderExport(model.feature_module(), described)


class PartialFieldsStrategy(TaggerStrategy):
    """`partial:K` on documents: fine-tune the text encoder's last K layers as a line classifier on the weak labels,
    then fit the linear line tagger on its embeddings (the second transfer strategy; minutes, not seconds)."""

    name = "fields-partial"
    spec = "partial"
    extractor_kind = "linear"
    description = "text encoder's last K layers fine-tuned on the lines' weak labels, then the linear line tagger"
    needs_backbone = True
    backbone_modality = "text"
    checkpoints = True
    study_modalities: frozenset[str] = frozenset()  # minutes per fit: `study --strategies partial:2,...` asks for it
    options = TaggerStrategy.options | GRADIENT_OPTIONS
    manifest_section = TunedFieldsSection
    model_class: ClassVar[type[FieldsModel]] = TunedFieldsModel

    def line_embedder(
        self,
        model: FieldsModel,
        inputs: FitInputs,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
    ) -> tuple[LineEmbedder | None, list[str]]:
        assert isinstance(model, TunedFieldsModel) and inputs.backbone is not None
        model.tuned, embed = tune_for_tagging(
            inputs.backbone, documents, fields, inputs.config, inputs.params, batch_size=model.batch_size
        )
        return embed, model.tuned.notes

    def fit(self, inputs: FitInputs) -> FieldsModel:
        model = super().fit(inputs)
        assert isinstance(model, TunedFieldsModel) and model.tuned is not None and model.report is not None
        model.report.history = list(model.tuned.history)
        return model

    def _section(
        self, ocr: OcrSettings, sources: Mapping[str, int], model: FieldsModel, config: FitConfig
    ) -> dict[str, Any]:
        section = super()._section(ocr, sources, model, config)
        assert isinstance(model, TunedFieldsModel) and model.tuned is not None
        tuned = model.tuned.model
        section["spec"] = config.strategy
        section["embedding"]["fine_tuned"] = True
        section["encoder"] = {**tuned.strategy, "classes": list(tuned.labels)}
        return section

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> FieldsModel:
        base = super().load(manifest, tensors, backbone)
        encoder = TunedFieldsSection.of(manifest.strategy).encoder
        if backbone is None or "cut" not in encoder or "classes" not in encoder:
            raise StrategyError(
                "this partial:K fields bundle lacks its tuned encoder (strategy.encoder in the manifest)",
                fix="the bundle was edited: train it again with `headstart fit --strategy partial:K`",
            )
        classes = [str(c) for c in encoder["classes"]]
        top = build_top(backbone, int(encoder["cut"]), len(classes))
        weights = {k.removeprefix(ENCODER_PREFIX): v for k, v in tensors.items() if k.startswith(ENCODER_PREFIX)}
        top.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        tuned = FinetuneModel(backbone, top, int(encoder["cut"]), classes, dict(encoder))
        model = TunedFieldsModel(base.extractor, base.strategy, base.ocr, backbone)
        model.tuned = TunedEncoder(tuned, notes=[], history=[])
        return model
