"""Documents as data: folders of page images/PDFs with fields (key JSON or a table) and given OCR lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headstart.data import inspect_dataset, load_dataset
from headstart.data.documents import (
    MAX_PDF_PAGES,
    PDF_SCALE,
    OcrLine,
    check_document,
    given_lines,
    page_limit_note,
    parse_fields,
    pdf_scale,
    read_box_csv,
    read_lines_json,
    read_pages,
)
from headstart.data.images import max_pixels
from headstart.data.modalities import get_modality
from headstart.errors import BadItemError
from tests.bad_documents import bomb_png, corrupt_pdf, locked_pdf, long_pdf
from tests.document_data import RECEIPTS, page, write_receipts


def test_a_sroie_like_folder_is_a_documents_dataset_with_fields_as_labels(tmp_path: Path) -> None:
    ds = load_dataset(write_receipts(tmp_path))
    assert get_modality(ds.modality).name == "document"
    assert ds.ids == ("img/r1.png", "img/r2.png")
    assert parse_fields(ds.labels[1]) == RECEIPTS["r2"][1]  # type: ignore[index]
    assert ds.class_counts() == {}  # fields are not classes


def test_fields_come_from_a_table_with_any_field_names(tmp_path: Path) -> None:
    write_receipts(tmp_path, key_json=False)
    page(["NO ROW"]).save(tmp_path / "img" / "r3.png")
    (tmp_path / "fields.csv").write_text('file,vendor,amount due\nimg/r1.png,ACME,"1,000.00"\nr2.png,MURNI,\n')
    ds = load_dataset(tmp_path)
    assert ds.ids == ("img/r1.png", "img/r2.png")
    assert parse_fields(ds.labels[0]) == {"vendor": "ACME", "amount due": "1,000.00"}  # type: ignore[index]
    assert parse_fields(ds.labels[1]) == {"vendor": "MURNI"}  # type: ignore[index]  # an empty cell: no value
    assert [s.id for s in ds.skipped] == ["img/r3.png"]
    assert "no fields given" in ds.skipped[0].reason and "fields.csv" in ds.skipped[0].reason


def test_unreadable_files_and_missing_fields_are_skipped_with_reasons(tmp_path: Path) -> None:
    write_receipts(tmp_path)
    (tmp_path / "img" / "broken.jpg").write_bytes(b"not a jpeg")
    page(["NO KEY"]).save(tmp_path / "img" / "nokey.png")
    ds = load_dataset(tmp_path)
    reasons = {s.id: s.reason for s in ds.skipped}
    assert set(reasons) == {"img/broken.jpg", "img/nokey.png"}
    assert "not a readable image" in reasons["img/broken.jpg"]
    assert "key/nokey.json" in reasons["img/nokey.png"]
    with pytest.raises(BadItemError):
        load_dataset(tmp_path, on_bad="fail")


def test_pdf_pages_are_rendered_and_a_corrupt_pdf_is_skipped(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2")
    write_receipts(tmp_path)
    page(["PAGE ONE"]).save(tmp_path / "img" / "two.pdf", save_all=True, append_images=[page(["PAGE TWO"])])
    (tmp_path / "key" / "two.json").write_text(json.dumps({"company": "X"}))
    (tmp_path / "img" / "bad.pdf").write_bytes(b"%PDF-1.4 truncated")
    (tmp_path / "key" / "bad.json").write_text(json.dumps({"company": "Y"}))
    ds = load_dataset(tmp_path)
    assert "img/two.pdf" in ds.ids
    pages = read_pages(ds.items[ds.ids.index("img/two.pdf")])
    assert len(pages) == 2 and pages[0].mode == "RGB" and pages[0].width > 600  # rendered at 200 dpi
    assert {s.id: s.reason for s in ds.skipped}["img/bad.pdf"].startswith("not a readable PDF")


def test_given_box_csv_keeps_commas_in_the_text_and_json_lines_take_4_or_8_numbers(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    lines = given_lines(root / "img" / "r1.png")
    assert lines is not None and lines[1].text == "NO 12, JALAN MAJU"
    assert (lines[1].left, lines[1].top) == (20.0, 60.0)
    (root / "box" / "r1.csv").unlink()
    (root / "box" / "r1.json").write_text(
        json.dumps({"lines": [{"text": "A", "box": [1, 2, 3, 4]}, {"text": "B", "box": list(range(8)), "page": 1}]})
    )
    lines = given_lines(root / "img" / "r1.png")
    assert lines == [OcrLine("A", (1, 2, 3, 2, 3, 4, 1, 4)), OcrLine("B", tuple(float(v) for v in range(8)), page=1)]  # type: ignore[arg-type]
    (root / "box" / "r1.json").write_text('[{"text": "A", "box": [1, 2]}]')
    with pytest.raises(BadItemError, match="4 or 8 numbers"):
        read_lines_json(root / "box" / "r1.json")
    (root / "box" / "r2.csv").write_text("1,2,3,TEXT\n")
    with pytest.raises(BadItemError, match="fewer than 8 coordinates"):
        read_box_csv(root / "box" / "r2.csv")


def test_inspect_counts_pages_given_lines_and_fields_per_document(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    (root / "box" / "r2.csv").unlink()
    report = inspect_dataset(load_dataset(root))
    assert report.image_sizes == {
        "pages": {"min": 1.0, "median": 1.0, "max": 1.0},
        "ocr_lines_given": {"documents": 1.0, "share": 0.5},
    }
    assert report.target_summary == {"documents": 2.0, "company": 2.0, "date": 2.0, "address": 2.0, "total": 2.0}


def test_an_image_class_folder_is_not_taken_for_documents(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for n in range(2):
            page([f"{cls}{n}"]).save(tmp_path / cls / f"{n}.png")
    assert get_modality(load_dataset(tmp_path).modality).name == "image"


def test_a_decompression_bomb_sized_page_is_refused_from_its_header(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    bomb = bomb_png(root / "img" / "huge.png")
    (root / "key" / "huge.json").write_text(json.dumps({"company": "X"}))
    with pytest.raises(BadItemError, match="900000000 pixels") as err:
        check_document(bomb)
    assert "decompression bomb" in err.value.reason
    ds = load_dataset(root)
    assert "img/huge.png" not in ds.ids and "decompression bomb" in {s.id: s.reason for s in ds.skipped}["img/huge.png"]


def test_a_long_pdf_is_counted_whole_and_read_up_to_the_page_limit(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2")
    pdf = long_pdf(tmp_path / "long.pdf", pages=200)
    assert check_document(pdf) == 200
    assert len(read_pages(pdf)) == MAX_PDF_PAGES and len(read_pages(pdf, max_pages=3)) == 3
    assert page_limit_note(200, MAX_PDF_PAGES) == (
        f"200 pages: read the first {MAX_PDF_PAGES} (raise --ocr-max-pages to read more)"
    )
    assert page_limit_note(MAX_PDF_PAGES, MAX_PDF_PAGES) is None


def test_a_password_protected_or_corrupt_pdf_is_skipped_with_its_reason(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2")
    root = write_receipts(tmp_path)
    locked_pdf(root / "img" / "locked.pdf")
    corrupt_pdf(root / "img" / "corrupt.pdf")
    for stem in ("locked", "corrupt"):
        (root / "key" / f"{stem}.json").write_text(json.dumps({"company": "X"}))
    reasons = {s.id: s.reason for s in load_dataset(root).skipped}
    assert reasons["img/locked.pdf"].startswith("the PDF is password-protected")
    assert reasons["img/corrupt.pdf"].startswith("not a readable PDF, corrupt or truncated")


def test_a_poster_sized_pdf_page_renders_within_the_pixel_limit() -> None:
    poster = 200 * 72.0  # a 200-inch square page: 40,000 px a side at 200 dpi
    scale = pdf_scale(poster, poster)
    assert scale < PDF_SCALE and (poster * scale) ** 2 <= max_pixels() * 1.0001
    assert pdf_scale(595, 842) == PDF_SCALE  # A4 keeps 200 dpi
