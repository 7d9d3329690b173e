"""UX audit 7 on data: stray folders beside split folders, a folder of test/ alone, real classes named like a
missing value, evaluate reading a table as the bundle's fit did, and the training-data warning under a budget."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from headstart import api
from headstart.data.folders import load_image_folder
from headstart.data.inspect import label_warnings
from headstart.data.splits import split_dataset
from headstart.errors import DataError
from tests.conftest import make_image_folder, make_text_csv
from tests.tasks.conftest import make_multilabel_csv


def _img(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, 40, 90)).save(path)


def _tree(root: Path, files: list[str]) -> Path:
    """Distinct tiny images at the given relative paths."""
    for value, rel in enumerate(files):
        _img(root / rel, value)
    return root


SPLIT_FILES = [f"{split}/{cls}/{n}.png" for split in ("train", "val", "test") for cls in ("cat", "dog") for n in (0, 1)]


# --- #2 stray folders beside split folders ---------------------------------------------------------------------


@pytest.mark.parametrize("stray", ["__MACOSX/train", ".ipynb_checkpoints", "__pycache__"])
def test_tool_folders_beside_split_folders_keep_the_split_layout(tmp_path: Path, stray: str) -> None:
    root = _tree(tmp_path / "data", SPLIT_FILES)
    (root / stray).mkdir(parents=True)
    _img(root / stray / "._0.png", 200)  # what a macOS zip leaves: never an item, never a class
    ds = load_image_folder(root)
    assert ds.classes == ["cat", "dog"]  # not train/val/test
    assert ds.splits is not None and set(ds.splits) == {"train", "validation", "test"}
    assert len(ds) == 12
    top = stray.split("/")[0]
    assert any(top in note for note in ds.notes) == top.startswith("__")  # dot folders are hidden, not noted


def test_split_folders_beside_a_folder_of_images_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data", [*SPLIT_FILES, "extra/cat/9.png"])
    with pytest.raises(DataError) as err:
        load_image_folder(root)
    assert "mixes split folders (test/, train/, val/) with other folders of images (extra/)" in err.value.what
    assert "move extra/" in err.value.fix


def test_a_split_named_folder_of_class_folders_among_classes_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data", ["cat/0.png", "dog/0.png", "test/cat/1.png", "test/dog/1.png"])
    with pytest.raises(DataError, match=r"mixes split folders \(test/\)"):
        load_image_folder(root)


def test_folders_without_images_beside_split_folders_are_ignored_with_a_note(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data", SPLIT_FILES)
    (root / "notes").mkdir()
    (root / "notes" / "README.md").write_text("how the data was made")
    ds = load_image_folder(root)
    assert ds.classes == ["cat", "dog"] and ds.splits is not None
    assert any("ignored notes/" in note for note in ds.notes)


@pytest.mark.parametrize("classes", [("valid", "invalid"), ("train", "car", "bus")])
def test_one_split_name_holding_images_among_classes_is_a_class(tmp_path: Path, classes: tuple[str, ...]) -> None:
    root = _tree(tmp_path / "data", [f"{name}/{n}.png" for name in classes for n in (0, 1)])
    ds = load_image_folder(root)
    assert ds.classes == sorted(classes) and ds.splits is None


# --- #6 a folder of test/ (or validation/) alone ---------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colours")
    folder = make_image_folder(root / "train", per_class=8)
    return api.fit(folder, backbone="test-cnn", out=str(root / "model"), progress=False, track=False).bundle


@pytest.mark.parametrize(("folder", "split"), [("test", "test"), ("validation", "all")])
def test_evaluate_scores_a_folder_holding_one_held_out_split(
    tmp_path: Path, colour_bundle: Path, folder: str, split: str
) -> None:
    make_image_folder(tmp_path / "held" / folder, per_class=3, seed=4)
    result = api.evaluate(colour_bundle, tmp_path / "held", progress=False)
    assert result.split == split and result.report.n == 9  # every item: it is all held-out, labelled data
    shown = " ".join(result.notes)
    assert ("scored the test split" in shown and "9 of 9 items" in shown) if split == "test" else "9 marked" in shown


def test_fit_on_a_folder_of_test_alone_splits_it_with_a_note(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "held" / "test", per_class=4)
    ds = load_image_folder(tmp_path / "held")
    parts = split_dataset(ds, seed=0)
    assert len(parts.train) and len(parts.test) and ds.classes == ["blue", "green", "red"]
    assert any("split folders) has no train items (only test)" in note for note in parts.notes)


# --- #7 a real class named like a missing value ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["none", "NA", "-", "?", "n/a"])
def test_a_large_class_named_like_a_missing_value_is_a_class(name: str) -> None:
    assert label_warnings({"positive": 20, "negative": 20, name: 20}) == []
    assert label_warnings({"a": 50, "b": 10, "c": 10, name: 12}) == []  # at least the median class size


def test_missing_value_spellings_are_noted_when_accidental_or_small() -> None:
    (big,) = label_warnings({"positive": 20, "negative": 20, "NaN": 20})  # str() of an empty cell: always
    assert "'NaN' (20) look like a missing value" in big
    assert "if they mean 'no label'" in big and "remove" not in big
    (small,) = label_warnings({"positive": 40, "negative": 40, "none": 3, "null": 30})
    assert "'none' (3), 'null' (30)" in small


# --- #8 evaluate reads the table with the bundle's columns ------------------------------------------------------


def _tags_csv(path: Path) -> Path:
    """`text,tags,length`: multi-label, `|` between tags, a label column name fit does not detect."""
    make_multilabel_csv(path, separator="|")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "tags", "length"])
        writer.writerows([*row, len(row[0])] for row in rows[1:])
    return path


def test_evaluate_reuses_the_label_column_fit_was_given(tmp_path: Path) -> None:
    table = _tags_csv(tmp_path / "tags.csv")
    other = tmp_path / "other.csv"
    shutil.copy(table, other)
    fitted = api.fit(
        table,
        backbone="test-text",
        out=str(tmp_path / "m"),
        label_column="tags",
        separator="|",
        progress=False,
        track=False,
    )
    result = api.evaluate(fitted.bundle, other, progress=False)
    assert result.report.n == len(list(csv.reader(other.open()))) - 1
    with pytest.raises(DataError, match="no label column 'length2'"):  # an explicit option still wins
        api.evaluate(fitted.bundle, other, label_column="length2", progress=False)


# --- #9 the training-data warning under a label budget --------------------------------------------------------


def test_training_data_warning_counts_what_a_budget_trained_on(tmp_path: Path) -> None:
    table = make_text_csv(tmp_path / "texts.csv", repeats=4)  # 48 rows, 24 per topic
    fitted = api.fit(
        table, backbone="test-text", out=str(tmp_path / "m"), labels_per_class=3, progress=False, track=False
    )
    counts = json.loads((fitted.bundle / "manifest.json").read_text())["data"]["counts"]
    (warning,) = api.evaluate(fitted.bundle, table, progress=False).warnings
    rest = counts["items"] - counts["test"]
    assert counts["train"] == 6 and f"6 of the other {rest} were used in training" in warning
    assert "a budget of 3 labels per class" in warning and "the rest were used" not in warning


def test_the_training_data_warning_names_metrics_as_the_tables_do() -> None:
    from types import SimpleNamespace

    from headstart.commands.evaluate import fitted_data_warnings
    from headstart.data.dataset import Dataset
    from headstart.data.modalities import item_digests
    from headstart.manifest import Manifest
    from headstart.tasks import get_task

    data = Dataset(modality="text", items=("a", "b", "c"), ids=("row 1", "row 2", "row 3"), labels=("x", "y", "x"))
    for task, metric, shown in [("regression", "r2", "R²"), ("multilabel", "micro_f1", "micro-F1")]:
        manifest = Manifest(
            task=task,
            modality="text",
            labels=["x", "y"],
            strategy={"name": "linear"},  # type: ignore[arg-type]
            data={"fingerprint": data.fingerprint(item_digests(data))},  # type: ignore[arg-type]
            metrics={"test": {metric: 0.5}},
        )
        predictor = SimpleNamespace(manifest=manifest, task=task, kind=get_task(task))
        [warning] = fitted_data_warnings(predictor, data, None, "d.csv")  # type: ignore[arg-type]
        assert f", {shown} 0.500 there" in warning
