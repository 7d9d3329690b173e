"""Bad documents through the OCR stage (issue #22): blank pages, turned scans, a decompression-bomb-sized image, a
200-page PDF, password-protected and corrupt PDFs, a document with no findable field. Each is read with a note,
skipped with its reason or refused clearly: never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from headstart.data import load_dataset
from headstart.data.documents import MAX_PDF_PAGES, OcrLine
from headstart.errors import UsageError
from headstart.ocr import (
    OcrSettings,
    OcrStore,
    PageRead,
    field_coverage,
    page_ranges,
    read_document_lines,
    read_documents,
)
from headstart.ocr.engine import OcrEngine
from tests.bad_documents import bomb_png, corrupt_pdf, locked_pdf, long_pdf
from tests.document_data import page, write_receipts

SROIE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sroie_receipts"


def fake_reader(calls: list[int]) -> object:
    def fake_ocr_page(image: object, settings: OcrSettings, threads: int = 2, page: int = 0) -> PageRead:
        calls.append(page)
        return PageRead([OcrLine(f"PAGE {page + 1}", (0, 0, 9, 0, 9, 9, 0, 9), 0.9, page)])

    return fake_ocr_page


def test_a_200_page_pdf_is_read_up_to_the_page_limit_with_a_note_and_the_limit_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pypdfium2")
    calls: list[int] = []
    monkeypatch.setattr("headstart.ocr.ocr_page", fake_reader(calls))
    pdf, store = long_pdf(tmp_path / "long.pdf", pages=200), OcrStore(tmp_path / "ocr")
    read = read_document_lines(pdf, OcrSettings(), store=store)
    assert read.source == "ocr" and calls == list(range(MAX_PDF_PAGES)) and len(read.lines) == MAX_PDF_PAGES
    assert read.notes == [f"200 pages: read the first {MAX_PDF_PAGES} (raise --ocr-max-pages to read more)"]
    again = read_document_lines(pdf, OcrSettings(), store=store)
    assert again.source == "cache" and again.notes == read.notes and again.lines == read.lines  # notes are cached
    calls.clear()
    three = read_document_lines(pdf, OcrSettings(max_pages=3), store=store)
    assert three.source == "ocr" and calls == [0, 1, 2] and "read the first 3" in three.notes[0]


def test_unreadable_documents_are_skipped_with_their_reasons_never_raised(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2")
    paths = [
        locked_pdf(tmp_path / "locked.pdf"),
        corrupt_pdf(tmp_path / "corrupt.pdf"),
        bomb_png(tmp_path / "huge.png"),
    ]
    (tmp_path / "empty.png").write_bytes(b"")
    paths.append(tmp_path / "empty.png")
    ids = [p.name for p in paths]
    read = read_documents([str(p) for p in paths], ids, progress=False, store=OcrStore(tmp_path / "ocr"))
    assert read.lines == [None] * 4 and read.sources == {}
    reasons = {s["id"]: s["reason"] for s in read.skipped}
    assert reasons["locked.pdf"] == "the PDF is password-protected: save an unprotected copy to read it"
    assert reasons["corrupt.pdf"].startswith("not a readable PDF, corrupt or truncated")
    assert "900000000 pixels" in reasons["huge.png"] and "decompression bomb" in reasons["huge.png"]
    assert "empty" in reasons["empty.png"]


def test_a_document_with_no_findable_field_is_named_in_the_coverage_notes(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    page(["NOTHING USEFUL"]).save(root / "img" / "r3.png")
    (root / "box" / "r3.csv").write_text("0,0,9,0,9,9,0,9,NOTHING USEFUL\n")
    (root / "key" / "r3.json").write_text(json.dumps({"company": "ACME", "total": "5.00"}))
    rows = (root / "box" / "r2.csv").read_text().splitlines()
    (root / "box" / "r2.csv").write_text("\n".join(r for r in rows if "TOTAL" not in r) + "\n")
    ds = load_dataset(root)
    found, read = field_coverage(ds.items, ds.ids, ds.labels, progress=False)  # type: ignore[arg-type]
    assert found["total"] == {"documents": 3.0, "findable": 1.0, "share": 0.3333}
    assert read.notes == [
        {"id": "img/r2.png", "note": "not findable in its lines: total"},
        {"id": "img/r3.png", "note": "no field findable in its lines (company, total)"},
    ]


def test_blank_pages_are_noted_as_page_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pypdfium2")

    def text_on_page_3(image: object, settings: OcrSettings, threads: int = 2, page: int = 0) -> PageRead:
        return PageRead([OcrLine("TOTAL", (0, 0, 9, 0, 9, 9, 0, 9), 0.9, page)] if page == 2 else [])

    monkeypatch.setattr("headstart.ocr.ocr_page", text_on_page_3)
    read = read_document_lines(long_pdf(tmp_path / "six.pdf", pages=6), OcrSettings(), store=OcrStore(tmp_path))
    assert read.notes == ["no text found on pages 1-2, 4-6"] and [line.page for line in read.lines] == [2]
    assert page_ranges([4]) == "4" and page_ranges([1, 3, 4, 5, 9]) == "1, 3-5, 9"


def test_settings_are_checked_and_every_one_but_threads_is_in_the_cache_key() -> None:
    for bad in ({"max_side": 0}, {"det_limit": "both"}, {"box_thresh": 1.5}, {"max_pages": 0}, {"rec_batch": 0}):
        with pytest.raises(UsageError, match="OCR setting"):
            OcrSettings(**bad)  # type: ignore[arg-type]
    changes: list[dict[str, object]] = [{}, {"max_side": 1280}, {"orientation": False}, {"max_pages": 9}]
    assert len({OcrSettings(**change).key() for change in changes}) == 4  # type: ignore[arg-type]
    assert OcrSettings.from_options(max_side=1280, max_pages=None) == OcrSettings(max_side=1280)
    with pytest.raises(UsageError, match="unknown OCR setting"):
        OcrSettings.from_options(threads=2)


def test_blank_pages_get_a_note_and_a_document_with_no_text_is_skipped_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    pytest.importorskip("pypdfium2")
    two, blank = tmp_path / "two.pdf", Image.new("RGB", (600, 800), "white")
    page(["TOTAL RM 12.50"], size=32).save(two, save_all=True, append_images=[blank], resolution=200.0)
    blank.save(tmp_path / "blank.png")
    paths = [str(two), str(tmp_path / "blank.png")]
    store = OcrStore(tmp_path / "ocr")
    read = read_documents(paths, ["two", "blank"], OcrSettings(), threads=1, progress=False, store=store)
    assert read.lines[0] is not None and read.lines[0][0].page == 0 and read.lines[1] is None
    assert read.skipped == [{"id": "blank", "reason": "no text found in the document (blank pages?)"}]
    assert read.notes == [
        {"id": "two", "note": "no text found on page 2"},
        {"id": "blank", "note": "no text found on page 1"},
    ]


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_turned_page_is_turned_upright_before_it_is_read(tmp_path: Path, angle: int) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    lines = ["ACME TRADING SDN BHD", "NO 12, JALAN MAJU", "81100 JOHOR BAHRU", "TOTAL RM 9.00"]
    path = tmp_path / "turned.png"
    page(lines, size=32).rotate(angle, expand=True).save(path)  # PIL turns counter-clockwise
    read = read_document_lines(path, OcrSettings(), threads=1, store=OcrStore(tmp_path / "ocr"))
    assert read.notes == [f"page 1 was turned {angle}° clockwise to stand upright"]
    assert [line.text.replace(" ", "") for line in read.lines] == [t.replace(" ", "") for t in lines]


def test_a_turned_sroie_receipt_reads_as_the_upright_one(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    if not (SROIE / "img" / "000.jpg").is_file():
        pytest.skip(f"the shared SROIE receipts are absent ({SROIE})")
    receipt = Image.open(SROIE / "img" / "000.jpg").convert("RGB")
    receipt.thumbnail((800, 800))  # faster; still readable
    store = OcrStore(tmp_path / "ocr")
    receipt.save(tmp_path / "upright.png")
    receipt.rotate(90, expand=True).save(tmp_path / "turned.png")
    upright = read_document_lines(tmp_path / "upright.png", OcrSettings(), threads=2, store=store)
    turned = read_document_lines(tmp_path / "turned.png", OcrSettings(), threads=2, store=store)
    assert upright.notes == [] and turned.notes == ["page 1 was turned 90° clockwise to stand upright"]
    same = {line.text for line in upright.lines} & {line.text for line in turned.lines}
    assert len(same) >= 0.9 * len(upright.lines) > 20


def test_the_detector_input_of_a_wide_strip_is_capped_and_a_receipt_keeps_its_size() -> None:
    engine = SimpleNamespace(settings=OcrSettings())  # _detector_side reads only the settings
    assert OcrEngine._detector_side(engine, 1013, 463) == 736  # type: ignore[arg-type]  # a SROIE receipt
    assert OcrEngine._detector_side(engine, 2000, 716) == 736  # type: ignore[arg-type]  # its largest, shrunk
    side = OcrEngine._detector_side(engine, 40, 640)  # type: ignore[arg-type]  # a one-line strip
    assert side == 150 and 640 * side / 40 <= OcrSettings().det_max  # raised 3.75x, not 18x to 11,776 px
