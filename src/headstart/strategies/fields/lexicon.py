"""Words that say what a receipt line is about (totals, payments, taxes, contacts, company suffixes, addresses):
flags for the tagger and cues for the rules baseline. Which field they point to is learned, not written here."""

from __future__ import annotations

import re

KEYWORDS: dict[str, tuple[str, ...]] = {
    "total": ("total", "ttl", "jumlah"),
    "grand": ("grand", "nett", "net"),
    "amount": ("amount", "amt"),
    "due": ("due", "payable", "balance"),
    "cash": ("cash", "tender", "tendered", "paid", "payment", "card", "visa", "master"),
    "change": ("change", "changes"),
    "tax": ("tax", "gst", "sst", "vat"),
    "rounding": ("rounding", "round", "adj", "adjustment"),
    "subtotal": ("subtotal", "sub"),
    "discount": ("discount", "disc"),
    "quantity": ("qty", "quantity", "pcs", "unit", "price", "item", "items"),
    "contact": ("tel", "phone", "fax", "hp", "email", "www", "website", "com"),
    "document": ("invoice", "receipt", "bill", "inv", "order", "no", "number", "ref"),
    "when": ("date", "time", "tarikh"),
    "company": ("sdn", "bhd", "ltd", "inc", "llc", "plc", "corp", "co", "company", "enterprise", "trading", "s/b"),
    "address": ("jalan", "jln", "taman", "tmn", "lot", "road", "rd", "street", "st", "lorong", "bandar", "kawasan"),
    "thanks": ("thank", "thanks", "welcome", "again", "please"),
}
COMPANY_SUFFIX = re.compile(
    r"\b(sdn\.?\s*bhd|s/b|bhd|ltd|limited|inc|llc|plc|corp(oration)?|enterprise|trading)\b\.?", re.IGNORECASE
)
POSTCODE = re.compile(r"(?<!\d)\d{5}(?!\d)")
PHONE = re.compile(r"\b(tel|phone|fax|h/?p)\b|\(?\d{2,4}\)?[\s-]?\d{3,4}[\s-]\d{3,4}", re.I)
_WORD = re.compile(r"[a-z/]+")


def words(text: str) -> set[str]:
    """The lower-case words of a line (letters and '/', so "S/B" stays a word)."""
    return set(_WORD.findall(text.casefold()))


def keyword_hits(text: str) -> list[float]:
    """One flag per KEYWORDS group: whether the line holds one of its words."""
    have = words(text)
    return [float(bool(have.intersection(group))) for group in KEYWORDS.values()]
