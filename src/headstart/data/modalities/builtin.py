"""The built-in modalities: images (files decoded with Pillow) and texts (strings read by a tokenizer)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.cells import text_value
from headstart.data.hashing import image_sha256
from headstart.data.images import image_size, read_image
from headstart.data.modalities.base import Modality, register_modality
from headstart.errors import BadItemError

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset


class ImageModality(Modality):
    name = "image"
    noun = "image"
    default_backbone = "efficientnet-lite0"
    baseline_features = "pixels"
    size_unit = "px"
    resizable = True
    items_are_files = True
    augmentable = True
    accepts_uploads = True
    page_input = "file"
    one_class_fix = "add a second class folder next to {first!r}: <root>/<class>/<file>"

    def decode(self, item: str) -> Any:
        return read_image(item)

    def digest(self, item: str) -> str:
        return image_sha256(item)

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        from headstart.data.folders import IMAGES

        return IMAGES.table_item(table, raw)

    def inspect(self, ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        return image_sizes(ds, decode)


class TextModality(Modality):
    name = "text"
    noun = "text"
    default_backbone = "minilm-l6"
    baseline_features = "tfidf"
    size_unit = "tokens"
    ragged = True
    accepts_texts = True
    page_input = "text"
    one_class_fix = "add rows of at least one other class, or check that --label-column is the right column"

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        return text_value(raw)


IMAGE = register_modality(ImageModality())
TEXT = register_modality(TextModality())


def image_sizes(ds: Dataset, decode: bool) -> tuple[dict[str, dict[str, float]] | None, list[dict[str, str]]]:
    """min/median/max of widths and heights (decoding each image, or from headers only), and the items that
    failed, as skipped entries."""
    widths: list[int] = []
    heights: list[int] = []
    broken: list[dict[str, str]] = []
    for item_id, path in zip(ds.ids, ds.items, strict=True):
        try:
            w, h = read_image(path).size if decode else image_size(path)
        except BadItemError as err:
            broken.append({"id": item_id, "reason": err.reason})
            continue
        widths.append(w)
        heights.append(h)
    if not widths:
        return None, broken

    def summary(values: list[int]) -> dict[str, float]:
        return {"min": min(values), "median": float(np.median(values)), "max": max(values)}

    return {"width": summary(widths), "height": summary(heights)}, broken
