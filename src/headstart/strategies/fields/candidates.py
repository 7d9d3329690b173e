"""What a field's value looks like (a date, an amount or free text, from the shape of its training values) and
the typed spans of a document that could be it: every date or amount as written, with what it means."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from headstart.data.documents import OcrLine
from headstart.data.field_align import amounts_in, dates_in, parse_amount, parse_date

DATE, AMOUNT, TEXT = "date", "amount", "text"
_PREFIX = re.compile(r"(rm|myr|usd|sgd|eur|gbp|[$€£¥])\s*$", re.IGNORECASE)


def value_kind(values: Sequence[str]) -> str:
    """DATE or AMOUNT when most of a field's values are one, else TEXT: decided by the values, not the name."""
    values = [v for v in values if v.strip()]
    if not values:
        return TEXT
    dates = sum(parse_date(v) is not None for v in values)
    amounts = sum(parse_date(v) is None and parse_amount(v) is not None for v in values)
    if dates * 2 > len(values):
        return DATE
    if amounts * 2 > len(values):
        return AMOUNT
    return TEXT


def meaning(value: str, kind: str) -> float | None:
    """What a typed value means, as one comparable number (a date as yyyymmdd), None when it is not one."""
    if kind == DATE:
        date = parse_date(value)
        return None if date is None else float(date[0] * 10_000 + date[1] * 100 + date[2])
    if kind == AMOUNT:
        return parse_amount(value)
    return None


@dataclass(frozen=True)
class Candidate:
    """A typed span in a line: where it is, the text as written, what it means, the currency written before it."""

    line: int
    start: int
    end: int
    text: str
    value: float
    prefix: str  # "RM", "$"... directly before the span ("" when none)


def candidates(lines: Sequence[OcrLine], kind: str) -> list[Candidate]:
    """Every date (kind DATE) or amount (AMOUNT) in the lines, in reading order; none for TEXT."""
    found: list[Candidate] = []
    for index, line in enumerate(lines):
        text = line.text
        if kind == DATE:
            spans = [(float(y * 10_000 + m * 100 + d), start, end) for (y, m, d), start, end in dates_in(text)]
        elif kind == AMOUNT:
            spans = amounts_in(text)
        else:
            return []
        seen: set[tuple[int, int]] = set()
        for value, start, end in spans:
            if (start, end) in seen:
                continue
            seen.add((start, end))
            prefix = _PREFIX.search(text[:start])
            written = prefix.group(1) if prefix else ""
            found.append(Candidate(index, start, end, text[start:end].strip(), value, written))
    return found


def matches(candidate: Candidate, value: float) -> bool:
    """Whether a candidate means the value (amounts to the cent)."""
    return abs(candidate.value - value) < 0.005
