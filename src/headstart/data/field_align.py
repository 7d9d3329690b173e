"""Find a field's value among a document's OCR lines, fuzzily: the weak labels a field tagger learns from.

Key values are corrected strings ("BOOK TA .K (TAMAN DAYA) SDN BHD", "9.00") and OCR lines are what was read
("BOOK TA .K(TAMAN DAYA) SDN BND", "RM9.00", "25/12/2018 8:13:39 PM"), so values and lines are compared after
`compact` (case, spaces and punctuation dropped: OCR that loses spaces still matches), amounts by their number
and dates by (day, month, year) in several formats. Which comparison applies follows from the value's shape,
never from the field's name. A value may span consecutive lines in reading order (addresses).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from headstart.data.documents import OcrLine

MIN_FUZZY = 0.85  # similarity of compact strings for a fuzzy match (one typo in ~7 characters)
MAX_SPAN_LINES = 6  # an address rarely takes more lines than this
MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_NUM = r"\d{1,4}"
_DATE_PATTERNS = (
    re.compile(rf"(?<!\d)({_NUM})\s*[/.\-]\s*(\d{{1,2}})\s*[/.\-]\s*(\d{{2,4}})"),  # d/m/y or y-m-d
    re.compile(r"(?<!\d)(\d{1,2})\s*[\-/ ]?\s*([a-z]{3})[a-z]*\s*[\-/ ,]?\s*(\d{2,4})", re.IGNORECASE),  # 25 Dec 2018
    re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?!\d)"),  # 20180304
)
_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?:\s*[.,]\s*(\d{2}))?(?![\d])")
_CURRENCY = re.compile(r"^\s*(rm|myr|usd|eur|gbp|sgd|[$€£¥])\s*", re.IGNORECASE)


@dataclass(frozen=True)
class FieldMatch:
    """Where a value was found: line indices (consecutive), the character span in the first line (single-line
    matches; the whole lines otherwise), the similarity (1.0 exact) and how it matched."""

    lines: tuple[int, ...]
    start: int
    end: int
    score: float
    how: str  # "exact", "fuzzy", "amount", "date"


def compact(text: str) -> str:
    """Lower-case letters and digits only: what survives OCR that drops spaces and misreads punctuation."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _compact_map(text: str) -> tuple[str, list[int]]:
    """`compact(text)` and, per kept character, its index in `text`."""
    kept = [(ch, i) for i, raw in enumerate(text) for ch in raw.casefold() if ch.isalnum()]
    return "".join(ch for ch, _ in kept), [i for _, i in kept]


def parse_amount(text: str) -> float | None:
    """The number of a value that is an amount ("RM 1,234.50", "9.00", "$3"), else None."""
    body = _CURRENCY.sub("", text.strip())
    m = re.fullmatch(r"(\d{1,3}(?:,\d{3})+|\d+)(?:[.,](\d{1,2}))?", body.replace(" ", ""))
    if not m:
        return None
    return float(m.group(1).replace(",", "") + "." + (m.group(2) or "0"))


def amounts_in(text: str) -> list[tuple[float, int, int]]:
    """Every number with two decimals or none in a line, with its span."""
    found = []
    for m in _AMOUNT.finditer(text):
        whole = m.group(1).replace(",", "")
        found.append((float(whole + "." + (m.group(2) or "0")), m.start(), m.end()))
    return found


def _year(text: str) -> int | None:
    y = int(text)
    if len(text) == 2:
        return 2000 + y
    return y if len(text) == 4 else None


def _scan(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match of `pattern` in `text`, overlapping ones too ("REG #19- 18/01/2018" holds a date at 18)."""
    at = 0
    while (m := pattern.search(text, at)) is not None:
        yield m
        at = m.start() + 1


def dates_in(text: str) -> list[tuple[tuple[int, int, int], int, int]]:
    """Every (year, month, day) a line holds (d/m/y, y-m-d, d Mon y, yyyymmdd; a time glued after is fine)."""
    found = []
    for m in _scan(_DATE_PATTERNS[0], text):
        a, b, c = m.group(1), m.group(2), m.group(3)
        if len(a) == 4:  # y-m-d
            day, month, year = int(c[:2]), int(b), int(a)
        else:
            y = _year(c[:4] if len(c) >= 4 else c)
            if y is None:
                continue
            day, month, year = int(a), int(b), y
        if 1 <= month <= 12 and 1 <= day <= 31:
            found.append(((year, month, day), m.start(), m.end()))
    for m in _scan(_DATE_PATTERNS[1], text):
        named = MONTHS.get(m.group(2)[:3].lower())
        y = _year(m.group(3)[:4])
        if named and y and 1 <= int(m.group(1)) <= 31:
            found.append(((y, named, int(m.group(1))), m.start(), m.end()))
    for m in _scan(_DATE_PATTERNS[2], text):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if 1 <= month <= 12 and 1 <= day <= 31:
            found.append(((year, month, day), m.start(), m.end()))
    return found


def parse_date(text: str) -> tuple[int, int, int] | None:
    """The (year, month, day) of a value that is a date, else None."""
    dates = {found for found, _, _ in dates_in(text.strip())}
    return dates.pop() if len(dates) == 1 else None


def align(value: str, lines: Sequence[OcrLine | str]) -> FieldMatch | None:
    """The best place `value` is found in `lines` (reading order), or None when it is not findable.

    A value that is a date or an amount is matched by what it means (same day, same number) and nothing else.
    Other values: the compact value inside one line, or across consecutive lines (exact); else the most
    similar line or run of lines (fuzzy, >= MIN_FUZZY).
    """
    texts = [line if isinstance(line, str) else line.text for line in lines]
    target = compact(value)
    if not target or not texts:
        return None
    if parse_date(value) is not None or parse_amount(value) is not None:
        return _typed_match(value, texts)  # a date or amount one digit off is another value: no fuzzy match
    for index, text in enumerate(texts):
        packed, where = _compact_map(text)
        at = packed.find(target)
        if at >= 0:
            return FieldMatch((index,), where[at], where[at + len(target) - 1] + 1, 1.0, "exact")
    exact_run = _run_match(target, texts)
    if exact_run is not None:
        return exact_run
    return _fuzzy_match(target, texts)


def _run_match(target: str, texts: Sequence[str]) -> FieldMatch | None:
    """The first run of two or more consecutive lines that holds the value and needs every one of its lines."""
    packed = [compact(t) for t in texts]
    for first in range(len(texts)):
        if not packed[first]:
            continue
        joined = packed[first]
        for last in range(first + 1, min(first + MAX_SPAN_LINES, len(texts))):
            joined += packed[last]
            if target in joined:
                if target in joined[len(packed[first]) :] or target in joined[: len(joined) - len(packed[last])]:
                    break  # a shorter run holds it: found from another first line
                return FieldMatch(tuple(range(first, last + 1)), 0, len(texts[last]), 1.0, "exact")
            if len(joined) - len(packed[first]) > len(target):
                break
    return None


def _typed_match(value: str, texts: Sequence[str]) -> FieldMatch | None:
    date = parse_date(value)
    if date is not None:
        for index, text in enumerate(texts):
            for found, start, end in dates_in(text):
                if found == date:
                    return FieldMatch((index,), start, end, 1.0, "date")
    amount = parse_amount(value)
    if amount is not None and date is None:
        for index, text in enumerate(texts):
            for number, start, end in amounts_in(text):
                if abs(number - amount) < 0.005:
                    return FieldMatch((index,), start, end, 1.0, "amount")
    return None


def _fuzzy_match(target: str, texts: Sequence[str]) -> FieldMatch | None:
    """The line or run of consecutive lines (up to MAX_SPAN_LINES) most similar to the value."""
    packed = [compact(t) for t in texts]
    best: tuple[float, int, int] | None = None
    for first in range(len(texts)):
        joined = ""
        for last in range(first, min(first + MAX_SPAN_LINES, len(texts))):
            joined += packed[last]
            if len(joined) > 1.5 * len(target) + 4:
                break
            score = SequenceMatcher(None, target, joined, autojunk=False).ratio()
            if best is None or score > best[0]:
                best = (score, first, last)
    if best is None or best[0] < MIN_FUZZY:
        return None
    score, first, last = best
    return FieldMatch(tuple(range(first, last + 1)), 0, len(texts[last]), round(score, 4), "fuzzy")


def coverage(documents: Sequence[tuple[dict[str, str], Sequence[OcrLine | str]]]) -> dict[str, dict[str, float]]:
    """Per field: documents with a value, how many have it findable in their lines, and the share."""
    counts: dict[str, list[int]] = {}
    for fields, lines in documents:
        for name, value in fields.items():
            if not value.strip():
                continue
            row = counts.setdefault(name, [0, 0])
            row[0] += 1
            row[1] += align(value, lines) is not None
    return {
        name: {"documents": float(n), "findable": float(k), "share": round(k / n, 4) if n else 0.0}
        for name, (n, k) in counts.items()
    }
