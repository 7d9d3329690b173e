"""Tiny generated documents for tests: black text lines on white pages, their fields and their OCR lines."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LINE_HEIGHT = 40
RECEIPTS = {
    "r1": (
        ["ACME TRADING SDN BHD", "NO 12, JALAN MAJU", "81100 JOHOR BAHRU", "DATE: 25/12/2018 8:13 PM", "TOTAL RM 9.00"],
        {
            "company": "ACME TRADING SDN BHD",
            "date": "25/12/2018",
            "address": "NO 12, JALAN MAJU, 81100 JOHOR BAHRU",
            "total": "9.00",
        },
    ),
    "r2": (
        ["KEDAI BUKU MURNI", "LOT 5 TAMAN SERI", "2018-03-04 10:00", "GRAND TOTAL 1,234.50"],
        {"company": "KEDAI BUKU MURNI", "date": "04/03/2018", "address": "LOT 5 TAMAN SERI", "total": "RM1234.50"},
    ),
}


def page(lines: list[str], size: int = 28) -> Image.Image:
    """A white page with each line of text drawn in black, one under the other."""
    font = ImageFont.load_default(size=size)
    image = Image.new("RGB", (640, 40 + LINE_HEIGHT * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for n, text in enumerate(lines):
        draw.text((20, 20 + LINE_HEIGHT * n), text, fill="black", font=font)
    return image


def boxes(lines: list[str]) -> list[tuple[int, int, int, int]]:
    return [(20, 20 + LINE_HEIGHT * n, 20 + 18 * len(t), 20 + LINE_HEIGHT * (n + 1) - 8) for n, t in enumerate(lines)]


def write_receipts(root: Path, *, box_csv: bool = True, key_json: bool = True) -> Path:
    """A SROIE-like folder: img/<stem>.png, key/<stem>.json and (box_csv) box/<stem>.csv per receipt."""
    for sub in ("img", "key", "box"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem, (lines, fields) in RECEIPTS.items():
        page(lines).save(root / "img" / f"{stem}.png")
        if key_json:
            (root / "key" / f"{stem}.json").write_text(json.dumps(fields))
        if box_csv:
            rows = [
                f"{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1},{text}"
                for (x0, y0, x1, y1), text in zip(boxes(lines), lines, strict=True)
            ]
            (root / "box" / f"{stem}.csv").write_text("\n".join(rows) + "\n")
    return root
