"""Tiny multi-label and regression datasets for the task-kind tests (same easy signals as tests/conftest.py)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import TEXT_CLASSES, make_image_folder

# sport texts are tagged sport;outdoor, food texts food; every other text of both topics also fun
TOPIC_TAGS = {"sport": ["sport", "outdoor"], "food": ["food"]}
COLOUR_VALUES = {"red": 1.0, "green": 2.5, "blue": 4.0}
COLOUR_TAGS = {"red": "warm;bright", "green": "cool;bright", "blue": "cool"}


def tags_of_text(topic: str, index: int) -> list[str]:
    return sorted([*TOPIC_TAGS[topic], *(["fun"] if index % 2 == 0 else [])])


def make_multilabel_csv(path: Path, repeats: int = 3, separator: str = ";") -> Path:
    """`text,labels`: each text carries its topic's tags (and `fun` on every other text)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "labels"])
        for r in range(repeats):
            for topic, texts in TEXT_CLASSES.items():
                for i, text in enumerate(texts):
                    writer.writerow([text if r == 0 else f"{text} again {r}", separator.join(tags_of_text(topic, i))])
    return path


def make_value_folder(root: Path, per_class: int = 12) -> Path:
    """`root/<number>/<n>.png`: colour patches whose folder name is the value to regress (1, 2.5, 4)."""
    colours = make_image_folder(root.parent / f"{root.name}-colours", per_class=per_class)
    for colour, value in COLOUR_VALUES.items():
        shutil.copytree(colours / colour, root / f"{value:g}")
    return root


def make_image_table(root: Path, rows: dict[str, str], column: str = "labels") -> Path:
    """`root/table.csv` with `path,<column>` rows pointing into a colour-patch folder beside it."""
    colours = make_image_folder(root / "colours", per_class=12)
    table = root / "table.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", column])
        for colour, value in rows.items():
            for file in sorted((colours / colour).iterdir()):
                writer.writerow([f"colours/{colour}/{file.name}", value])
    return table


@pytest.fixture
def multilabel_csv(tmp_path: Path) -> Path:
    return make_multilabel_csv(tmp_path / "tags.csv")


@pytest.fixture
def value_folder(tmp_path: Path) -> Path:
    return make_value_folder(tmp_path / "values")


@pytest.fixture(scope="module")
def text_tag_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import headstart

    root = tmp_path_factory.mktemp("tags")
    table = make_multilabel_csv(root / "tags.csv")
    headstart.fit(str(table), backbone="test-text", out=str(root / "model"), progress=False, track=False)
    return root / "model"


@pytest.fixture(scope="module")
def image_value_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import headstart

    root = tmp_path_factory.mktemp("values")
    folder = make_value_folder(root / "values")
    headstart.fit(
        str(folder), backbone="test-cnn", task="regression", out=str(root / "model"), progress=False, track=False
    )
    return root / "model"
