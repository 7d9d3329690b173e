"""Synthetic receipts for the field extractor tests: OCR lines with boxes (labels and amounts as separate boxes on
one row, as receipts print them) and their fields; a seed makes each set."""

from __future__ import annotations

import numpy as np

from headstart.data.documents import OcrLine

SHOPS = ["ACME TRADING", "KEDAI BUKU MURNI", "GOLDEN MART", "SRI RAYA HARDWARE", "TEO HENG STATIONERY", "MAJU JAYA"]
SUFFIXES = ["SDN BHD", "ENTERPRISE", "S/B", "TRADING CO."]
STREETS = ["JALAN MAJU", "JALAN SAGU 18", "LORONG BUNGA 3", "JALAN AIR PANAS", "JALAN PERMAS 9/5"]
TOWNS = ["81100 JOHOR BAHRU", "53200 KUALA LUMPUR", "47400 PETALING JAYA", "43300 SERI KEMBANGAN"]
ITEMS = ["PEN", "NOTEBOOK", "TAPE 18MM", "GLUE", "FILE", "RULER", "SCISSORS", "MARKER"]


def _line(text: str, left: float, top: float, width: float | None = None, page: int = 0) -> OcrLine:
    right = left + (width if width is not None else 11.0 * len(text))
    return OcrLine(text, (left, top, right, top, right, top + 18, left, top + 18), 1.0, page)


def receipt(
    rng: np.random.Generator, total_label: str | None = None, dollars: bool = False
) -> tuple[list[OcrLine], dict[str, str]]:
    """One receipt: owner line, company (with a registration number line), address on 2-3 lines, phone, date and
    time, items with prices, subtotal / tax / total / cash / change rows (label left, amount right). `total_label`
    replaces the total's label; `dollars` writes amounts as "$9.00" and the total's value with its "$"."""
    company = f"{rng.choice(SHOPS)} {rng.choice(SUFFIXES)}"
    address_lines = [f"NO {rng.integers(1, 300)}, {rng.choice(STREETS)},", str(rng.choice(TOWNS))]
    if rng.random() < 0.5:
        address_lines.append("JOHOR.")
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(2015, 2020))
    date = f"{day:02d}/{month:02d}/{year}" if rng.random() < 0.7 else f"{day:02d}-{month:02d}-{year}"
    lines: list[OcrLine] = []
    top = 20.0
    if rng.random() < 0.5:
        lines.append(_line(f"{rng.choice(['TAN', 'LIM', 'WONG'])} {rng.choice(['AH', 'SIEW'])} KOW", 120, top))
        top += 30
    lines.append(_line(company, 60, top))
    top += 30
    lines.append(_line(f"({rng.integers(100000, 999999)}-{rng.choice(list('ADKMWX'))})", 150, top))
    top += 30
    for text in address_lines:
        lines.append(_line(text, 70, top))
        top += 30
    lines.append(_line(f"TEL: 07-{rng.integers(100, 999)} {rng.integers(1000, 9999)}", 90, top))
    top += 40
    lines.append(_line(f"INV NO: CS{rng.integers(10000, 99999)}", 20, top))
    top += 30
    lines.append(_line(f"DATE: {date} {rng.integers(1, 12)}:{rng.integers(10, 59)} PM", 20, top))
    top += 40
    prices = np.round(rng.uniform(1, 60, size=int(rng.integers(2, 6))), 1)
    for item, price in zip(rng.choice(ITEMS, size=len(prices)), prices, strict=True):
        lines.append(_line(f"1 X {item}", 20, top))
        lines.append(_line(f"{price:.2f}", 330, top))
        top += 30
    subtotal = float(prices.sum())
    tax = round(subtotal * 0.06, 2)
    total = round(subtotal + tax, 2)
    cash = float(np.ceil(total / 10) * 10 + 10 * rng.integers(0, 3))
    label = total_label or str(rng.choice(["TOTAL", "TOTAL AMOUNT", "GRAND TOTAL"]))
    rows = [("SUBTOTAL", subtotal), ("GST 6%", tax), (label, total)]
    rows += [("CASH", cash), ("CHANGE", round(cash - total, 2))]
    for label, amount in rows:
        lines.append(_line(label, 20, top))
        currency = "$" if dollars else "RM" if rng.random() < 0.5 else ""
        lines.append(_line(f"{currency}{amount:.2f}", 320, top))
        top += 30
    lines.append(_line("THANK YOU PLEASE COME AGAIN", 40, top + 20))
    written_total = f"${total:.2f}" if dollars else f"{total:.2f}"
    fields = {"company": company, "date": date, "address": " ".join(address_lines), "total": written_total}
    return lines, fields


def receipts(
    n: int, seed: int, total_label: str | None = None, dollars: bool = False
) -> tuple[list[list[OcrLine]], list[dict[str, str]]]:
    rng = np.random.default_rng(seed)
    made = [receipt(rng, total_label, dollars) for _ in range(n)]
    return [lines for lines, _ in made], [fields for _, fields in made]


def hashed_embedder(dim: int = 64):  # type: ignore[no-untyped-def]
    """A deterministic stand-in for a text encoder: character trigrams hashed into `dim` columns, L2-normalised."""
    import zlib

    def embed(texts):  # type: ignore[no-untyped-def]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.casefold()}  "
            for i in range(len(padded) - 2):
                out[row, zlib.crc32(padded[i : i + 3].encode()) % dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)

    return embed
