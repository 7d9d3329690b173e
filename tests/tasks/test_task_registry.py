"""Task kinds as objects in a registry: what each kind answers, and a new kind registered without other edits."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from headstart.errors import UsageError
from headstart.tasks import (
    Outputs,
    check_task,
    get_task,
    refuse_task,
    register_task,
    task_choices,
)
from headstart.tasks.base import unregister_task
from headstart.tasks.kinds import Classification


def test_the_three_kinds_are_registered_with_their_outputs() -> None:
    assert [get_task(n).outputs for n in ("classification", "multilabel", "regression")] == [
        Outputs.CLASSES,
        Outputs.TAGS,
        Outputs.VALUE,
    ]
    assert get_task("multilabel").label_word == "tag" and get_task("regression").primary_metric == "r2"
    assert not get_task("regression").has_classes and get_task("multilabel").has_classes
    assert get_task("classification").stratifies_by_class and not get_task("multilabel").stratifies_by_class


def test_each_kind_answers_in_its_own_shape() -> None:
    row = np.array([0.2, 0.7, 0.6])
    labels = ["a", "b", "c"]
    assert get_task("classification").answer(row, labels, None, 2).to_dict()["label"] == "b"
    tags = get_task("multilabel").answer(row, labels, np.array([0.5, 0.8, 0.5]), 3).to_dict()
    assert tags["labels"] == ["c"] and len(tags["top"]) == 3
    assert get_task("regression").answer(np.array([2.5]), ["y"], None, 3).to_dict() == {"value": 2.5}
    assert get_task("regression").output_names([], "price") == ["price"]


def test_unknown_kinds_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="not a known task kind"):
        get_task("ranking")
    with pytest.raises(UsageError):
        check_task("ranking")
    assert check_task("auto") == "auto"


def test_commands_built_for_classes_refuse_other_kinds_with_the_alternative() -> None:
    refuse_task("classification", "`headstart expand`")
    with pytest.raises(UsageError, match="retrain with `headstart fit`"):
        refuse_task("regression", "`headstart expand`")


class Ordinal(Classification):
    """Ordered classes, scored by the mean absolute distance in ranks as well."""

    name = "ordinal"
    description = "ordered classes"
    supports = frozenset()


@pytest.fixture
def ordinal() -> Iterator[Ordinal]:
    task = register_task(Ordinal())
    yield task
    unregister_task("ordinal")


def test_a_registered_kind_is_known_everywhere_the_registry_is_asked(ordinal: Ordinal) -> None:
    assert "ordinal" in task_choices() and get_task("ordinal") is ordinal
    assert ordinal.encode(["low", "high"], ["high", "low"]).tolist() == [1, 0]
    with pytest.raises(UsageError, match="does not support ordinal"):
        refuse_task("ordinal", "`headstart expand`")
