"""Shared fixtures: an isolated cache, tiny image and text datasets, the shared data folder."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGE_CLASSES = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
TEXT_CLASSES = {
    "sport": [
        "the team won the match",
        "a great goal in the football game",
        "the player scored twice",
        "fans cheered the winning team",
        "the coach praised the players",
        "a tense match ended in a draw",
    ],
    "food": [
        "the soup tasted of garlic",
        "fresh bread from the bakery",
        "a sweet cake with cream",
        "we cooked pasta with tomato",
        "the chef served grilled fish",
        "spicy curry with rice",
    ],
}


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep feature and ONNX caches of the test run away from the user's cache."""
    root = Path(os.environ.get("HEADSTART_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["HEADSTART_CACHE"] = str(root)
    # tracked runs go to a store of this test session, never to ./headstart-runs in the repo
    os.environ["HEADSTART_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('runs')}/mlflow.db"
    # runs are recorded when they end, in the test process: no background worker outlives a test
    os.environ["HEADSTART_TRACK_SYNC"] = "1"
    return root


def make_image_folder(root: Path, per_class: int = 12, size: int = 40, seed: int = 0) -> Path:
    """`root/<colour>/<n>.png`: noisy colour patches, easy to separate by colour."""
    rng = np.random.default_rng(seed)
    for name, rgb in IMAGE_CLASSES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            noise = rng.normal(0, 25, size=(size, size, 3))
            pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n:03d}.png")
    return root


def make_text_csv(path: Path, repeats: int = 2) -> Path:
    """A CSV with `text,label` columns, two easy topics."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for r in range(repeats):
            for label, texts in TEXT_CLASSES.items():
                for t in texts:
                    writer.writerow([t if r == 0 else f"{t} again {r}", label])
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")


@pytest.fixture
def text_csv(tmp_path: Path) -> Path:
    return make_text_csv(tmp_path / "texts.csv")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (they live beside the repo in ../shared/data)")
    return SHARED_DATA
