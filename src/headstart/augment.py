"""Image augmentation for fine-tuning (PIL only): random resized crop, horizontal flip, colour jitter.

Every view is drawn from a generator seeded by (seed, item digest, view), so cached augmented views are
reproducible and the same on every machine.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transforms (defaults follow common fine-tuning recipes, slightly milder)."""

    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter: float = 0.2  # brightness, contrast and saturation factors in [1 - jitter, 1 + jitter]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def view_rng(seed: int, digest: str, view: int) -> np.random.Generator:
    """The generator for one augmented view of one item."""
    material = hashlib.sha256(f"{seed}:{digest}:{view}".encode()).digest()
    return np.random.default_rng(int.from_bytes(material[:8], "little"))


def random_resized_crop(image: Image.Image, rng: np.random.Generator, spec: AugmentSpec) -> Image.Image:
    """Crop a random area fraction and aspect ratio (the crop is resized later by preprocessing)."""
    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*spec.scale)
        aspect = math.exp(rng.uniform(math.log(spec.ratio[0]), math.log(spec.ratio[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return image.crop((left, top, left + w, top + h))
    return image


def augment_image(image: Image.Image, rng: np.random.Generator, spec: AugmentSpec) -> Image.Image:
    """One random view of `image`."""
    image = random_resized_crop(image, rng, spec)
    if spec.flip and rng.random() < 0.5:
        image = ImageOps.mirror(image)
    if spec.jitter:
        low, high = 1 - spec.jitter, 1 + spec.jitter
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            image = enhancer(image).enhance(float(rng.uniform(low, high)))
    return image
