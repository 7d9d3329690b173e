"""split_dataset and labels_per_class: determinism, stratification, split column, budgets."""

from __future__ import annotations

from collections import Counter

import pytest

from headstart.data.dataset import Dataset
from headstart.data.splits import labels_per_class, split_dataset
from headstart.errors import DataError, UsageError


def _ds(counts: dict[str, int], splits: list[str | None] | None = None) -> Dataset:
    labels = [c for c, n in counts.items() for _ in range(n)]
    return Dataset(
        modality="text",
        items=tuple(f"text {i}" for i in range(len(labels))),
        ids=tuple(f"row {i + 1}" for i in range(len(labels))),
        labels=tuple(labels),
        splits=None if splits is None else tuple(splits),
        source="mem.csv",
    )


def test_stratified_and_deterministic() -> None:
    ds = _ds({"a": 50, "b": 30, "c": 20})
    s1 = split_dataset(ds, test_size=0.2, seed=3)
    s2 = split_dataset(ds, test_size=0.2, seed=3)
    s3 = split_dataset(ds, test_size=0.2, seed=4)
    assert s1.test.ids == s2.test.ids and s1.train.ids == s2.train.ids
    assert s1.test.ids != s3.test.ids
    assert s1.test.class_counts() == {"a": 10, "b": 6, "c": 4}
    assert set(s1.train.ids).isdisjoint(s1.test.ids)
    assert len(s1.train) + len(s1.test) == 100 and s1.validation is None
    assert s1.counts() == {"train": 80, "validation": 0, "test": 20}


def test_validation_carved_stratified() -> None:
    ds = _ds({"a": 40, "b": 20})
    s = split_dataset(ds, test_size=0.2, validation_size=0.1, seed=0)
    assert s.validation is not None
    assert s.validation.class_counts() == {"a": 4, "b": 2}
    assert s.test.class_counts() == {"a": 8, "b": 4}
    ids = [*s.train.ids, *s.validation.ids, *s.test.ids]
    assert len(ids) == len(set(ids)) == 60


def test_small_classes_handled_gracefully() -> None:
    ds = _ds({"big": 20, "pair": 2, "single": 1})
    s = split_dataset(ds, test_size=0.2, seed=0)
    assert s.test.class_counts() == {"big": 4, "pair": 1}
    assert s.train.class_counts() == {"big": 16, "pair": 1, "single": 1}
    assert any("single" in note and "kept in train" in note for note in s.notes)


def test_nothing_for_test_is_data_error() -> None:
    with pytest.raises(DataError, match="(?s)mem.csv.*test split.*fix:"):
        split_dataset(_ds({"a": 1, "b": 1}))


def test_split_column_honoured() -> None:
    marks: list[str | None] = ["train"] * 6 + ["validation"] * 2 + ["test"] * 2
    ds = _ds({"a": 5, "b": 5}, splits=marks)
    s = split_dataset(ds, test_size=0.5, validation_size=0.3, seed=9)
    assert s.train.ids == ds.ids[:6]
    assert s.validation is not None and s.validation.ids == ds.ids[6:8]
    assert s.test.ids == ds.ids[8:]


def test_split_column_without_test_carves_it() -> None:
    ds = _ds({"a": 5, "b": 5}, splits=["train"] * 10)
    s = split_dataset(ds, test_size=0.2, seed=0)
    assert s.test.class_counts() == {"a": 1, "b": 1}
    assert any("carved" in n for n in s.notes)


def test_split_column_validation_carved_when_asked() -> None:
    marks: list[str | None] = ["train"] * 8 + ["test"] * 2
    ds = _ds({"a": 5, "b": 5}, splits=marks)
    assert split_dataset(ds, seed=0).validation is None
    s = split_dataset(ds, validation_size=0.2, seed=0)
    assert s.validation is not None and len(s.validation) == 2
    assert s.test.ids == ds.ids[8:]


@pytest.mark.parametrize(("test_size", "val_size"), [(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.2, -0.1)])
def test_bad_fractions(test_size: float, val_size: float) -> None:
    with pytest.raises(UsageError, match="fix:"):
        split_dataset(_ds({"a": 5, "b": 5}), test_size=test_size, validation_size=val_size)


def test_budget_per_class_seeded_and_nested() -> None:
    ds = _ds({"a": 20, "b": 3, "c": 10})
    five = labels_per_class(ds, 5, seed=1)
    assert five.class_counts() == {"a": 5, "b": 3, "c": 5}
    assert five.ids == labels_per_class(ds, 5, seed=1).ids
    assert five.ids != labels_per_class(ds, 5, seed=2).ids
    assert set(five.ids) <= set(labels_per_class(ds, 8, seed=1).ids)
    assert five.notes == ("class 'b' has 3 item(s), fewer than the budget of 5; all used",)
    assert labels_per_class(ds, None) is ds


def test_budget_errors() -> None:
    ds = _ds({"a": 3, "b": 3})
    with pytest.raises(UsageError, match="(?s)positive.*fix: pass --labels-per-class"):
        labels_per_class(ds, 0)
    with pytest.raises(DataError, match=r"(?s)\['c'\].*no items.*fix:"):
        labels_per_class(ds, 2, classes=["a", "b", "c"])
    unlabelled = Dataset(modality="text", items=("x",), ids=("row 1",), source="u.txt")
    with pytest.raises(DataError, match="(?s)u.txt.*no labels.*fix:"):
        labels_per_class(unlabelled, 2)


def test_budget_after_split_keeps_stratification() -> None:
    s = split_dataset(_ds({"a": 30, "b": 30}), seed=0)
    budget = labels_per_class(s.train, 4, seed=0, classes=["a", "b"])
    assert Counter(budget.labels) == {"a": 4, "b": 4}
    assert set(budget.ids) <= set(s.train.ids)


def test_split_column_without_train_is_ignored_with_note() -> None:
    ds = _ds({"a": 10, "b": 10}, splits=["test"] * 20)
    s = split_dataset(ds, seed=0)
    assert s.counts() == {"train": 16, "validation": 0, "test": 4}
    assert any("no train items" in n for n in s.notes)
