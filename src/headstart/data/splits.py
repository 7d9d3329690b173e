"""Seeded, stratified train/validation/test splits and per-class label budgets.

Both are deterministic for a seed. Budgets are nested: with one seed, the items drawn for
`n=5` are among those drawn for `n=10`, so a study's budgets differ only in the added labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from headstart.data.dataset import Dataset
from headstart.data.modalities import item_digests
from headstart.errors import DataError, UsageError
from headstart.tasks import get_task


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


def split_dataset(
    ds: Dataset,
    *,
    test_size: float = 0.2,
    validation_size: float = 0.0,
    seed: int = 0,
    digests: Sequence[str] | None = None,
) -> Splits:
    """Split `ds`, honouring its `splits` column when it marks train items (missing parts are carved).

    A split column without train items (e.g. only the official test split) is ignored, with a note.
    Without a usable split column, each class is split on its own (stratified): at least one item of every class with
    two or more items goes to test and one stays in train; one-item classes stay in train (noted).
    Identical items (same `item_digest`; `digests` may pass them precomputed) always land on the same side of a
    carved split, so a test score never rewards memorising a copy; without copies the split is unchanged.
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
    groups = copy_groups(ds, digests)
    marked = {s for s in (ds.splits or ()) if s is not None}
    if marked and "train" not in marked:
        notes.append(
            f"the split column (or split folders) has no train items (only {', '.join(sorted(marked))}); "  # type: ignore[arg-type]
            "it is ignored and the data is split automatically"
        )
    if "train" in marked:
        train_idx, val_idx, test_idx = _from_column(ds, test_size, validation_size, rng, notes, groups)
    else:
        everything = list(range(len(ds)))
        train_idx, test_idx = _stratified(ds, everything, test_size * len(ds), rng, notes, "test", groups)
        val_idx = []
        if validation_size > 0:
            train_idx, val_idx = _stratified(ds, train_idx, validation_size * len(ds), rng, notes, "validation", groups)
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
    notes.extend(_leak_notes(ds, groups, train_idx, val_idx, test_idx))
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
    present = set(by_class) if get_task(ds.task).stratifies_by_class else set(ds.classes)
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
            who = f"class {label!r}" if label else "the data"  # a kind without classes (fields) has one stratum
            notes.append(f"{who} has {len(members)} item(s), fewer than the budget of {n}; all used")
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


def copy_groups(ds: Dataset, digests: Sequence[str] | None = None) -> list[int]:
    """For each item, the index of the first item with the same content (itself when it has no earlier copy)."""
    if digests is not None and len(digests) != len(ds):
        raise ValueError("digests and items differ in length")
    first: dict[str, int] = {}
    return [first.setdefault(digest, i) for i, digest in enumerate(item_digests(ds) if digests is None else digests)]


def _stratified(
    ds: Dataset,
    indices: list[int],
    target: float,
    rng: np.random.Generator,
    notes: list[str],
    part: str,
    groups: list[int] | None = None,
) -> tuple[list[int], list[int]]:
    """(kept, taken): about `target` items taken, proportionally from each class, in sorted class order.

    Identical items (one `groups` value) move together, as one unit of the class of their first copy. Every class
    keeps at least one unit; a class with two or more units gives at least one, and otherwise whole units while
    they fit its share. The random draw is the per-item one, so classes without copies split exactly as they
    would without this rule.
    """
    units = _units(indices, groups)
    head_of = {i: head for head, members in units.items() for i in members}
    keys = ds.strata()
    kept: list[int] = []
    taken: list[int] = []
    total = max(len(indices), 1)
    fraction = target / total
    singles: list[str] = []
    copies: list[str] = []
    for label, members in sorted(_indices_by_class(ds, indices).items()):
        permuted = [members[i] for i in rng.permutation(len(members))]
        heads = [h for h in dict.fromkeys(head_of[i] for i in permuted) if keys[h] == label]
        order = [units[h] for h in heads]
        if not order:  # every item here is a copy of an item of another class, and goes with it
            continue
        if len(order) < 2:
            (singles if len(order[0]) < 2 else copies).append(label)
            kept.extend(i for unit in order for i in unit)
            continue
        n_items = sum(len(unit) for unit in order)
        share = max(int(round(n_items * fraction)), 1)
        chosen = _fill(order, share)
        taken.extend(i for k, unit in enumerate(order) if k in chosen for i in unit)
        kept.extend(i for k, unit in enumerate(order) if k not in chosen for i in unit)
    if singles and ds.labels is not None:
        notes.append(
            f"{len(singles)} class(es) with a single item kept in train, none in {part}: "
            + ", ".join(repr(s) for s in singles[:10])
            + (" ..." if len(singles) > 10 else "")
        )
    if copies and ds.labels is not None:
        notes.append(
            f"{len(copies)} class(es) whose items are all copies of one item kept in train, none in {part}: "
            + ", ".join(repr(s) for s in copies[:10])
            + (" ..." if len(copies) > 10 else "")
        )
    return kept, taken


def _units(indices: list[int], groups: list[int] | None) -> dict[int, list[int]]:
    """Indices gathered into units of identical items, keyed by (and in the order of) each unit's first index."""
    units: dict[int, list[int]] = {}
    heads: dict[int, int] = {}
    for i in indices:
        key = i if groups is None else groups[i]
        head = heads.setdefault(key, i)
        units.setdefault(head, []).append(i)
    return units


def _fill(order: list[list[int]], share: int) -> set[int]:
    """Positions in `order` of the units to take: in order, each unit that still fits in `share` items, at most all
    but one unit, and at least one (the smallest) unit when none fits."""
    chosen: set[int] = set()
    count = 0
    for k, unit in enumerate(order):
        if len(chosen) == len(order) - 1:
            break
        if count + len(unit) <= share:
            chosen.add(k)
            count += len(unit)
    if not chosen:
        chosen.add(min(range(len(order)), key=lambda k: len(order[k])))
    return chosen


def _leak_notes(ds: Dataset, groups: list[int], train: list[int], validation: list[int], test: list[int]) -> list[str]:
    """A note when identical items sit in train and in a held-out part (only a given split column can do that)."""
    seen = {groups[i] for i in train}
    notes = []
    for name, part in (("test", test), ("validation", validation)):
        leaked = [i for i in part if groups[i] in seen]
        if leaked:
            notes.append(
                f"{len(leaked)} {name} item(s) have an identical copy in train (e.g. {ds.ids[leaked[0]]}), "
                f"so the {name} score partly measures memorisation; remove the copies from one side"
            )
    chosen_on = {groups[i] for i in validation} - seen  # early stopping picks the epoch that fits these best
    echoed = [i for i in test if groups[i] in chosen_on]
    if echoed:
        notes.append(
            f"{len(echoed)} test item(s) have an identical copy in validation (e.g. {ds.ids[echoed[0]]}), on which "
            "training picks its best epoch: the test score is slightly optimistic; remove the copies from one side"
        )
    return notes


def _from_column(
    ds: Dataset,
    test_size: float,
    validation_size: float,
    rng: np.random.Generator,
    notes: list[str],
    groups: list[int],
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
        train, test = _stratified(ds, train, test_size * len(ds), rng, notes, "test", groups)
        notes.append(f"the data has no test split; test carved from train ({len(test)} items)")
    if not val and validation_size > 0:
        train, val = _stratified(ds, train, validation_size * len(ds), rng, notes, "validation", groups)
        notes.append(f"the data has no validation split; validation carved from train ({len(val)} items)")
    return train, val, test
