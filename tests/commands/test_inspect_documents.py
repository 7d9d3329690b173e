"""`inspect` on a documents folder: per-field weak-label coverage in the given (or OCR) lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.data.documents import OcrLine
from headstart.data.hashing import image_sha256
from headstart.errors import UsageError
from headstart.ocr import DocumentLines, OcrSettings, OcrStore
from tests.document_data import RECEIPTS, page, write_receipts


def test_inspect_reports_how_many_documents_have_each_field_findable(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    key = root / "key" / "r2.json"
    key.write_text(json.dumps({**json.loads(key.read_text()), "company": "NOT ON THE PAGE"}))
    report = headstart.inspect(root, progress=False)
    assert report.ocr_sources == {"given": 2}
    assert report.field_coverage is not None
    assert report.field_coverage["company"] == {"documents": 2.0, "findable": 1.0, "share": 0.5}
    assert report.field_coverage["total"] == {"documents": 2.0, "findable": 2.0, "share": 1.0}


def test_the_cli_prints_coverage_and_json_holds_it(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    result = CliRunner().invoke(app, ["inspect", str(root), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "date:" in result.output and "2/2 documents (100%)" in result.output
    result = CliRunner().invoke(app, ["inspect", str(root), "--json"])
    doc = json.loads(result.output)
    assert doc["modality"] == "document" and doc["field_coverage"]["address"]["share"] == 1.0


def test_fit_and_study_on_documents_refuse_an_image_backbone_saying_lines_are_embedded_as_text(tmp_path: Path) -> None:
    root = write_receipts(tmp_path / "docs")
    for args in (
        ["fit", str(root), "--out", str(tmp_path / "bundle"), "--backbone", "test-cnn"],
        ["study", str(root), "--out", str(tmp_path / "study"), "--backbone", "test-cnn", "--strategies", "linear"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 4, (args, result.output)
        assert "each OCR line with a text backbone" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "bundle").exists()


def test_rank_refuses_documents_with_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rank", str(write_receipts(tmp_path / "docs")), "--backbones", "test-cnn"])
    assert result.exit_code == 2 and "fields" in result.output and "Traceback" not in result.output, result.output


def test_fit_on_documents_with_a_strategy_that_cannot_fit_fields_names_those_that_can(tmp_path: Path) -> None:
    root = write_receipts(tmp_path / "docs")
    args = ["fit", str(root), "--out", str(tmp_path / "bundle"), "--strategy", "full", "--json"]
    result = CliRunner().invoke(app, args)
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and doc["message"] == "strategy 'full' cannot fit fields data", result.output
    assert doc["expected"] == "for fields: one of linear, partial, baseline, rules"
    assert not (tmp_path / "bundle").exists()


def cached_read(document: Path, settings: OcrSettings, lines: list[str], notes: list[str]) -> None:
    """What OCR would have read from `document` with `settings`, put in the OCR cache (no OCR runs in the test)."""
    rows = [OcrLine(text, (20, y, 300, y, 300, y + 32, 20, y + 32), 0.99) for y, text in zip(range(20, 999, 40), lines)]
    OcrStore().put(image_sha256(document), settings, DocumentLines(rows, "ocr", notes))


def test_inspect_lists_blank_documents_and_the_readers_notes_read_with_the_ocr_options(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    key = root / "key" / "r2.json"
    key.write_text(json.dumps({**json.loads(key.read_text()), "company": "NOT ON THE PAGE"}))
    Image.new("RGB", (64, 48), "white").save(root / "img" / "r3.png")  # a blank page: given no lines
    (root / "box" / "r3.csv").write_text("")
    (root / "key" / "r3.json").write_text(json.dumps({"total": "1.00"}))
    lines, fields = RECEIPTS["r1"]
    page(lines).rotate(90, expand=True).save(root / "img" / "r4.png")  # no lines given: read by OCR (cached here)
    (root / "key" / "r4.json").write_text(json.dumps(fields))
    settings = OcrSettings(max_side=640, max_pages=1, orientation=True)
    cached_read(root / "img" / "r4.png", settings, lines, ["page 1 was turned 270° clockwise to stand upright"])

    report = headstart.inspect(root, ocr_max_side=640, ocr_max_pages=1, progress=False)  # default settings: not cached
    assert report.ocr_sources == {"given": 3, "cache": 1}
    skipped = {Path(s["id"]).stem: s["reason"] for s in report.skipped}
    assert skipped == {"r3": "no text found in the document (blank pages?)"}
    assert any("r4" in n and n.endswith("page 1 was turned 270° clockwise to stand upright") for n in report.notes)
    assert any("r2" in n and n.endswith("not findable in its lines: company") for n in report.notes)
    assert report.field_coverage is not None and report.field_coverage["total"]["documents"] == 3.0

    args = ["inspect", str(root), "--ocr-max-side", "640", "--ocr-max-pages", "1", "--ocr-orientation"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "no text found in the document" in result.output and "turned 270°" in result.output


def test_inspect_refuses_a_bad_ocr_option_naming_the_flag(tmp_path: Path) -> None:
    root = write_receipts(tmp_path)
    result = CliRunner().invoke(app, ["inspect", str(root), "--ocr-max-pages", "0", "--json"])
    assert result.exit_code == 2 and "--ocr-max-pages" in result.output, result.output
    with pytest.raises(UsageError, match="ocr_max_side"):
        headstart.inspect(root, ocr_max_side=8)
