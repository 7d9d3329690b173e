"""Loading multi-label and regression data: detection, forcing, image tables, value folders, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from headstart.data import labels_per_class, load_dataset, split_dataset
from headstart.errors import BadItemError, DataError, UsageError
from tests.tasks.conftest import make_image_table


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_separator_in_the_labels_column_means_multilabel(multilabel_csv: Path) -> None:
    ds = load_dataset(multilabel_csv)
    assert ds.task == "multilabel"
    assert ds.classes == ["food", "fun", "outdoor", "sport"]
    assert ds.class_counts()["sport"] == 18 and ds.class_counts()["fun"] == 18
    assert ds.labels[0] == "fun;outdoor;sport"


def test_task_can_be_forced_and_the_separator_chosen(tmp_path: Path) -> None:
    rows = [[f"text {i}", "a|b" if i % 2 else "c"] for i in range(8)]
    table = write_csv(tmp_path / "t.csv", ["text", "label"], rows)
    assert load_dataset(table).task == "classification"  # no ';' anywhere
    ds = load_dataset(table, separator="|")
    assert ds.task == "multilabel" and ds.classes == ["a", "b", "c"]
    forced = load_dataset(table, task="classification", separator="|")
    assert forced.task == "classification" and forced.classes == ["a|b", "c"]


def test_numeric_target_column_means_regression(tmp_path: Path) -> None:
    rows = [[f"item number {i}", f"{i * 1.5}", "x" if i % 2 else "y"] for i in range(10)]
    table = write_csv(tmp_path / "prices.csv", ["text", "price", "label"], rows)
    ds = load_dataset(table, target="price")
    assert ds.task == "regression" and ds.classes == [] and ds.labels[3] == "4.5"
    assert load_dataset(table).task == "classification"  # the label column is used without --target


def test_non_numeric_targets_are_bad_rows_and_a_non_numeric_column_is_an_error(tmp_path: Path) -> None:
    rows = [[f"item {i}", str(i)] for i in range(8)] + [["item x", "cheap"]]
    table = write_csv(tmp_path / "prices.csv", ["text", "price"], rows)
    ds = load_dataset(table, target="price")
    assert len(ds) == 8 and [s.reason for s in ds.skipped] == [
        "target 'cheap' is not a number (regression needs a numeric value in every row)"
    ]
    with pytest.raises(BadItemError, match="row 9.*'cheap' is not a number"):
        load_dataset(table, target="price", on_bad="fail")
    words = write_csv(tmp_path / "words.csv", ["text", "price"], [[f"item {i}", "cheap"] for i in range(5)])
    with pytest.raises(DataError) as err:
        load_dataset(words, target="price")
    assert "cannot be a regression target" in err.value.what
    assert "--label-column" in err.value.fix and err.value.expected == "numbers in every row"


def test_empty_label_sets_are_bad_rows(tmp_path: Path) -> None:
    rows = [["a text", "x;y"], ["another", "y"], ["third one", " ; "], ["fourth", "x"]]
    table = write_csv(tmp_path / "t.csv", ["text", "labels"], rows)
    ds = load_dataset(table)
    assert ds.task == "multilabel" and len(ds) == 3
    assert "empty label set" in ds.skipped[0].reason and ds.skipped[0].id == "row 3"
    with pytest.raises(BadItemError, match="empty label set"):
        load_dataset(table, on_bad="fail")


def test_target_and_label_column_together_is_a_usage_error(tmp_path: Path) -> None:
    table = write_csv(tmp_path / "t.csv", ["text", "price", "label"], [["a", "1", "x"], ["b", "2", "y"]])
    with pytest.raises(UsageError, match="both --target 'price' and --label-column 'label'"):
        load_dataset(table, target="price", label_column="label")


def test_single_value_or_single_tag_is_a_data_error(tmp_path: Path) -> None:
    same = write_csv(tmp_path / "same.csv", ["text", "price"], [[f"t {i}", "3"] for i in range(4)])
    with pytest.raises(DataError, match="single value"):
        load_dataset(same, target="price")
    one = write_csv(tmp_path / "one.csv", ["text", "labels"], [[f"t {i}", "x; x"] for i in range(4)])
    with pytest.raises(DataError, match="1 distinct tag"):
        load_dataset(one, task="multilabel")


def test_image_table_with_tags(tmp_path: Path) -> None:
    table = make_image_table(tmp_path, {"red": "warm;bright", "green": "cool;bright", "blue": "cool"})
    ds = load_dataset(table)
    assert ds.modality == "image" and ds.task == "multilabel"
    assert ds.classes == ["bright", "cool", "warm"] and Path(ds.items[0]).is_file()
    (tmp_path / "colours" / "red" / "000.png").write_bytes(b"not a png")
    again = load_dataset(table)
    assert len(again) == len(ds) - 1 and "row 1" == again.skipped[0].id


def test_image_table_with_a_numeric_target(tmp_path: Path) -> None:
    table = make_image_table(tmp_path, {"red": "1", "green": "2.5", "blue": "4"}, column="value")
    ds = load_dataset(table, target="value")
    assert ds.modality == "image" and ds.task == "regression" and sorted(set(ds.labels)) == ["1.0", "2.5", "4.0"]


def test_value_folders_regress_only_when_asked(value_folder: Path) -> None:
    assert load_dataset(value_folder).task == "classification"
    ds = load_dataset(value_folder, task="regression")
    assert ds.task == "regression" and set(ds.labels) == {"1.0", "2.5", "4.0"}
    (value_folder / "cheap").mkdir()
    (value_folder / "1" / "000.png").rename(value_folder / "cheap" / "000.png")
    with pytest.raises(DataError, match="'cheap'.*not numbers"):
        load_dataset(value_folder, task="regression")


def test_multilabel_on_a_class_folder_is_refused(value_folder: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(value_folder, task="multilabel")
    assert "path,labels" in err.value.expected


def test_splits_and_budgets_stratify_on_tags_and_value_bins(multilabel_csv: Path, value_folder: Path) -> None:
    tags = load_dataset(multilabel_csv)
    splits = split_dataset(tags, test_size=0.25, seed=0)
    assert set(splits.test.classes) == set(tags.classes)  # every tag is in the test split
    budget = labels_per_class(splits.train, 2, seed=0, classes=tags.classes)
    assert set(budget.classes) == set(tags.classes) and len(budget) <= 2 * len(tags.classes)
    values = load_dataset(value_folder, task="regression")
    parts = split_dataset(values, test_size=0.25, seed=0)
    assert set(parts.test.labels) == {"1.0", "2.5", "4.0"}
    assert len(labels_per_class(parts.train, 3, seed=0)) <= 3 * 5


def test_jsonl_and_parquet_tag_lists_are_multilabel(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": ["a b c", "d e f", "g h", "i j"], "labels": [["x", "y"], ["y"], ["z"], ["x"]]})
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.jsonl", "t.parquet"):
        ds = load_dataset(tmp_path / name)
        assert ds.task == "multilabel" and ds.labels == ("x;y", "y", "z", "x"), name


def test_inspect_reports_tags_and_the_target_spread(tmp_path: Path, multilabel_csv: Path) -> None:
    """`inspect --task/--target`: per-tag counts for multi-label data, the target's distribution for regression."""
    import json

    from typer.testing import CliRunner

    from headstart.cli.main import app

    runner = CliRunner()
    tags = runner.invoke(app, ["inspect", str(multilabel_csv), "--json"])
    assert tags.exit_code == 0, tags.output
    doc = json.loads(tags.stdout)
    assert doc["task"] == "multilabel" and doc["target_summary"] is None
    assert set(doc["class_counts"]) == {"sport", "outdoor", "food", "fun"} and doc["n_classes"] == 4

    table = tmp_path / "prices.csv"
    table.write_text("text,label,price\n" + "".join(f"item {i},x,{v}\n" for i, v in enumerate([1, 2, 3, 4, 10])))
    res = runner.invoke(app, ["inspect", str(table), "--target", "price", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["task"] == "regression" and doc["class_counts"] == {} and doc["warnings"] == []
    summary = doc["target_summary"]
    assert summary["n"] == 5 and summary["median"] == 3.0 and summary["max"] == 10.0 and summary["mean"] == 4.0
    human = runner.invoke(app, ["inspect", str(table), "--target", "price"])
    assert human.exit_code == 0 and "regression" in human.stdout and "median" in human.stdout
