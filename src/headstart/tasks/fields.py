"""The `fields` task kind: key fields (company, date, total...) per document, given as a JSON object per item.

Only reading and inspecting documents use it so far; the tagger that learns it (and the metrics: per-field
exact match, entity micro-F1) come with `fit`. Until then every command that trains refuses it (`supports`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from headstart.tasks.base import Outputs, Task, register_task


class FieldExtraction(Task):
    """One value per named field of a document (labels: canonical JSON objects of field -> value)."""

    name = "fields"
    outputs = Outputs.FIELDS  # no built-in strategy fits it: fit, study and rank refuse it before any work
    description = "key fields per document (value per field name)"
    label_word = "fields"
    primary_metric = "entity_f1"
    transfer_scores = ()
    supports = frozenset()

    def parse(self, value: object, separator: str) -> tuple[str | None, str | None]:
        """A JSON object of field -> value, kept with its keys sorted."""
        try:
            data = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            return None, f"fields {value!r} are not a JSON object"
        if not isinstance(data, dict):
            return None, f"fields {value!r} are not a JSON object of field: value"
        return json.dumps({str(k): str(v) for k, v in data.items()}, sort_keys=True, ensure_ascii=False), None

    @property
    def has_classes(self) -> bool:
        return False  # no classes to count, stratify, threshold or budget

    def classes_of(self, labels: Sequence[str]) -> list[str]:
        return []

    def counts_of(self, labels: Sequence[str]) -> dict[str, int]:
        return {}

    def strata(self, labels: Sequence[str]) -> list[str]:
        return [""] * len(labels)

    def label_summary(self, labels: Sequence[str]) -> dict[str, float]:
        """For `inspect`: documents, and how many of them give each field a non-empty value."""
        counts: dict[str, float] = {"documents": float(len(labels))}
        for label in labels:
            for name, value in json.loads(label).items():
                counts[name] = counts.get(name, 0.0) + bool(str(value).strip())
        return counts


FIELDS = register_task(FieldExtraction())
