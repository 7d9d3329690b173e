"""The built-in modalities: images (files decoded with Pillow) and texts (strings read by a tokenizer)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from headstart.data.modalities.base import Modality, register_modality

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
        from headstart.data.images import read_image

        return read_image(item)

    def digest(self, item: str) -> str:
        from headstart.data.dataset import image_sha256

        return image_sha256(item)

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        from headstart.data.image_table import image_path_value

        return image_path_value(table, raw)

    def inspect(self, ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        from headstart.data.inspect import image_sizes

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
        from headstart.data.tables import text_value

        return text_value(raw)


IMAGE = register_modality(ImageModality())
TEXT = register_modality(TextModality())
