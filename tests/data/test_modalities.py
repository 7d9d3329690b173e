"""Modalities as objects in a registry: what image and text own, and a new one registered without other edits."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from headstart.data.modalities import get_modality, modality_names, register_modality, unregister_modality
from headstart.data.modalities.base import Modality
from headstart.errors import BadItemError, UsageError


def test_image_and_text_own_their_inputs_and_defaults(tmp_path: Path) -> None:
    image, text = get_modality("image"), get_modality("text")
    assert (image.default_backbone, text.default_backbone) == ("efficientnet-lite0", "minilm-l6")
    assert image.accepts_uploads and not image.accepts_texts and text.accepts_texts and not text.accepts_uploads
    assert image.page()["input"] == "file" and text.page()["input"] == "text"
    assert text.decode("hello") == "hello"
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    assert image.decode(str(tmp_path / "a.png")).size == (4, 4)
    with pytest.raises(BadItemError):
        image.decode(str(tmp_path / "missing.png"))
    assert text.table_item(tmp_path, "  ") == (None, "empty text (only whitespace)")
    assert image.table_item(tmp_path / "table.csv", "a.png") == (str(tmp_path / "a.png"), None)


def test_an_unknown_modality_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="'image', 'text'|image, text"):
        get_modality("video")


def test_a_registered_modality_is_found_by_name() -> None:
    class Video(Modality):
        name = "video"
        noun = "clip"

    register_modality(Video())
    try:
        assert "video" in modality_names() and get_modality("video").noun == "clip"
        assert get_modality("video").page()["input"] == "text"
    finally:
        unregister_modality("video")
