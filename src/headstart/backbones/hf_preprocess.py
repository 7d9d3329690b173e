"""An image processor's recipe (resize, crop, rescale, normalise) replayed with PIL and numpy.

`ImageRecipe.from_processor` reads what a transformers image processor would do (its `to_dict()`), so the
backbone needs neither torchvision nor the processor at prediction time, and `describe()` records the
recipe in the manifest and the feature-cache key. It reproduces the processors' PIL backend: resizing on
8-bit images with the processor's filter, integer crop offsets, then scale and per-channel normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from headstart.errors import BackboneError

RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
LARGE_CROP_PCT = 384  # ConvNeXt processors warp (no crop_pct) from this size on


@dataclass(frozen=True)
class ImageRecipe:
    """How one RGB picture becomes a (3, H, W) float32 array."""

    resize: str  # "exact" (height x width), "shortest_edge", "crop_pct" (ConvNeXt) or "none"
    size: tuple[int, int]  # exact: (height, width); shortest_edge / crop_pct: (edge, edge)
    crop: tuple[int, int] | None  # (height, width) of the centre crop, or None
    resample: int
    rescale: float | None
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    crop_pct: float | None = None
    bgr: bool = False  # MobileViT's processors flip the channels to BGR

    @classmethod
    def from_processor(cls, settings: dict[str, Any], kind: str = "") -> ImageRecipe:
        """The recipe of a processor's settings (`processor.to_dict()`); `kind` is its `image_processor_type`."""
        size = _size(settings.get("size")) if settings.get("do_resize", True) else None
        crop = _size(settings.get("crop_size")) if settings.get("do_center_crop") else None
        crop_hw = None if crop is None else _hw(crop, "crop_size")
        resample = int(settings["resample"]) if settings.get("resample") is not None else 2  # PIL bilinear
        rescale = float(settings.get("rescale_factor", 1 / 255)) if settings.get("do_rescale", True) else None
        mean = std = None
        if settings.get("do_normalize"):  # absent (None) in e.g. MobileViT processors: no normalisation
            mean, std = _triple(settings.get("image_mean", 0.5)), _triple(settings.get("image_std", 0.5))
        mean, std = _efficientnet_extras(settings, rescale, mean, std)
        recipe = cls._resizing(settings, kind, size, crop_hw, resample, rescale, mean, std)
        return replace(recipe, bgr=bool(settings.get("do_flip_channel_order", False)))

    @classmethod
    def _resizing(
        cls,
        settings: dict[str, Any],
        kind: str,
        size: dict[str, int] | None,
        crop_hw: tuple[int, int] | None,
        resample: int,
        rescale: float | None,
        mean: tuple[float, float, float] | None,
        std: tuple[float, float, float] | None,
    ) -> ImageRecipe:
        if size is None:
            if crop_hw is None:
                raise BackboneError(f"the image processor {kind!r} neither resizes nor crops: no fixed input size")
            return cls("none", crop_hw, crop_hw, resample, rescale, mean, std)
        if "shortest_edge" in size and "ConvNext" in kind:
            edge = int(size["shortest_edge"])
            pct = float(settings.get("crop_pct") or 224 / 256)
            if edge < LARGE_CROP_PCT:
                return cls("crop_pct", (edge, edge), (edge, edge), resample, rescale, mean, std, pct)
            return cls("exact", (edge, edge), None, resample, rescale, mean, std)
        if "shortest_edge" in size:
            edge = int(size["shortest_edge"])
            if crop_hw is None:
                raise BackboneError(
                    f"the image processor {kind!r} resizes the shortest edge without a centre crop",
                    expected="a processor with a fixed output size (height/width, or a crop_size)",
                )
            return cls("shortest_edge", (edge, edge), crop_hw, resample, rescale, mean, std)
        return cls("exact", _hw(size, "size"), crop_hw, resample, rescale, mean, std)

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the arrays `__call__` returns."""
        return self.crop if self.crop is not None else self.size

    def describe(self) -> dict[str, Any]:
        """JSON for the manifest and cache keys."""
        return {
            "kind": "image",
            "resize": self.resize,  # keys differ from the built-ins' `size` / `crop_pct` (an int and a shorter side)
            "resize_to": list(self.size),
            "crop": None if self.crop is None else list(self.crop),
            "crop_fraction": self.crop_pct,
            "interpolation": RESAMPLE_NAMES.get(self.resample, str(self.resample)),
            "rescale": self.rescale,
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "channels": "BGR" if self.bgr else "RGB",
            "layout": "NCHW",
            "source": "transformers image processor, replayed with PIL/numpy",
        }

    def _resized(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if self.resize == "exact":
            return img.resize((self.size[1], self.size[0]), self.resample)
        if self.resize in ("shortest_edge", "crop_pct"):
            edge = self.size[0] if self.resize == "shortest_edge" else int(self.size[0] / float(self.crop_pct or 1))
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(edge * long / short)
            new_w, new_h = (edge, new_long) if w <= h else (new_long, edge)
            return img.resize((new_w, new_h), self.resample)
        return img

    def _array(self, img: Image.Image) -> np.ndarray:
        if img.mode != "RGB":
            img = img.convert("RGB")
        arr = np.asarray(self._resized(img))
        if self.crop is not None:
            arr = _centre_crop(arr, self.crop)
        out: np.ndarray = arr.astype(np.float32)
        if self.rescale is not None:
            out = out * np.float32(self.rescale)
        if self.mean is not None and self.std is not None:
            out = (out - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if self.bgr:
            out = out[:, :, ::-1]
        return out.transpose(2, 0, 1)

    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        h, w = self.output_size
        if len(images) == 0:
            return np.zeros((0, 3, h, w), np.float32)
        return np.ascontiguousarray(np.stack([self._array(i) for i in images]), dtype=np.float32)


def _efficientnet_extras(
    settings: dict[str, Any],
    rescale: float | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> tuple[tuple[float, float, float] | None, tuple[float, float, float] | None]:
    """EfficientNet's processors subtract 1 after rescaling (`rescale_offset`) and divide by the std once more
    (`include_top`): both fold into one (x * scale - mean) / std, so the replay stays a single affine step."""
    offset = 1.0 if rescale is not None and settings.get("rescale_offset") else 0.0
    again = settings.get("include_top")
    if not offset and not again:
        return mean, std
    base_mean = mean or (0.0, 0.0, 0.0)
    base_std = std or (1.0, 1.0, 1.0)
    top = _triple(settings.get("image_std", 0.5)) if again else (1.0, 1.0, 1.0)
    folded_mean = (base_mean[0] + offset, base_mean[1] + offset, base_mean[2] + offset)
    folded_std = (base_std[0] * top[0], base_std[1] * top[1], base_std[2] * top[2])
    return folded_mean, folded_std


def _centre_crop(arr: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """The processors' centre crop: integer offsets, zero padding when the picture is smaller."""
    ch, cw = crop
    h, w = arr.shape[:2]
    if ch > h or cw > w:
        padded = np.zeros((max(h, ch), max(w, cw), arr.shape[2]), arr.dtype)
        top, left = (max(h, ch) - h) // 2, (max(w, cw) - w) // 2
        padded[top : top + h, left : left + w] = arr
        arr, h, w = padded, padded.shape[0], padded.shape[1]
    top, left = (h - ch) // 2, (w - cw) // 2
    return arr[top : top + ch, left : left + cw]


def _size(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return {"height": value, "width": value}
    if isinstance(value, dict):
        return {k: int(v) for k, v in value.items() if v is not None}
    raise BackboneError(f"unsupported image processor size {value!r}", expected="an int or a dict")


def _hw(size: dict[str, int], what: str) -> tuple[int, int]:
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    if "shortest_edge" in size:
        return int(size["shortest_edge"]), int(size["shortest_edge"])
    raise BackboneError(f"unsupported image processor {what} {size!r}", expected="height and width")


def _triple(value: Any) -> tuple[float, float, float]:
    values = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)] * 3
    if len(values) != 3:
        raise BackboneError(f"image mean/std {value!r} is not per RGB channel", expected="three numbers")
    return values[0], values[1], values[2]
