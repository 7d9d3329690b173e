"""OCR as a cached stage: the space-restoring decoder, the content-hash cache, given lines, and RapidOCR itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headstart.data import load_dataset
from headstart.data.documents import OcrLine
from headstart.ocr import OcrSettings, OcrStore, PageRead, SpacedDecoder, field_coverage, read_document, read_documents
from tests.document_data import page, write_receipts

CHARS = ["blank", "A", "B", " "]


def steps(*rows: tuple[int, float, float]) -> np.ndarray:
    """CTC outputs: per step (the winning symbol, its probability, the space's probability)."""
    probs = np.zeros((len(rows), len(CHARS)), np.float32)
    for n, (index, p, space) in enumerate(rows):
        probs[n, 3] = space
        probs[n, index] = max(p, probs[n, index])
    return probs


def test_the_decoder_restores_a_space_the_recogniser_scored_but_did_not_pick() -> None:
    probs = steps((1, 0.9, 0), (0, 0.9, 0.04), (2, 0.9, 0), (0, 0.99, 0.001), (1, 0.9, 0), (1, 0.9, 0))
    assert SpacedDecoder(CHARS, 2.0).decode_line(probs)[0] == "ABA"  # rapidocr's greedy decoding
    assert SpacedDecoder(CHARS, 0.01).decode_line(probs)[0] == "A BA"
    picked = steps((1, 0.9, 0), (3, 0.9, 0.9), (2, 0.9, 0))
    assert SpacedDecoder(CHARS, 2.0).decode_line(picked)[0] == "A B"  # a picked space is always kept


def test_given_lines_win_and_ocr_results_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_receipts(tmp_path / "docs")
    (root / "box" / "r2.csv").unlink()
    calls: list[int] = []

    def fake_ocr_page(image: object, settings: OcrSettings, threads: int = 2, page: int = 0) -> PageRead:
        calls.append(page)
        return PageRead([OcrLine("KEDAIBUKUMURNI", (0, 0, 1, 0, 1, 1, 0, 1), 0.9, page)])

    monkeypatch.setattr("headstart.ocr.ocr_page", fake_ocr_page)
    store = OcrStore(tmp_path / "ocr")
    lines, source = read_document(root / "img" / "r1.png", OcrSettings(), store=store)
    assert source == "given" and lines[0].text == "ACME TRADING SDN BHD" and calls == []
    assert read_document(root / "img" / "r2.png", OcrSettings(), store=store)[1] == "ocr"
    again, source = read_document(root / "img" / "r2.png", OcrSettings(), store=store)
    assert source == "cache" and again[0].text == "KEDAIBUKUMURNI" and calls == [0]
    assert read_document(root / "img" / "r2.png", OcrSettings(space_threshold=0.5), store=store)[1] == "ocr"


def test_field_coverage_reads_given_lines_and_skips_unreadable_documents(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    ds = load_dataset(root)
    found, read = field_coverage(ds.items, ds.ids, ds.labels, progress=False)  # type: ignore[arg-type]
    assert read.sources == {"given": 2}
    assert found == {
        name: {"documents": 2.0, "findable": 2.0, "share": 1.0} for name in ("company", "date", "address", "total")
    }
    (root / "img" / "r1.png").write_bytes(b"gone")
    (root / "box" / "r1.csv").unlink()
    read = read_documents(list(ds.items), list(ds.ids), progress=False, store=OcrStore(tmp_path / "ocr"))
    assert read.lines[0] is None and read.skipped[0]["id"] == "img/r1.png"


def test_rapidocr_reads_a_generated_page_with_its_spaces(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    image = tmp_path / "page.png"
    page(["TOTAL RM 12.50", "THANK YOU"], size=32).save(image)
    lines, source = read_document(image, OcrSettings(), threads=1, store=OcrStore(tmp_path / "ocr"))
    assert source == "ocr"
    texts = [line.text for line in lines]
    assert any(t.replace(" ", "").upper() == "TOTALRM12.50" for t in texts), texts
    assert "THANK YOU" in texts, texts
    assert all(0 < line.confidence <= 1 and line.bottom > line.top for line in lines)
    blank = tmp_path / "blank.png"
    page([]).save(blank)
    assert read_document(blank, OcrSettings(), threads=1, store=OcrStore(tmp_path / "ocr")) == ([], "ocr")
