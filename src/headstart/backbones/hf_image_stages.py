"""A transformers vision model split into its own blocks as headstart stages (state → state modules).

Token models (ViT, DeiT, BEiT, DINOv2, CLIP and SigLIP towers) carry `hidden` (N, tokens, D): `embeddings`,
one stage per encoder layer, then `norm` (and `head` for a dual encoder's projection or SigLIP's attention
pool, leaving one token; BEiT's mean-pooling norm leaves one token too). Convolutional and hierarchical models
(ConvNeXt/V2, ResNet, EfficientNet, Swin) carry `hidden` as a feature map (N, C, H, W) or as tokens (Swin):
`embeddings`, one stage per resolution stage (per block for EfficientNet), then `norm` (`top`).
Each layout also gives the model's own pooled output, so the backbone checks its stages reproduce it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from headstart.backbones.base import State
from headstart.errors import BackboneError

Reference = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Layout:
    """What `TransformerImage` needs from an architecture."""

    family: str
    names: list[str]
    stages: list[nn.Module]
    feature_dim: int
    prefix_tokens: int  # tokens before the patches (CLS, distillation, registers); 0 for maps and Swin
    default_pool: str  # "cls", "mean" or "cls+mean"
    reference: Reference  # the model's own pooled feature for pixel values (checked against the stages)


def _first(out: Any) -> torch.Tensor:
    """Layers of some versions return tuples; the hidden state comes first."""
    return out[0] if isinstance(out, tuple) else out


class _Embed(nn.Module):
    def __init__(self, embeddings: nn.Module, pre_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.embeddings, self.pre_norm = embeddings, pre_norm

    def forward(self, state: State) -> State:
        hidden = _first(self.embeddings(state["image"]))
        return {"hidden": self.pre_norm(hidden) if self.pre_norm is not None else hidden}


class _Layer(nn.Module):
    """One transformer layer on tokens (no attention mask: every patch is real)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, state: State) -> State:
        return {"hidden": _first(self.layer(state["hidden"], None))}


class _Apply(nn.Module):
    """A module applied to the hidden state as is (a ConvNeXt or ResNet stage, a final norm)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, state: State) -> State:
        return {"hidden": _first(self.module(state["hidden"]))}


class _Projection(nn.Module):
    """A dual encoder's image head: the first token, normalised, projected into the joint space; one token left."""

    def __init__(self, norm: nn.Module, projection: nn.Module | None) -> None:
        super().__init__()
        self.norm, self.projection = norm, projection

    def forward(self, state: State) -> State:
        first = self.norm(state["hidden"][:, :1])
        return {"hidden": self.projection(first) if self.projection is not None else first}


class _MapNorm(nn.Module):
    """ConvNeXt's end: global average, LayerNorm over channels; kept as a 1x1 map so pooling stays a mean."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, state: State) -> State:
        return {"hidden": self.norm(state["hidden"].mean(dim=(2, 3)))[:, :, None, None]}


class _SwinStage(nn.Module):
    """A Swin stage (blocks + patch merging) at the fixed patch grid of its input."""

    def __init__(self, stage: nn.Module, dims: tuple[int, int]) -> None:
        super().__init__()
        self.stage, self.dims = stage, dims

    def forward(self, state: State) -> State:
        return {"hidden": _first(self.stage(state["hidden"], self.dims))}


def _pooled(out: Any) -> torch.Tensor:
    pooled = out.pooler_output if hasattr(out, "pooler_output") else out
    return pooled.flatten(1)


def _layers(encoder: nn.Module, *names: str) -> nn.ModuleList:
    for name in names:
        found = getattr(encoder, name, None)
        if isinstance(found, nn.ModuleList):
            return found
    raise BackboneError(f"cannot find the block list of {type(encoder).__name__}", expected=f"one of {names}")


def _token_layout(
    family: str,
    model: Any,
    *,
    pre_norm: nn.Module | None = None,
    norm: nn.Module,
    prefix: int,
    pool: str,
    reference: Reference,
    head: nn.Module | None = None,
) -> Layout:
    layers = _layers(getattr(model, "encoder", model), "layer", "layers")
    names = ["embeddings", *(f"layer{i}" for i in range(len(layers))), "norm"]
    stages: list[nn.Module] = [_Embed(model.embeddings, pre_norm), *(_Layer(layer) for layer in layers)]
    stages.append(_Apply(norm) if head is None else head)
    if head is not None:
        names[-1] = "head"
    dim = int(model.config.hidden_size)
    return Layout(family, names, stages, dim, prefix, pool, reference)


def layout_for(model: Any, model_type: str, *, projection: nn.Module | None = None, has_classifier: bool) -> Layout:
    """The stages of a base vision model (`AutoModel` or the base of `AutoModelForImageClassification`)."""
    config = model.config
    if model_type in ("vit", "deit", "dinov2", "dinov2_with_registers"):
        prefix = 2 if model_type == "deit" else 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        pool = "cls+mean" if model_type.startswith("dinov2") and has_classifier else "cls"

        def last_cls(x: torch.Tensor) -> torch.Tensor:
            hidden = model(pixel_values=x).last_hidden_state
            if pool == "cls+mean":
                return torch.cat([hidden[:, 0], hidden[:, prefix:].mean(dim=1)], dim=1)
            return hidden[:, 0]

        layout = _token_layout(model_type, model, norm=model.layernorm, prefix=prefix, pool=pool, reference=last_cls)
        if pool == "cls+mean":
            layout.feature_dim *= 2
        return layout
    if model_type == "clip_vision_model":
        head = _Projection(model.post_layernorm, projection)

        def clip_ref(x: torch.Tensor) -> torch.Tensor:
            pooled = _pooled(model(pixel_values=x))
            return projection(pooled) if projection is not None else pooled

        layout = _token_layout(
            "clip", model, pre_norm=model.pre_layrnorm, norm=model.post_layernorm, prefix=1, pool="cls",
            reference=clip_ref, head=head,
        )  # fmt: skip
        if projection is not None:
            layout.feature_dim = int(getattr(projection, "out_features"))  # noqa: B009 (a Linear, typed as Module)
        return layout
    if model_type == "siglip_vision_model":
        if getattr(model, "head", None) is None:
            return _token_layout(
                "siglip", model, norm=model.post_layernorm, prefix=0, pool="mean",
                reference=lambda x: model(pixel_values=x).last_hidden_state.mean(dim=1),
            )  # fmt: skip
        return _token_layout(
            "siglip", model, norm=model.post_layernorm, prefix=0, pool="cls",
            reference=lambda x: _pooled(model(pixel_values=x)), head=_SiglipHead(model.post_layernorm, model.head),
        )  # fmt: skip
    if model_type in ("convnext", "convnextv2"):
        stages_list = _layers(model.encoder, "stages")
        names = ["embeddings", *(f"stage{i}" for i in range(len(stages_list))), "norm"]
        stages = [_Embed(model.embeddings), *(_Apply(s) for s in stages_list), _MapNorm(model.layernorm)]
        dim = int(config.hidden_sizes[-1])
        return Layout(model_type, names, stages, dim, 0, "mean", lambda x: _pooled(model(pixel_values=x)))
    if model_type == "resnet":
        stages_list = _layers(model.encoder, "stages")
        names = ["embeddings", *(f"stage{i}" for i in range(len(stages_list)))]
        stages = [_Embed(model.embedder), *(_Apply(s) for s in stages_list)]
        dim = int(config.hidden_sizes[-1])
        return Layout("resnet", names, stages, dim, 0, "mean", lambda x: _pooled(model(pixel_values=x)))
    if model_type == "mobilevit":
        blocks = _layers(model.encoder, "layer")
        names = ["embeddings", *(f"stage{i}" for i in range(len(blocks))), "head"]
        stages = [_Embed(model.conv_stem), *(_Apply(b) for b in blocks), _Apply(model.conv_1x1_exp)]
        dim = int(config.neck_hidden_sizes[-1])
        return Layout("mobilevit", names, stages, dim, 0, "mean", lambda x: _pooled(model(pixel_values=x)))
    if model_type == "beit":
        return _beit_layout(model)
    if model_type == "efficientnet":
        blocks = _layers(model.encoder, "blocks")
        names = ["embeddings", *(f"block{i}" for i in range(len(blocks))), "top"]
        stages = [_Embed(model.embeddings), *(_Apply(b) for b in blocks), _EfficientNetTop(model.encoder, model.pooler)]
        dim = int(config.hidden_dim)
        return Layout("efficientnet", names, stages, dim, 0, "mean", lambda x: _pooled(model(pixel_values=x)))
    if model_type == "swin":
        blocks = _layers(model.encoder, "layers")
        h, w = model.embeddings.patch_grid
        swin_stages: list[nn.Module] = []
        for block in blocks:
            swin_stages.append(_SwinStage(block, (int(h), int(w))))
            if getattr(block, "downsample", None) is not None:
                h, w = (h + 1) // 2, (w + 1) // 2
        names = ["embeddings", *(f"stage{i}" for i in range(len(blocks))), "norm"]
        stages = [_Embed(model.embeddings), *swin_stages, _Apply(model.layernorm)]
        return Layout(
            "swin", names, stages, int(model.num_features), 0, "mean", lambda x: _pooled(model(pixel_values=x))
        )
    raise BackboneError(
        f"model type {model_type!r} cannot be split into stages yet",
        expected="vit, deit, beit, dinov2, convnext(v2), swin, resnet, efficientnet, mobilevit, or the vision tower"
        " of clip / siglip",
        fix="use one of those families, or register your own backbone (docs/architecture.md: adding a backbone)",
    )


class _SiglipHead(nn.Module):
    """SigLIP's end: post-norm over tokens then the attention-pooling head; one token left."""

    def __init__(self, norm: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.norm, self.head = norm, head

    def forward(self, state: State) -> State:
        return {"hidden": self.head(self.norm(state["hidden"])).unsqueeze(1)}


class _EfficientNetTop(nn.Module):
    """EfficientNet's end after its blocks: 1x1 top convolution, batch norm, activation, then the model's own
    pooler (a global mean or max), kept as a 1x1 map so the pooled feature is exactly the model's."""

    def __init__(self, encoder: Any, pooler: nn.Module) -> None:
        super().__init__()
        self.conv: nn.Module = encoder.top_conv
        self.bn: nn.Module = encoder.top_bn
        self.act: nn.Module = encoder.top_activation
        self.pooler = pooler

    def forward(self, state: State) -> State:
        return {"hidden": self.pooler(self.act(self.bn(self.conv(state["hidden"]))))}


class _BeitLayer(nn.Module):
    """A BEiT layer called as BeitModel calls it: the input resolution (its own relative position bias is
    computed from it) and the model's shared relative position bias, if any, as the attention mask. The
    resolution is fixed, so the shared bias is a constant kept as a (non-persistent) buffer: no parameter is
    shared between stages, and training the last layers leaves the frozen prefix exactly as cached."""

    def __init__(self, layer: nn.Module, resolution: tuple[int, int], shared_bias: torch.Tensor | None) -> None:
        super().__init__()
        self.layer, self.resolution = layer, resolution
        self.shared_bias: torch.Tensor | None
        self.register_buffer("shared_bias", shared_bias, persistent=False)

    def forward(self, state: State) -> State:
        out = self.layer(state["hidden"], attention_mask=self.shared_bias, resolution=self.resolution)
        return {"hidden": _first(out)}


class _BeitEnd(nn.Module):
    """BEiT's end: its final norm, then (mean-pooling checkpoints) the pooler's norm over the mean of the
    patches, leaving one token; a CLS checkpoint keeps its tokens and is pooled on the CLS token."""

    def __init__(self, norm: nn.Module, pooler: nn.Module | None) -> None:
        super().__init__()
        self.norm, self.pooler = norm, pooler

    def forward(self, state: State) -> State:
        hidden = self.norm(state["hidden"])
        return {"hidden": self.pooler(hidden).unsqueeze(1) if self.pooler is not None else hidden}


def _beit_layout(model: Any) -> Layout:
    """BEiT: embeddings, one stage per layer (with the encoder's bias arguments), then norm (+ pooler norm)."""
    config = model.config
    size = config.image_size if isinstance(config.image_size, (tuple, list)) else (config.image_size,) * 2
    resolution = (int(size[0]), int(size[1]))
    layers = _layers(model, "layers") if hasattr(model, "layers") else _layers(model.encoder, "layer", "layers")
    shared: torch.Tensor | None = None
    if getattr(model, "shared_position_bias", None) is not None:
        window = (resolution[0] // int(config.patch_size), resolution[1] // int(config.patch_size))
        with torch.no_grad():
            shared = model.shared_position_bias(window, interpolate_pos_encoding=False, dim_size=None).detach().clone()
    pooler = getattr(model, "pooler", None)
    mean_pooled = pooler is not None and getattr(pooler, "layernorm", None) is not None
    names = ["embeddings", *(f"layer{i}" for i in range(len(layers))), "norm"]
    stages: list[nn.Module] = [_Embed(model.embeddings), *(_BeitLayer(ly, resolution, shared) for ly in layers)]
    stages.append(_BeitEnd(model.layernorm, pooler if mean_pooled else None))

    def reference(x: torch.Tensor) -> torch.Tensor:
        out = model(pixel_values=x)
        return _pooled(out) if mean_pooled else out.last_hidden_state[:, 0]

    pool = "mean" if mean_pooled else "cls"
    return Layout("beit", names, stages, int(config.hidden_size), 1, pool, reference)
