"""`hf:<folder or hub id>` image backbones: any vision model transformers loads, split into its own blocks.

Preprocessing is the model's image processor replayed in PIL/numpy (`hf_preprocess`); the stages and the
default pooling come from the architecture (`hf_image_stages`): CLS token for ViT/DeiT/DINOv2/CLIP, mean
of patches or of the feature map for Swin/ConvNeXt/ResNet, CLS + mean of patches for a DINOv2 classifier;
`hf:PATH#pool=mean` overrides it. A checkpoint with an image-classification head keeps it as `source_head`
(with its `id2label` names). A dual encoder (CLIP, SigLIP) gives its image tower, projected into the joint
space, and keeps its text tower for zero-shot (`text_encoder`). Building checks that the stages reproduce the
model's own output, so an architecture split wrongly fails here, not in a user's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from headstart.backbones.base import BackboneInfo, SourceHead, State
from headstart.backbones.hashing import files_sha256, state_dict_sha256
from headstart.backbones.hf_clip import TextEncoder
from headstart.backbones.hf_image_stages import Layout, layout_for
from headstart.backbones.hf_preprocess import ImageRecipe
from headstart.backbones.hf_source import HfKind, HfSource, resolve, split_options
from headstart.backbones.sentence_transformer import WEIGHT_FILES
from headstart.backbones.staged import StagedBackbone, StagedNet, describe, eval_frozen
from headstart.errors import BackboneError

POOLS = ("cls", "mean", "cls+mean")
SELF_CHECK_ATOL = 1e-4


class TransformerImage(StagedBackbone):
    """A transformers vision model (or a dual encoder's image tower) as a staged image backbone."""

    modality = "image"
    activation_key = "hidden"
    onnx_exporter = "dynamo"  # the legacy exporter is not trusted on transformers (wrong MiniLM outputs)
    export_fallback = True  # an architecture that will not export runs eagerly, with a note

    def __init__(self, source: str, name: str | None = None, pool: str | None = None, license: str = "unknown") -> None:
        base_source, options = split_options(source)
        resolved = resolve(base_source)
        self.name = name or f"hf:{source}"
        self.license = license
        self.source = resolved.source
        self.local = resolved.local
        self.model_type = str(resolved.config.get("model_type", ""))
        model, vision, projection, classifier = _load(resolved)
        self._model = eval_frozen(model)
        vision_type = str(getattr(vision.config, "model_type", self.model_type))
        layout = layout_for(vision, vision_type, projection=projection, has_classifier=classifier is not None)
        self.family = layout.family
        self._net = StagedNet(layout.names, layout.stages)
        eval_frozen(self._net)
        self.recipe = _recipe(resolved)
        self.input_size = self.recipe.output_size[0]
        self.prefix_tokens = layout.prefix_tokens
        self.pooling = layout.default_pool
        self._check_stages(layout)
        chosen = pool or options.get("pool")
        if chosen is not None:
            if chosen not in POOLS:
                raise BackboneError(f"unknown pooling {chosen!r} for {self.name}", expected=" or ".join(POOLS))
            self.pooling = chosen
        self.feature_dim = self._pooled_width()
        self._classifier = classifier
        self.text_encoder: TextEncoder | None = (
            TextEncoder(model, resolved) if projection is not None or resolved.kind is HfKind.IMAGE_TEXT else None
        )
        self._info = BackboneInfo(
            name=self.name,
            modality="image",
            params=0,
            feature_dim=self.feature_dim,
            input_size=self.input_size,
            license=license,
            description=f"{self.model_type} image encoder ({len(self.stages)} stages, {self.pooling} pooling"
            + (", with its text tower for zero-shot" if self.text_encoder is not None else "")
            + (f", {len(self._class_names())}-class head" if classifier is not None else "")
            + ")",
            source=self.source,
        )

    # -- protocol ------------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return ["image"]

    def preprocess(self, items: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        return {"image": self.recipe(items)}

    def preprocess_config(self) -> dict[str, Any]:
        return describe(**self.recipe.describe(), pool=self.pooling, model_type=self.model_type)

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        h, w = self.recipe.output_size
        return {"image": np.random.default_rng(0).standard_normal((batch, 3, h, w)).astype(np.float32)}

    def pool(self, state: State) -> torch.Tensor:
        hidden = state["hidden"]
        if hidden.dim() == 4:  # a feature map
            return hidden.mean(dim=(2, 3))
        if hidden.shape[1] == 1 or (self.pooling == "cls" and self.prefix_tokens > 0):
            return hidden[:, 0]
        patches = hidden[:, self.prefix_tokens :]
        if self.pooling == "cls+mean" and self.prefix_tokens > 0:
            return torch.cat([hidden[:, 0], patches.mean(dim=1)], dim=1)
        return patches.mean(dim=1)

    # -- checks --------------------------------------------------------------------------------
    def _check_stages(self, layout: Layout) -> None:
        """The stages, run in order and pooled by default, must give the model's own output."""
        x = torch.from_numpy(self.example_inputs(batch=2)["image"])
        with torch.inference_mode():
            want = layout.reference(x).float()
            got = self.pool(self.forward({"image": x})).float()
        diff = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
        if not diff <= SELF_CHECK_ATOL * max(1.0, float(want.abs().max())):
            raise BackboneError(
                f"{self.name}: the {self.model_type} stages do not reproduce the model's output "
                f"(max |diff| {diff:.3g})",
                expected="a supported transformers version and architecture",
                fix="report the model and the transformers version; meanwhile use another backbone",
            )

    def _pooled_width(self) -> int:
        x = torch.from_numpy(self.example_inputs(batch=1)["image"])
        with torch.inference_mode():
            return int(self.pool(self.forward({"image": x})).shape[1])

    # -- weights and heads -----------------------------------------------------------------------
    @cached_property
    def _sha(self) -> str:
        if self.local:
            for pattern in WEIGHT_FILES:
                files = sorted(Path(self.source).glob(pattern))
                if files:
                    return files_sha256(files)
        return state_dict_sha256(self._model)

    def _class_names(self) -> list[str]:
        id2label = getattr(self._model.config, "id2label", None) or {}
        n = int(self._classifier.out_features) if self._classifier is not None else 0
        return [str(id2label.get(i, id2label.get(str(i), f"class {i}"))) for i in range(n)]

    @cached_property
    def _source_head(self) -> SourceHead | None:
        fc = self._classifier
        if fc is None or int(fc.in_features) != self.feature_dim:
            return None  # e.g. a DINOv2 classifier (CLS + mean) with pool=cls: its head reads other features
        bias = fc.bias.detach().numpy() if fc.bias is not None else np.zeros(fc.out_features, np.float32)
        return SourceHead(
            weight=fc.weight.detach().numpy().astype(np.float32).copy(),
            bias=bias.astype(np.float32).copy(),
            class_names=self._class_names(),
        )

    @property
    def source_head(self) -> SourceHead | None:
        return self._source_head


def _load(resolved: HfSource) -> tuple[Any, Any, nn.Module | None, nn.Linear | None]:
    """(whole model, vision model, image projection or None, classifier or None), loaded quietly."""
    from transformers import AutoModel, AutoModelForImageClassification
    from transformers.utils import logging as hf_logging

    archs = [str(a) for a in resolved.config.get("architectures") or []]
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # no load reports for the unused pooler of a classifier checkpoint
    hf_logging.disable_progress_bar()
    try:
        if resolved.kind is HfKind.IMAGE and any("ImageClassification" in a for a in archs):
            model = AutoModelForImageClassification.from_pretrained(resolved.source, **resolved.load_kwargs())
            vision = getattr(model, model.base_model_prefix)
            classifier = _linear(getattr(model, "classifier", None))
            return model, vision, None, classifier
        model = AutoModel.from_pretrained(resolved.source, **resolved.load_kwargs())
    except (OSError, ValueError, KeyError) as exc:
        raise BackboneError(
            f"cannot load a transformers vision model from {resolved.source!r}: {exc}",
            expected="a folder or cached hub id with config.json, weights and preprocessor_config.json",
            fix="check the path; a hub id needs HEADSTART_ALLOW_DOWNLOAD=1 the first time",
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    vision_tower = getattr(model, "vision_model", None)
    if resolved.kind is HfKind.IMAGE_TEXT:
        if vision_tower is None:
            raise BackboneError(f"{resolved.source}: a dual encoder without a vision_model", expected="CLIP or SigLIP")
        return model, vision_tower, getattr(model, "visual_projection", None), None
    if vision_tower is not None and not hasattr(model, "embeddings"):  # e.g. CLIPVisionModel wraps its transformer
        return model, vision_tower, None, None
    return model, model, None, None


def _linear(module: nn.Module | None) -> nn.Linear | None:
    """The classifier's linear layer (ResNet wraps it with a Flatten)."""
    if isinstance(module, nn.Linear):
        return module
    if module is None:
        return None
    found = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return found[-1] if len(found) == 1 else None


def _recipe(resolved: HfSource) -> ImageRecipe:
    from transformers import AutoImageProcessor

    try:
        processor = AutoImageProcessor.from_pretrained(resolved.source, **resolved.load_kwargs())
    except (OSError, ValueError) as exc:
        raise BackboneError(
            f"{resolved.source!r} has no usable image processor ({exc})",
            expected="preprocessor_config.json beside the model (processor.save_pretrained(folder))",
            fix="save the model's image processor into the folder",
        ) from exc
    settings = processor.to_dict()
    return ImageRecipe.from_processor(settings, str(settings.get("image_processor_type") or type(processor).__name__))
