"""`inspect` on a documents folder: per-field weak-label coverage in the given (or OCR) lines."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from tests.document_data import write_receipts


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
    args = ["fit", str(root), "--out", str(tmp_path / "bundle"), "--strategy", "partial:1", "--json"]
    result = CliRunner().invoke(app, args)
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and doc["message"] == "strategy 'partial' cannot fit fields data", result.output
    assert doc["expected"] == "for fields: one of linear, baseline, rules"
    assert not (tmp_path / "bundle").exists()
