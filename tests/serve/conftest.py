"""Bundles trained once per session on the tiny backbones, and test clients over them."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import headstart
from headstart.server import create_app
from tests.conftest import TEXT_CLASSES, make_image_folder, make_text_csv
from tests.tasks.conftest import make_multilabel_csv


def _fitted(data: Path, backbone: str, **options: object) -> Path:
    """`data` fitted on a tiny backbone into `model/` beside it."""
    out = data.parent / "model"
    headstart.fit(str(data), backbone=backbone, out=str(out), progress=False, **options)
    return out


@pytest.fixture(scope="session")
def image_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fitted(make_image_folder(tmp_path_factory.mktemp("serve-image") / "images"), "test-cnn")


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fitted(make_text_csv(tmp_path_factory.mktemp("serve-text") / "texts.csv"), "test-text")


@pytest.fixture(scope="session")
def text_value_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Text regression: sport texts score 1, food texts 3 (the target column is `target`)."""
    table = tmp_path_factory.mktemp("serve-text-value") / "scores.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "target"])
        for r in range(3):
            for topic, value in (("sport", 1.0), ("food", 3.0)):
                for text in TEXT_CLASSES[topic]:
                    writer.writerow([text if r == 0 else f"{text} again {r}", value])
    return _fitted(table, "test-text", task="regression")


@pytest.fixture(scope="session")
def text_tag_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Multi-label texts: sport texts are tagged sport;outdoor, food texts food, every other text also fun."""
    return _fitted(make_multilabel_csv(tmp_path_factory.mktemp("serve-text-tags") / "tags.csv"), "test-text")


@pytest.fixture(scope="module")
def image_client(image_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(image_bundle, max_inputs=4, max_image_pixels=100_000)) as client:
        yield client


@pytest.fixture(scope="module")
def text_client(text_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(text_bundle, max_inputs=4, max_text_chars=200)) as client:
        yield client


def png_bytes(rgb: tuple[int, int, int] = (220, 30, 30), size: tuple[int, int] = (40, 40)) -> bytes:
    """A noisy colour patch like the training images, as PNG bytes."""
    rng = np.random.default_rng(1)
    pixels = np.clip(np.array(rgb) + rng.normal(0, 25, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` in its header but holds almost no data (a decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")
