"""The hand-written baseline (kind "rules"): what a receipt usually looks like, with nothing learned. The company
is the first line with a company suffix (SDN BHD, LTD, INC...) near the top, else the first line; the date the
first date; the total the largest amount on a line (or beside a label) naming a total; the address the lines
between the company and the first phone, date or document-number line. Fields named otherwise are not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from headstart.data.documents import OcrLine
from headstart.strategies.fields.candidates import AMOUNT, DATE, candidates
from headstart.strategies.fields.extractor import DocumentFields, FieldExtractor, FoundField, LineEmbedder, union_box
from headstart.strategies.fields.flags import decimal_amounts
from headstart.strategies.fields.layout import neighbours
from headstart.strategies.fields.lexicon import COMPANY_SUFFIX, PHONE, words

RULE_FIELDS = ("company", "date", "address", "total")
TOTAL_WORDS = frozenset({"total", "jumlah", "ttl"})
NOT_TOTAL_WORDS = frozenset({"sub", "subtotal", "qty", "quantity", "tax", "gst", "sst", "excl", "items", "item"})
STOP_WORDS = frozenset({"tel", "fax", "phone", "gst", "invoice", "receipt", "date", "cashier", "reg", "hp"})
COMPANY_LOOKAHEAD = 5  # the company is one of the first few lines
MAX_ADDRESS_LINES = 5


def _is_total_line(text: str) -> bool:
    have = words(text)
    return bool(have & TOTAL_WORDS) and not have & NOT_TOTAL_WORDS


def find_company(lines: Sequence[OcrLine]) -> list[int]:
    for index in range(min(COMPANY_LOOKAHEAD, len(lines))):
        if COMPANY_SUFFIX.search(lines[index].text):
            return [index]
    return [0] if lines else []


def find_date(lines: Sequence[OcrLine]) -> tuple[int, str] | None:
    found = candidates(lines, DATE)
    return (found[0].line, found[0].text) if found else None


def find_total(lines: Sequence[OcrLine]) -> tuple[int, str] | None:
    near = neighbours(lines)
    best: tuple[float, int, str] | None = None
    for index, line in enumerate(lines):
        labelled = _is_total_line(line.text) or (near.left[index] >= 0 and _is_total_line(lines[near.left[index]].text))
        if not labelled:
            continue
        for value, start, end in decimal_amounts(line.text):
            if best is None or value > best[0]:
                best = (value, index, line.text[start:end].strip())
    if best is None:  # no labelled total: the largest two-decimal amount in the lower half
        found = [c for c in candidates(lines, AMOUNT) if c.line >= len(lines) // 2 and "." in c.text]
        if found:
            top = max(found, key=lambda c: c.value)
            return top.line, top.text
        return None
    return best[1], best[2]


def find_address(lines: Sequence[OcrLine], company: Sequence[int]) -> list[int]:
    start = (max(company) + 1) if company else 0
    run: list[int] = []
    for index in range(start, len(lines)):
        text = lines[index].text
        if words(text) & STOP_WORDS or PHONE.search(text) or candidates([lines[index]], DATE):
            break
        if len(text.strip()) < 3 and not run:
            continue
        run.append(index)
        if len(run) == MAX_ADDRESS_LINES:
            break
    return [i for i in run if not _looks_like_registration(lines[i].text)]


def _looks_like_registration(text: str) -> bool:
    """A company registration number line ("789417-W", "(CO. REG 12345-X)") sits between company and address."""
    compact = text.strip("() ").upper()
    return len(compact) <= 20 and any(ch.isdigit() for ch in compact) and "-" in compact and " " not in compact


class RulesExtractor(FieldExtractor):
    """Receipt rules for company / date / address / total; nothing is learned (fit records the field names)."""

    kind: ClassVar[str] = "rules"

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)

    def fit(
        self,
        documents: Sequence[Sequence[OcrLine]],
        fields: Sequence[Mapping[str, str]],
        embed: LineEmbedder | None = None,
    ) -> list[str]:
        seen: dict[str, None] = {}
        for row in fields:
            seen.update((name, None) for name, value in row.items() if str(value).strip())
        self.names = list(seen)
        unknown = [n for n in self.names if n not in RULE_FIELDS]
        return [f"rules know no field named {', '.join(unknown)}: never found"] if unknown else []

    def extract(
        self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None
    ) -> list[DocumentFields]:
        return [self._one(lines) for lines in documents]

    def _one(self, lines: Sequence[OcrLine]) -> DocumentFields:
        if not lines:
            return {}
        out: dict[str, FoundField] = {}
        company = find_company(lines)

        def field(indices: Sequence[int], value: str, confidence: float) -> FoundField:
            return FoundField(value, confidence, tuple(indices), lines[indices[0]].page, union_box(lines, indices))

        if company:
            out["company"] = field(company, " ".join(lines[i].text.strip() for i in company), 0.5)
        date = find_date(lines)
        if date is not None:
            out["date"] = field([date[0]], date[1], 0.5)
        total = find_total(lines)
        if total is not None:
            out["total"] = field([total[0]], total[1], 0.5)
        address = find_address(lines, company)
        if address:
            out["address"] = field(address, " ".join(lines[i].text.strip() for i in address), 0.5)
        return {name: out[name] for name in self.names if name in out and out[name].value.strip()}

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"kind": self.kind, "fields": self.names}

    @classmethod
    def from_state(cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Self:
        return cls([str(n) for n in config.get("fields", [])])
