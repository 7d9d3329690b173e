"""Getting data in: split folder layouts, bundles given as data, copies across splits, suspicious labels,
`;`-separated CSVs, TIFF images, and the validation split of strategies that cross-validate."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import headstart
from headstart.data.dataset import Dataset, concat
from headstart.data.folders import load_image_folder
from headstart.data.inspect import data_warnings, inspect_dataset, label_warnings
from headstart.data.loading import load_dataset
from headstart.data.modalities import item_digests
from headstart.data.splits import split_dataset
from headstart.data.tables import csv_delimiter, load_table
from headstart.errors import DataError
from headstart.strategies import resolve_strategy
from headstart.strategies.base import FitInputs, merge_validation
from tests.data.test_data_inspect import _text


def _img(path: Path, value: int = 0, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, 40, 90)).save(path, format=fmt)


def _split_tree(root: Path, splits: tuple[str, ...], per_class: int = 3) -> None:
    """Distinct images (no copies, which the split would keep together) in <split>/<class>/<n>.png."""
    cells = [(split, cls, n) for split in splits for cls in ("cat", "dog") for n in range(per_class)]
    assert len(cells) <= 250
    for value, (split, cls, n) in enumerate(cells):
        _img(root / split / cls / f"{n}.png", value=value)


# --- split folder layouts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("val", ["val", "valid", "validation", "dev"])
def test_train_and_validation_folders_without_test_are_splits_not_classes(tmp_path: Path, val: str) -> None:
    _split_tree(tmp_path, ("train", val), per_class=5)
    ds = load_image_folder(tmp_path)
    assert ds.classes == ["cat", "dog"]
    assert ds.splits is not None and set(ds.splits) == {"train", "validation"}
    parts = split_dataset(ds, test_size=0.2, seed=0)
    assert parts.validation is not None and len(parts.validation) == 10
    assert parts.test.class_counts() == {"cat": 2, "dog": 2}  # test carved from train, stratified
    assert set(parts.test.ids) <= {i for i, s in zip(ds.ids, ds.splits, strict=True) if s == "train"}
    assert any("no test split; test carved from train (4 items)" in n for n in parts.notes)


def test_train_folder_alone_is_a_split_layout(tmp_path: Path) -> None:
    _split_tree(tmp_path, ("train",))
    ds = load_image_folder(tmp_path)
    assert ds.classes == ["cat", "dog"] and set(ds.splits or ()) == {"train"}


def test_split_folders_without_train_are_held_out_splits_not_classes(tmp_path: Path) -> None:
    _split_tree(tmp_path, ("val", "test"))
    ds = load_image_folder(tmp_path)  # labelled held-out data: evaluate scores it; fit splits it (noted)
    assert ds.classes == ["cat", "dog"] and set(ds.splits or ()) == {"validation", "test"}


def test_two_folders_for_one_split_are_refused(tmp_path: Path) -> None:
    _split_tree(tmp_path, ("train", "val", "dev"))
    with pytest.raises(DataError, match=r"(?s)names one split twice.*fix:"):
        load_image_folder(tmp_path)


# --- a bundle given as data ------------------------------------------------------------------------------------


def test_bundle_folder_as_data_says_it_is_a_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "m_lin"
    _img(bundle / "cat" / "x.png")  # even a bundle that happens to hold images
    (bundle / "manifest.json").write_text("{}")
    with pytest.raises(DataError, match=r"(?s)m_lin'? is a headstart bundle.*fix:.*headstart predict .*m_lin"):
        load_dataset(str(bundle))


def test_folder_of_images_suggests_its_parent(tmp_path: Path) -> None:
    _img(tmp_path / "daisy" / "a.png")
    with pytest.raises(DataError, match=r"(?s)fix: move the images.*'daisy' is itself a class folder.*folder above"):
        load_image_folder(tmp_path / "daisy")


# --- image formats ---------------------------------------------------------------------------------------------


def test_tiff_images_are_read_and_other_formats_named(tmp_path: Path) -> None:
    _img(tmp_path / "cat" / "a.tif", fmt="TIFF")
    _img(tmp_path / "dog" / "b.tiff", fmt="TIFF")
    Image.fromarray(np.full((6, 6), 40000, dtype=np.uint16)).save(tmp_path / "dog" / "deep.tiff")  # 16-bit grey
    (tmp_path / "dog" / "c.heic").write_bytes(b"not really")
    ds = load_image_folder(tmp_path)
    assert ds.ids == ("cat/a.tif", "dog/b.tiff", "dog/deep.tiff")
    assert [s.reason for s in ds.skipped] == [
        "unsupported image format (.heic); accepted: .bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp"
    ]
    from headstart.data.images import read_image

    assert read_image(tmp_path / "dog" / "deep.tiff").getpixel((0, 0)) == (156, 156, 156)


# --- copies across splits --------------------------------------------------------------------------------------


def _copies_dataset() -> Dataset:
    """8 distinct sentences x 5 copies (like a scraped FAQ), two classes, plus 10 distinct items per class."""
    items, labels = [], []
    for _ in range(5):
        for k in range(8):
            items.append(f"sentence {k}")
            labels.append("pos" if k < 4 else "neg")
    for k in range(20):
        items.append(f"unique {k}")
        labels.append("pos" if k % 2 else "neg")
    return _text(items, labels)


@pytest.mark.parametrize("seed", range(6))
def test_identical_items_never_cross_the_split(seed: int) -> None:
    ds = _copies_dataset()
    parts = split_dataset(ds, test_size=0.2, validation_size=0.2, seed=seed)
    assert parts.validation is not None
    sides = [set(parts.train.items), set(parts.validation.items), set(parts.test.items)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert sides[a].isdisjoint(sides[b])
    assert len(parts.train) + len(parts.validation) + len(parts.test) == len(ds)
    assert set(parts.test.class_counts()) == {"neg", "pos"}  # still stratified
    assert 8 <= len(parts.test) <= 16  # close to the 12 asked for, in whole groups of copies
    again = split_dataset(ds, test_size=0.2, validation_size=0.2, seed=seed)
    assert again.test.ids == parts.test.ids and again.train.ids == parts.train.ids


def test_copies_with_conflicting_labels_stay_together() -> None:
    items = ["same"] * 4 + [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    labels = ["a", "b", "a", "b"] + ["a"] * 10 + ["b"] * 10
    ds = _text(items, labels)
    for seed in range(10):
        parts = split_dataset(ds, test_size=0.3, seed=seed)
        in_test = sum(item == "same" for item in parts.test.items)
        assert in_test in (0, 4)


def test_class_made_of_one_item_copied_stays_in_train_with_note() -> None:
    ds = _text(["x"] * 3 + [f"b{i}" for i in range(10)], ["a"] * 3 + ["b"] * 10)
    parts = split_dataset(ds, seed=0)
    assert parts.test.class_counts() == {"b": 2} and parts.train.class_counts()["a"] == 3
    assert any("all copies of one item" in n and "'a'" in n for n in parts.notes)


def test_given_split_column_with_copies_across_it_is_noted_not_changed() -> None:
    items = ["dup", "t1", "t2", "t3", "dup", "t5"]
    marks: list[str | None] = ["train", "train", "train", "train", "test", "test"]
    ds = _text(items, ["a", "b", "a", "b", "a", "b"], marks)
    parts = split_dataset(ds, seed=0)
    assert parts.test.ids == ("row 5", "row 6")
    assert any("1 test item(s) have an identical copy in train (e.g. row 5)" in n for n in parts.notes)


def test_copies_between_validation_and_test_are_noted() -> None:
    items = ["t0", "t1", "t2", "t3", "dup", "v1", "dup", "t7"]
    marks: list[str | None] = ["train", "train", "train", "train", "validation", "validation", "test", "test"]
    ds = _text(items, ["a", "b", "a", "b", "a", "b", "a", "b"], marks)
    parts = split_dataset(ds, seed=0)
    assert any("1 test item(s) have an identical copy in validation (e.g. row 7)" in n for n in parts.notes)
    assert not any("copy in train" in n for n in parts.notes)


# --- suspicious labels and what fit repeats of inspect ---------------------------------------------------------


def test_label_warnings_case_variants_and_missing_spellings() -> None:
    warnings = label_warnings({"Ham": 8, "ham": 32, "spam ": 3, "spam": 30, "NaN": 8, "N/A": 1, "none2": 4})
    text = " ".join(warnings)
    assert "2 group(s) of labels differ only in case or spaces" in text
    assert "'Ham' (8) / 'ham' (32)" in text and "'spam' (30) / 'spam ' (3)" in text
    assert "'NaN' (8), 'N/A' (1) look like a missing value" in text and "none2" not in text
    assert label_warnings({"ham": 5, "spam": 5}) == []


def test_inspect_reports_label_and_copy_warnings_without_renaming() -> None:
    ds = _text(
        ["a", "b", "c", "d", "d", "e"],
        ["Ham", "ham", "NaN", "spam", "ham", "spam"],
    )
    report = inspect_dataset(ds)
    assert report.class_counts == {"Ham": 1, "NaN": 1, "ham": 2, "spam": 2}  # labels kept as written
    text = " ".join(report.warnings)
    assert "differ only in case" in text and "look like a missing value" in text
    assert "1 group(s) of identical items (2 items" in text
    assert "carry different labels (e.g. row 4, row 5: ham / spam)" in text
    digests = item_digests(ds)
    assert data_warnings(ds, digests) == [w for w in report.warnings if "imbalanced" not in w and "fewer" not in w]


def test_fit_repeats_inspects_warnings_about_copies(tmp_path: Path) -> None:
    path = tmp_path / "copies.csv"
    rows = [(f"sentence {k} about {'sport' if k < 4 else 'food'}", "sport" if k < 4 else "food") for k in range(8)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for _ in range(4):
            writer.writerows(rows)
        writer.writerow(["sentence 0 about sport", "food"])  # a copy with another label
    result = headstart.fit(path, strategy="baseline", out=str(tmp_path / "m"), progress=False, track=False)
    notes = " ".join(result.notes)
    assert "group(s) of identical items" in notes and "carry different labels" in notes
    assert result.counts["train"] + result.counts["test"] == 33


# --- ;-separated CSV -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sep", "name"), [(";", "semi"), ("\t", "tab"), ("|", "pipe"), (",", "comma")])
def test_csv_delimiter_is_detected_from_the_header(tmp_path: Path, sep: str, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter=sep)
        writer.writerow(["text", "label"])
        for i in range(6):
            writer.writerow([f"hello, world; item {i} | ok", "a" if i % 2 else "b"])
    assert csv_delimiter(path) == sep
    ds = load_table(path)
    assert ds.labels == ("b", "a", "b", "a", "b", "a")
    assert ds.items[0] == "hello, world; item 0 | ok"


def test_single_column_csv_keeps_comma(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("text\nhello; there\n")
    assert csv_delimiter(path) == ","


# --- the validation split of strategies that cross-validate -----------------------------------------------------


def test_merge_validation_adds_validation_to_train_for_linear() -> None:
    train = _text([f"t{i}" for i in range(6)], ["a", "b"] * 3, ["train"] * 6)
    val = _text([f"v{i}" for i in range(4)], ["a", "b"] * 2, ["validation"] * 4)
    config = headstart.config.FitConfig()
    linear, _ = resolve_strategy("linear")
    inputs, notes = merge_validation(linear, FitInputs(train=train, backbone=None, config=config, validation=val))
    assert inputs.validation is None and len(inputs.train) == 10 and inputs.train.items[-1] == "v3"
    assert notes == ["validation split (4 items) added to training: linear picks C by cross-validation"]
    budget = config.model_copy(update={"labels_per_class": 2})
    inputs, notes = merge_validation(linear, FitInputs(train=train, backbone=None, config=budget, validation=val))
    assert inputs.train.class_counts() == {"a": 2, "b": 2} and notes[0].endswith(
        "; the budget of 2 per class is drawn from both"
    )
    partial, _ = resolve_strategy("partial:1")
    kept = FitInputs(train=train, backbone=None, config=config, validation=val)
    assert merge_validation(partial, kept) == (kept, [])


def test_concat_keeps_order_and_splits() -> None:
    a = _text(["x"], ["a"], ["train"])
    b = _text(["y"], ["b"])
    both = concat(a, b)
    assert both.items == ("x", "y") and both.labels == ("a", "b") and both.splits == ("train", None)


def test_fit_baseline_uses_the_validation_rows(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for i in range(30):
            split = "train" if i < 18 else "validation" if i < 24 else "test"
            writer.writerow([f"{'goal match team' if i % 2 else 'soup bread cake'} {i}", "a" if i % 2 else "b", split])
    result = headstart.fit(path, strategy="baseline", out=str(tmp_path / "m"), progress=False, track=False)
    assert result.counts["train"] == 24 and result.counts["test"] == 6
    assert "validation split (6 items) added to training: baseline picks C by cross-validation" in result.notes
    tuned = headstart.fit(
        path, strategy="contrastive", backbone="test-text", max_epochs=1, out=str(tmp_path / "c"), progress=False,
        track=False,
    )  # fmt: skip
    assert tuned.counts["train"] == 24
    assert any(n.startswith("validation split (6 items) added to training: contrastive runs") for n in tuned.notes)
