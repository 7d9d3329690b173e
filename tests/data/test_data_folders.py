"""Image folders: class layout, split folders, ignored and bad files, unlabelled inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from headstart.data.folders import load_image_folder, load_image_inputs
from headstart.errors import BadItemError, DataError


def _img(path: Path, color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def test_class_folders_sorted_with_relative_ids(tmp_path: Path) -> None:
    _img(tmp_path / "dog" / "b.png")
    _img(tmp_path / "cat" / "z.jpg")
    _img(tmp_path / "cat" / "a.JPG")
    _img(tmp_path / "dog" / "nested" / "c.webp")
    ds = load_image_folder(tmp_path)
    assert ds.modality == "image"
    assert ds.ids == ("cat/a.JPG", "cat/z.jpg", "dog/b.png", "dog/nested/c.webp")
    assert ds.labels == ("cat", "cat", "dog", "dog")
    assert ds.items[0] == str(tmp_path / "cat" / "a.JPG")
    assert ds.splits is None and ds.source == str(tmp_path)


def test_hidden_ignored_non_images_reported(tmp_path: Path) -> None:
    _img(tmp_path / "cat" / "a.png")
    _img(tmp_path / "dog" / "b.png")
    (tmp_path / "cat" / ".DS_Store").write_text("junk")
    _img(tmp_path / ".hidden" / "x.png")
    (tmp_path / "dog" / "notes.txt").write_text("hi")
    (tmp_path / "README").write_text("about")
    ds = load_image_folder(tmp_path)
    assert ds.ids == ("cat/a.png", "dog/b.png")
    assert [s.to_dict() for s in ds.skipped] == [
        {"id": "README", "reason": "not an image file (no extension)"},
        {"id": "dog/notes.txt", "reason": "not an image file (.txt)"},
    ]


def test_bad_images_skipped_or_fail(tmp_path: Path) -> None:
    _img(tmp_path / "cat" / "a.png")
    _img(tmp_path / "dog" / "b.png")
    (tmp_path / "dog" / "empty.jpg").write_bytes(b"")
    (tmp_path / "cat" / "fake.png").write_text("text, not pixels")
    ds = load_image_folder(tmp_path)
    assert ds.ids == ("cat/a.png", "dog/b.png")
    assert {s.id: s.reason.split(":")[0] for s in ds.skipped} == {
        "cat/fake.png": "not a readable image",
        "dog/empty.jpg": "the file is empty (0 bytes)",
    }
    with pytest.raises(BadItemError, match="(?s)cat/fake.png.*fix:"):
        load_image_folder(tmp_path, on_bad="fail")


def test_split_folders(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for cls in ("cat", "dog"):
            _img(tmp_path / split / cls / f"{split}-{cls}.png")
    ds = load_image_folder(tmp_path)
    assert set(ds.labels or ()) == {"cat", "dog"}
    assert ds.splits is not None
    split_of = dict(zip(ds.ids, ds.splits, strict=True))
    assert split_of["train/cat/train-cat.png"] == "train"
    assert split_of["val/dog/val-dog.png"] == "validation"
    assert split_of["test/cat/test-cat.png"] == "test"


def test_train_only_folder_is_a_class_not_a_split(tmp_path: Path) -> None:
    _img(tmp_path / "train" / "a.png")
    _img(tmp_path / "other" / "b.png")
    ds = load_image_folder(tmp_path)
    assert ds.labels == ("other", "train") and ds.splits is None


def test_split_folder_without_classes(tmp_path: Path) -> None:
    _img(tmp_path / "train" / "a.png")
    _img(tmp_path / "test" / "b.png")
    with pytest.raises(DataError, match=r"(?s)train'? has no class subfolders.*<root>/train/<class>/<file>.*fix:"):
        load_image_folder(tmp_path)


def test_images_without_class_folders(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    with pytest.raises(DataError, match=r"(?s)no class subfolders \(2 image.*<root>/<class>/<file>.*fix: move"):
        load_image_folder(tmp_path)


def test_loose_images_next_to_class_folders_are_skipped(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    _img(tmp_path / "cat" / "b.png")
    ds = load_image_folder(tmp_path)
    assert ds.ids == ("cat/b.png",)
    assert ds.skipped[0].to_dict() == {"id": "a.png", "reason": "not inside a class folder"}


def test_no_images_names_accepted_extensions(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.heic").write_text("x")
    with pytest.raises(
        DataError, match=r"(?s)no images found.*\.bmp, \.gif, \.jpeg, \.jpg, \.png, \.tif, \.tiff, \.webp.*fix:"
    ):
        load_image_folder(tmp_path)


def test_image_inputs_files_and_folders(tmp_path: Path) -> None:
    one = _img(tmp_path / "one.png")
    _img(tmp_path / "more" / "x.jpg")
    _img(tmp_path / "more" / "deep" / "y.gif")
    (tmp_path / "more" / "list.txt").write_text("x")
    ds = load_image_inputs([str(one), str(tmp_path / "more")])
    assert ds.labels is None
    assert ds.ids == (str(one), f"{tmp_path.as_posix()}/more/deep/y.gif", f"{tmp_path.as_posix()}/more/x.jpg")
    assert [s.reason for s in ds.skipped] == ["not an image file (.txt)"]


def test_image_inputs_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="(?s)input .*nope.png' does not exist.*fix:"):
        load_image_inputs([str(tmp_path / "nope.png")])
