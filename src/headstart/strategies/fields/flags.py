"""What a line's text holds, as numbers: typed spans (dates, amounts, currency), character make-up (digits,
upper case, length) and keyword groups. Dense, so they join the layout features and either text representation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from headstart.data.field_align import amounts_in, dates_in
from headstart.strategies.fields.lexicon import COMPANY_SUFFIX, KEYWORDS, PHONE, POSTCODE, keyword_hits

CURRENCY = ("rm", "myr", "$", "usd", "sgd", "€", "£")
FLAG_NAMES = (
    "has_date",
    "has_amount",
    "has_decimal_amount",
    "n_amounts",
    "has_currency",
    "has_colon",
    "company_suffix",
    "postcode",
    "phone",
    "digit_ratio",
    "alpha_ratio",
    "upper_ratio",
    "length",
    "n_words",
    *(f"kw_{name}" for name in KEYWORDS),
)


def decimal_amounts(text: str) -> list[tuple[float, int, int]]:
    """The amounts of a line written with two decimals ("9.00", "1,234.50"): the values a price or a total takes."""
    return [(value, start, end) for value, start, end in amounts_in(text) if _has_decimals(text[start:end])]


def _has_decimals(span: str) -> bool:
    return len(span) > 3 and span[-3] in ".," and span[-2:].isdigit()


def text_flags(text: str) -> list[float]:
    """The FLAG_NAMES values of one line."""
    folded = text.casefold()
    letters = [ch for ch in text if ch.isalpha()]
    digits = sum(ch.isdigit() for ch in text)
    size = max(len(text), 1)
    amounts = amounts_in(text)
    return [
        float(bool(dates_in(text))),
        float(bool(amounts)),
        float(bool(decimal_amounts(text))),
        min(len(amounts), 4) / 4.0,
        float(any(symbol in folded for symbol in CURRENCY)),
        float(":" in text),
        float(bool(COMPANY_SUFFIX.search(text))),
        float(bool(POSTCODE.search(text))),
        float(bool(PHONE.search(text))),
        digits / size,
        len(letters) / size,
        sum(ch.isupper() for ch in letters) / max(len(letters), 1),
        min(math.log1p(len(text)) / math.log(80.0), 1.5),
        min(len(text.split()), 12) / 12.0,
        *keyword_hits(text),
    ]


def flag_features(texts: Sequence[str]) -> np.ndarray:
    """(n, len(FLAG_NAMES)) float32 for the lines' texts."""
    if not texts:
        return np.zeros((0, len(FLAG_NAMES)), dtype=np.float32)
    return np.asarray([text_flags(t) for t in texts], dtype=np.float32)
