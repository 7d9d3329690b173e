"""Training labels from field values: which lines hold each field. Typed fields (dates, amounts) label every line
holding a span that means the value (a total printed twice is right twice); text fields label the line or run of
lines `field_align.align` finds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from headstart.data.documents import OcrLine
from headstart.data.field_align import align
from headstart.strategies.fields.candidates import TEXT, candidates, matches, meaning

OUTSIDE = 0  # the class of lines that hold no field; field i is class i + 1


def field_lines(lines: Sequence[OcrLine], value: str, kind: str) -> list[int]:
    """The lines that hold `value` (a field of kind `kind`), in reading order; [] when it is not findable."""
    if not value.strip() or not lines:
        return []
    target = meaning(value, kind)
    if kind != TEXT and target is not None:
        return sorted({c.line for c in candidates(lines, kind) if matches(c, target)})
    found = align(value, lines)
    return [] if found is None else list(found.lines)


def line_labels(
    lines: Sequence[OcrLine], fields: Mapping[str, str], names: Sequence[str], kinds: Sequence[str]
) -> tuple[np.ndarray, list[bool]]:
    """Each line's class (OUTSIDE, or 1 + the index of the field it holds; the first field listed wins a line
    two fields claim) and, per field, whether its value was found."""
    labels = np.full(len(lines), OUTSIDE, dtype=np.int64)
    found = []
    for number, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        where = field_lines(lines, fields.get(name, ""), kind)
        found.append(bool(where))
        for index in where:
            if labels[index] == OUTSIDE:
                labels[index] = number + 1
    return labels, found
