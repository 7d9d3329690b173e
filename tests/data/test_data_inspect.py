"""inspect_dataset and the dataset fingerprint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from PIL import Image

from headstart.data.dataset import Dataset, SkippedItem
from headstart.data.folders import load_image_folder
from headstart.data.inspect import inspect_dataset
from headstart.data.modalities import item_digests
from headstart.data.tables import load_table


def fingerprint(ds: Dataset) -> str:
    return ds.fingerprint(item_digests(ds))


def _img(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _text(items: list[str], labels: list[str], splits: list[str | None] | None = None) -> Dataset:
    return Dataset(
        modality="text",
        items=tuple(items),
        ids=tuple(f"row {i + 1}" for i in range(len(items))),
        labels=tuple(labels),
        splits=None if splits is None else tuple(splits),
        source="mem.csv",
    )


def test_fingerprint_order_independent_and_content_sensitive() -> None:
    ds = _text(["a", "b", "c"], ["x", "y", "x"])
    assert fingerprint(ds) == fingerprint(ds.subset([2, 0, 1]))
    assert fingerprint(ds) != fingerprint(replace(ds, labels=("x", "y", "y")))
    assert fingerprint(ds) != fingerprint(replace(ds, items=("a", "b", "C")))
    assert fingerprint(ds) != fingerprint(replace(ds, splits=("train", "train", "test")))
    assert fingerprint(ds) == fingerprint(ds.with_notes("something"))


def test_fingerprint_tracks_image_bytes_and_table_row_order(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "cat" / "a.png", (1, 2, 3))
    _img(tmp_path / "d" / "dog" / "b.png", (4, 5, 6))
    before = fingerprint(load_image_folder(tmp_path / "d"))
    _img(tmp_path / "d" / "dog" / "b.png", (4, 5, 7))
    assert fingerprint(load_image_folder(tmp_path / "d")) != before
    one = tmp_path / "one.csv"
    one.write_text("text,label\nhello,a\nbye,b\n")
    two = tmp_path / "two.csv"
    two.write_text("text,label\nbye,b\nhello,a\n")
    assert fingerprint(load_table(one)) == fingerprint(load_table(two))


def test_report_counts_duplicates_conflicts_and_imbalance() -> None:
    items = ["same"] * 3 + ["twin", "twin"] + [f"t{i}" for i in range(20)]
    labels = ["a", "a", "b", "b", "b"] + ["a"] * 20
    report = inspect_dataset(_text(items, labels))
    assert report.n_items == 25 and report.n_classes == 2
    assert report.class_counts == {"a": 22, "b": 3}
    assert sorted(report.duplicates) == [["row 1", "row 2", "row 3"], ["row 4", "row 5"]]
    assert report.conflicts == [{"ids": ["row 1", "row 2", "row 3"], "labels": ["a", "b"]}]
    text = " ".join(report.warnings)
    assert "imbalanced" in text and "fewer than 5" in text and "different labels" in text
    assert report.split_counts is None and report.image_sizes is None
    assert report.fingerprint == fingerprint(_text(items, labels))
    json.dumps(report.to_dict())


def test_report_split_counts_and_skipped() -> None:
    ds = replace(
        _text(["a", "b", "c"], ["x", "y", "x"], splits=["train", "test", "train"]),
        skipped=(SkippedItem("row 9", "empty text"),),
    )
    report = inspect_dataset(ds)
    assert report.split_counts == {"train": 2, "validation": 0, "test": 1}
    assert report.skipped == [{"id": "row 9", "reason": "empty text"}]
    assert any("skipped" in w for w in report.warnings)


def test_image_report_sizes_and_duplicate_files(tmp_path: Path) -> None:
    _img(tmp_path / "cat" / "a.png", (9, 9, 9), size=(10, 20))
    _img(tmp_path / "cat" / "b.png", (8, 8, 8), size=(30, 40))
    _img(tmp_path / "dog" / "c.png", (9, 9, 9), size=(10, 20))
    (tmp_path / "dog" / "bad.jpg").write_bytes(b"")
    report = inspect_dataset(load_image_folder(tmp_path))
    assert report.image_sizes == {
        "width": {"min": 10, "median": 10.0, "max": 30},
        "height": {"min": 20, "median": 20.0, "max": 40},
    }
    assert report.conflicts == [{"ids": ["cat/a.png", "dog/c.png"], "labels": ["cat", "dog"]}]
    assert report.skipped[0]["id"] == "dog/bad.jpg"
    assert report.to_dict()["modality"] == "image"


def test_image_report_finds_truncated_files_that_a_header_check_passes(tmp_path: Path) -> None:
    import numpy as np

    _img(tmp_path / "cat" / "a.png", (9, 9, 9), size=(10, 20))
    _img(tmp_path / "dog" / "b.png", (8, 8, 8), size=(10, 20))
    cut = tmp_path / "dog" / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(cut, quality=95)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    dataset = load_image_folder(tmp_path)
    assert len(dataset) == 3  # the header check at load time lets it through, as `fit` does before decoding
    report = inspect_dataset(dataset)
    assert [s["id"] for s in report.skipped] == ["dog/cut.jpg"] and "truncated" in report.skipped[0]["reason"]
    assert report.n_items == 2 and any("could not be decoded" in w for w in report.warnings)
    quick = inspect_dataset(dataset, decode=False)
    assert quick.skipped == [] and quick.n_items == 3
