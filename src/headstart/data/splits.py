"""Seeded, stratified train/validation/test splits and per-class label budgets.

Both are deterministic for a seed. Budgets are nested: with one seed, the items drawn for
`n=5` are among those drawn for `n=10`, so a study's budgets differ only in the added labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from headstart.data.dataset import Dataset
from headstart.errors import DataError, UsageError


@dataclass
class Splits:
    """The three parts of a dataset; `notes` say what was adjusted (e.g. one-item classes kept in train)."""

    train: Dataset
    validation: Dataset | None
    test: Dataset
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Items per split, for reports."""
        return {
            "train": len(self.train),
            "validation": 0 if self.validation is None else len(self.validation),
            "test": len(self.test),
        }


def split_dataset(ds: Dataset, *, test_size: float = 0.2, validation_size: float = 0.0, seed: int = 0) -> Splits:
    """Split `ds`, honouring its `splits` column when it marks train items (missing parts are carved).

    A split column without train items (e.g. only the official test split) is ignored, with a note.
    Without a usable split column, each class is split on its own (stratified): at least one item of every class with
    two or more items goes to test and one stays in train; one-item classes stay in train (noted).
    `test_size` and `validation_size` are fractions of the whole dataset.
    """
    _check_fraction("test_size", test_size, low_open=True)
    _check_fraction("validation_size", validation_size, low_open=False)
    if test_size + validation_size >= 1.0:
        raise UsageError(
            f"test_size + validation_size = {test_size + validation_size:g} leaves nothing to train on",
            expected="test_size + validation_size < 1",
            fix="lower --test-size or --validation-size",
        )
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    marked = {s for s in (ds.splits or ()) if s is not None}
    if marked and "train" not in marked:
        notes.append(
            f"the split column has no train items (only {', '.join(sorted(marked))}); "  # type: ignore[arg-type]
            "it is ignored and the data is split automatically"
        )
    if "train" in marked:
        train_idx, val_idx, test_idx = _from_column(ds, test_size, validation_size, rng, notes)
    else:
        everything = list(range(len(ds)))
        train_idx, test_idx = _stratified(ds, everything, test_size * len(ds), rng, notes, "test")
        val_idx = []
        if validation_size > 0:
            train_idx, val_idx = _stratified(ds, train_idx, validation_size * len(ds), rng, notes, "validation")
    if not test_idx:
        raise DataError(
            f"no item of {ds.source!r} is left for the test split ({len(ds)} items, {len(ds.classes)} classes)",
            expected="at least one class with two or more items",
            fix="add more labelled items, or give the data a split column with test rows",
        )
    if not train_idx:
        raise DataError(
            f"no item of {ds.source!r} is left for the train split",
            expected="train items in the split column, or more items",
            fix="mark some rows as train, or drop the split column to split automatically",
        )
    validation = ds.subset(sorted(val_idx)) if val_idx else None
    if validation_size > 0 and validation is None:
        notes.append("no item could be spared for validation; training runs without one")
    return Splits(
        train=ds.subset(sorted(train_idx)),
        validation=validation,
        test=ds.subset(sorted(test_idx)),
        notes=notes,
    )


def labels_per_class(ds: Dataset, n: int | None, *, seed: int = 0, classes: Sequence[str] | None = None) -> Dataset:
    """A seeded draw of `n` labelled items per class (all items when `n` is None).

    Multi-label data draws `n` items per rarest tag, regression `n` per quantile bin of the target
    (see `headstart.tasks.strata`).

    A class with fewer than `n` items keeps all of them; that is recorded in the returned
    dataset's `notes`. `classes` (e.g. all classes of the full dataset) makes a class with no
    items here a `DataError`.
    """
    if ds.labels is None:
        raise DataError(
            f"{ds.source!r} has no labels, so a per-class label budget cannot be drawn",
            expected="a labelled dataset",
            fix="pass a dataset with a label column or class folders",
        )
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise UsageError(
            f"labels per class = {n!r} is not a positive whole number",
            expected="an integer >= 1, or none for all labels",
            fix="pass --labels-per-class 5 (for example), or leave it out to use every label",
        )
    by_class = _indices_by_class(ds, list(range(len(ds))))
    present = set(by_class) if ds.task == "classification" else set(ds.classes)
    missing = [c for c in (classes or ()) if c not in present]
    if missing:
        raise DataError(
            f"class(es) {missing} of {ds.source!r} have no items in this part of the data",
            expected="at least one item of every class to draw the label budget from",
            fix="add items of those classes, or lower --test-size so training keeps some",
        )
    if n is None:
        return ds
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    notes: list[str] = []
    for label in sorted(by_class):
        members = by_class[label]
        order = rng.permutation(len(members))
        if len(members) < n:
            notes.append(f"class {label!r} has {len(members)} item(s), fewer than the budget of {n}; all used")
        chosen.extend(members[i] for i in order[:n])
    return ds.subset(sorted(chosen)).with_notes(*notes)


def _check_fraction(name: str, value: float, *, low_open: bool) -> None:
    ok = 0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0
    if not ok:
        bound = "0 < value < 1" if low_open else "0 <= value < 1"
        raise UsageError(
            f"{name} = {value!r} is not a fraction",
            expected=bound,
            fix=f"pass {name} as a fraction of the dataset, e.g. 0.2",
        )


def _indices_by_class(ds: Dataset, indices: Sequence[int]) -> dict[str, list[int]]:
    """Indices grouped by stratum: the class, the rarest tag (multi-label) or the target's quantile bin."""
    keys = ds.strata()
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(keys[i], []).append(i)
    return groups


def _stratified(
    ds: Dataset,
    indices: list[int],
    target: float,
    rng: np.random.Generator,
    notes: list[str],
    part: str,
) -> tuple[list[int], list[int]]:
    """(kept, taken): about `target` items taken, proportionally from each class, in sorted class order.

    Every class keeps at least one item; a class with two or more gives at least one.
    """
    kept: list[int] = []
    taken: list[int] = []
    total = max(len(indices), 1)
    fraction = target / total
    singles: list[str] = []
    for label, members in sorted(_indices_by_class(ds, indices).items()):
        order = [members[i] for i in rng.permutation(len(members))]
        if len(members) < 2:
            singles.append(label)
            kept.extend(order)
            continue
        k = min(max(int(round(len(members) * fraction)), 1), len(members) - 1)
        taken.extend(order[:k])
        kept.extend(order[k:])
    if singles and ds.labels is not None:
        notes.append(
            f"{len(singles)} class(es) with a single item kept in train, none in {part}: "
            + ", ".join(repr(s) for s in singles[:10])
            + (" ..." if len(singles) > 10 else "")
        )
    return kept, taken


def _from_column(
    ds: Dataset,
    test_size: float,
    validation_size: float,
    rng: np.random.Generator,
    notes: list[str],
) -> tuple[list[int], list[int], list[int]]:
    """Indices per split from the dataset's split column, carving missing parts from train."""
    assert ds.splits is not None
    train = [i for i, s in enumerate(ds.splits) if s in ("train", None)]
    val = [i for i, s in enumerate(ds.splits) if s == "validation"]
    test = [i for i, s in enumerate(ds.splits) if s == "test"]
    unassigned = sum(s is None for s in ds.splits)
    if unassigned:
        notes.append(f"{unassigned} item(s) without a split value were put in train")
    if not test:
        notes.append("the split column has no test items; test carved from train")
        train, test = _stratified(ds, train, test_size * len(ds), rng, notes, "test")
    if not val and validation_size > 0:
        notes.append("the split column has no validation items; validation carved from train")
        train, val = _stratified(ds, train, validation_size * len(ds), rng, notes, "validation")
    return train, val, test
