"""The `fields` task through every command: fit (linear, baseline, rules), evaluate, predict (a file, a folder, a
PDF; JSONL and CSV), study, reproduce, promote, and the commands that refuse it, on generated receipts with given
OCR lines. The extractors are the contract-honouring ones of `tests/fields_data.py`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import headstart
from headstart import api
from headstart.cli.main import app
from headstart.data.documents import OcrLine
from headstart.data.hashing import image_sha256
from headstart.ocr import DocumentLines, OcrSettings, OcrStore
from headstart.errors import PromotionRefused, UsageError
from tests.fields_data import FIELDS, receipt, fields_extractors, write_receipts


@pytest.fixture(autouse=True, scope="module")
def extractors() -> Iterator[None]:
    with fields_extractors():
        yield


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_receipts(tmp_path_factory.mktemp("fields") / "receipts", 15)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_receipts(tmp_path_factory.mktemp("fields") / "held-out", 6, start=100)


@pytest.fixture(scope="module")
def bundles(receipts: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bundle per strategy, fitted through the CLI (`linear` on the test text backbone)."""
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for strategy in ("rules", "baseline", "linear"):
        args = ["fit", str(receipts), "--strategy", strategy, "--out", str(root / strategy), "--json"]
        result = CliRunner().invoke(app, [*args, *(["--backbone", "test-text"] if strategy == "linear" else [])])
        assert result.exit_code == 0, result.output
        out[strategy] = root / strategy
    return out


def test_fit_prints_the_test_reports_entity_f1_and_records_strategy_ocr_and_extractor(
    receipts: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["fit", str(receipts), "--out", str(tmp_path / "m"), "--strategy", "rules"])
    assert result.exit_code == 0, result.output
    assert "test entity F1 1.000" in result.output  # positions learned from 12 receipts find every test field
    assert "12 train / 3 test items, 4 fields" in result.output
    result = CliRunner().invoke(
        app, ["fit", str(receipts), "--out", str(tmp_path / "l"), "--backbone", "test-text", "--json"]
    )
    doc = json.loads(result.stdout)
    assert doc["task"] == "fields" and doc["strategy"] == "linear" and doc["trained"] == "linear"
    assert doc["backbone"] == "test-text" and doc["counts"]["train"] == 12 and doc["counts"]["test"] == 3
    assert set(doc["metrics"]) >= {"entity_f1", "entity_precision", "entity_recall", "n"}
    manifest = json.loads((tmp_path / "l" / "manifest.json").read_text())
    strategy, head = manifest["strategy"], manifest["head"]
    assert strategy["name"] == "fields-linear" and strategy["spec"] == "linear" and strategy["extractor"] == "linear"
    assert strategy["lines"] == {"given": 12} and strategy["ocr"]["max_side"] > 0 and strategy["ocr"]["cache_key"]
    assert strategy["embedding"]["backbone"] == "test-text" and manifest["backbone"]["name"] == "test-text"
    assert head["fields"] == sorted(FIELDS) == manifest["labels"] and head["extractor"]["fields"] == head["fields"]
    assert manifest["metrics"]["test"]["per_field"]["date"]["documents"] == 3


def test_the_three_strategies_are_the_documents_own_and_load_back(bundles: dict[str, Path], receipts: Path) -> None:
    names = {s: json.loads((b / "manifest.json").read_text())["strategy"]["name"] for s, b in bundles.items()}
    assert names == {"rules": "rules", "baseline": "fields-baseline", "linear": "fields-linear"}
    first = receipts / "img" / "r000.png"
    _, fields = receipt(0)
    for strategy in ("rules", "baseline"):
        predictor = headstart.load(bundles[strategy])
        assert predictor.task == "fields" and predictor.labels == sorted(FIELDS)
        assert predictor.predict(first) == [fields]
    assert headstart.load(bundles["linear"]).backbone.name == "test-text"


def test_a_label_budget_counts_training_documents(receipts: Path, tmp_path: Path) -> None:
    fitted = api.fit(receipts, strategy="rules", labels_per_class=4, out=str(tmp_path / "m"), progress=False)
    assert fitted.counts["train"] == 4 and fitted.metrics["entity_f1"] == 1.0
    many = api.fit(receipts, strategy="rules", labels_per_class=50, out=str(tmp_path / "n"), progress=False)
    assert many.counts["train"] == 12
    assert "the data has 12 item(s), fewer than the budget of 50; all used" in many.notes


def test_C_reaches_the_line_taggers_and_is_noted_as_ignored_by_the_rules(receipts: Path, tmp_path: Path) -> None:
    tagger = api.fit(receipts, strategy="baseline", C=0.5, out=str(tmp_path / "b"), progress=False)
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["head"]["extractor"]["c"] == 0.5
    assert not any("C=0.5" in note for note in tagger.notes)
    rules = api.fit(receipts, strategy="rules", C=0.5, backbone="test-text", out=str(tmp_path / "r"), progress=False)
    assert "rules uses no pretrained network: backbone 'test-text' is unused" in rules.notes
    assert any(note.startswith("C=0.5 applies only to") and note.endswith("ignored by rules") for note in rules.notes)


def test_evaluate_prints_a_per_field_table_and_json_holds_the_counts(bundles: dict[str, Path], held_out: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(bundles["rules"]), str(held_out)])
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and "entity F1 1.000" in result.output
    assert all(name in result.output for name in FIELDS)
    result = CliRunner().invoke(app, ["evaluate", str(bundles["linear"]), str(held_out), "--json"])
    doc = json.loads(result.stdout)
    assert doc["task"] == "fields" and doc["n"] == 6 and set(doc["per_field"]) == set(FIELDS)
    counts = doc["per_field"]["company"]
    assert counts["right"] + counts["wrong"] + counts["missing"] == counts["documents"] == 6
    right = sum(c["right"] for c in doc["per_field"].values())
    given = sum(c["right"] + c["wrong"] + c["extra"] for c in doc["per_field"].values())
    assert doc["entity_precision"] == pytest.approx(right / given, abs=1e-4)


def test_predict_a_file_a_folder_and_a_pdf_gives_one_record_per_document(
    bundles: dict[str, Path], held_out: Path, tmp_path: Path
) -> None:
    pdf_root = tmp_path / "pdfs"
    (pdf_root / "box").mkdir(parents=True)
    Image.new("RGB", (80, 60), "white").save(pdf_root / "scan.pdf")
    lines, fields = receipt(7)
    rows = [{"text": t, "box": [10, 10 + 20 * i, 200, 26 + 20 * i]} for i, t in enumerate(lines)]
    (pdf_root / "box" / "scan.json").write_text(json.dumps(rows))
    first = held_out / "img" / "r100.png"
    args = ["predict", str(bundles["rules"]), str(first), str(held_out), str(pdf_root / "scan.pdf"), "--json"]
    result = CliRunner().invoke(app, args)
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["task"] == "fields" and len(doc["predictions"]) == 1 + 6 + 1
    by_id = {p["id"]: p["fields"] for p in doc["predictions"]}
    assert {k: v["value"] for k, v in by_id[str(pdf_root / "scan.pdf")].items()} == fields
    found = by_id[str(first)]["total"]
    assert found["value"] == receipt(100)[1]["total"] and found["page"] == 0 and found["confidence"] == 1.0
    assert found["box"] == [10.0, 70.0, 200.0, 86.0]  # the total's line, fourth from the top
    result = CliRunner().invoke(app, ["predict", str(bundles["rules"]), str(held_out)])
    assert result.exit_code == 0 and "confidence" in result.output and receipt(101)[1]["company"] in result.output


def test_predict_out_writes_jsonl_records_and_a_csv_column_per_field(
    bundles: dict[str, Path], held_out: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fields.jsonl"
    result = CliRunner().invoke(app, ["predict", str(bundles["rules"]), str(held_out), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6 and set(records[0]) == {"id", "input", "fields", "skipped_reason"}
    assert set(records[0]["fields"]["date"]) == {"value", "confidence", "lines", "page", "box"}
    out = tmp_path / "fields.csv"
    headstart.predict(bundles["rules"], [str(held_out)], out=out, progress=False)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "input", *sorted(FIELDS), "skipped_reason"]
    assert [row["total"] for row in rows] == [receipt(k)[1]["total"] for k in range(100, 106)]


def test_study_compares_rules_baseline_and_linear_and_says_whether_transfer_helped(
    receipts: Path, tmp_path: Path
) -> None:
    args = ["study", str(receipts), "--out", str(tmp_path / "s"), "--backbone", "test-text", "--budgets", "4,8"]
    result = CliRunner().invoke(app, [*args, "--seeds", "1", "--json"])
    assert result.exit_code == 0, result.output
    study = json.loads((tmp_path / "s" / "study.json").read_text())
    records = [json.loads(line) for line in (tmp_path / "s" / "results.jsonl").read_text().splitlines()]
    assert {(r["strategy"], r["transfer"], r["status"]) for r in records} == {
        ("linear", True, "ok"), ("baseline", False, "ok"), ("rules", False, "ok"),
    }  # fmt: skip
    assert {r["n_labelled"] for r in records} == {4, 8} and study["frame"]["score_metric"] == "entity_f1"
    verdict = study["verdict"]
    said = " ".join([verdict["headline"], *verdict["details"], *verdict["warnings"]])
    assert "4 documents" in said and "8 documents" in said and "labels per class" not in said
    assert verdict["negative_transfer"] == bool(verdict["negative_transfer_budgets"])
    assert study["frame"]["budget_unit"] == "documents" == json.loads(result.output)["budget_unit"]
    report = (tmp_path / "s" / "report.html").read_text()
    assert "Entity F1 vs documents" in report and "<th>documents</th>" in report and "labels/class" not in report
    assert "<th>entity F1</th>" in report and "<th>accuracy</th>" not in report
    table = CliRunner().invoke(app, [*args, "--seeds", "1"])  # the finished study again: its summary table
    assert table.exit_code == 0 and "documents" in table.output and "labels/class" not in table.output, table.output


def test_reproduce_refits_a_fields_run_with_the_same_scores(receipts: Path, tmp_path: Path) -> None:
    fitted = api.fit(receipts, strategy="rules", out=str(tmp_path / "m"), progress=False)
    again = api.reproduce(fitted.run_id, out=tmp_path / "again", progress=False)
    assert again.matches is True, again.metrics
    assert api.load(again.bundle).manifest.strategy.name == "rules"
    listed = CliRunner().invoke(app, ["runs"]).output
    row = next(line for line in listed.splitlines() if fitted.run_id[:8] in line)
    assert "rules" in row and "1.000" in row  # the F1 column holds the run's test entity F1


def test_promote_gates_on_entity_f1_field_by_field(bundles: dict[str, Path], held_out: Path) -> None:
    worse = api.evaluate(bundles["linear"], held_out, progress=False).report
    if worse.summary()["entity_f1"] >= 1.0:
        pytest.skip("the embedding extractor found every field: nothing to promote over")
    promoted = api.promote(bundles["rules"], over=bundles["linear"], on=held_out, progress=False)
    assert promoted.promoted and promoted.metric == "entity_f1"
    assert {c.label for c in promoted.classes} == set(FIELDS)
    with pytest.raises(PromotionRefused, match="entity_f1"):
        api.promote(bundles["linear"], over=bundles["rules"], on=held_out, progress=False)
    with pytest.raises(UsageError, match="does not score fields models"):
        api.promote(bundles["rules"], over=bundles["linear"], on=held_out, metric="accuracy", progress=False)


def test_expand_refuses_fields_bundles_and_export_refuses_an_extractor_without_a_tagger(
    bundles: dict[str, Path], held_out: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["expand", str(bundles["rules"]), str(held_out), "--out", str(tmp_path / "g")])
    assert result.exit_code == 2 and "does not support fields" in result.output, result.output
    # export is supported (tests/commands/test_fields_export.py), but these extractors have no line tagger
    result = CliRunner().invoke(app, ["export", str(bundles["rules"]), "--out", str(tmp_path / "exported")])
    assert result.exit_code == 2 and "no learned part to export" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "exported").exists()


def test_the_ocr_options_are_kept_in_the_bundle_and_predict_reads_as_fitted_unless_told(
    receipts: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "m"
    args = ["fit", str(receipts), "--strategy", "rules", "--out", str(bundle), "--json"]
    result = CliRunner().invoke(app, [*args, "--ocr-max-side", "1000", "--no-ocr-orientation"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["strategy"]["ocr"]["max_side"] == 1000 and manifest["strategy"]["ocr"]["orientation"] is False
    assert manifest["config"]["ocr_max_side"] == 1000 and manifest["config"]["ocr_max_pages"] is None

    docs = tmp_path / "new"
    (docs / "box").mkdir(parents=True)
    scan, blank = docs / "scan.png", docs / "blank.png"
    Image.new("RGB", (64, 48), (250, 250, 240)).save(scan)  # no lines given: OCR reads it (cached here)
    Image.new("RGB", (64, 48), "white").save(blank)
    (docs / "box" / "blank.csv").write_text("")  # a page without any text line
    lines, fields = receipt(200)
    rows = [OcrLine(t, (10, y, 200, y, 200, y + 16, 10, y + 16)) for y, t in zip(range(10, 999, 20), lines)]
    fitted = OcrSettings(max_side=1000, orientation=False)
    OcrStore().put(image_sha256(scan), fitted, DocumentLines(rows, "ocr", ["no text found on page 2"]))
    OcrStore().put(image_sha256(scan), replace(fitted, max_side=900), DocumentLines(rows, "ocr", []))

    predicted = api.predict(bundle, [str(scan), str(blank)], progress=False)  # the bundle's settings: cached
    assert [p.id for p in predicted.predictions] == [str(scan)]
    assert {name: found["value"] for name, found in (predicted.predictions[0].fields or {}).items()} == fields
    blank_reason = "no text found in the document (blank pages?)"
    assert [(s.id, s.reason) for s in predicted.skipped] == [(str(blank), blank_reason)]
    assert predicted.notes == [f"{scan}: no text found on page 2"] == predicted.to_dict()["notes"]

    changed = api.predict(bundle, [str(scan)], ocr_max_side=900, ocr_orientation=False, progress=False)
    assert changed.notes == [
        "OCR settings differ from the model's: max_side=900 (fitted with 1000); lines may be read unlike at fit time"
    ]
    result = CliRunner().invoke(app, ["predict", str(bundle), str(scan), str(blank), "--ocr-max-side", "900"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "note: OCR settings differ from the model's: max_side=900" in result.output


def test_ocr_options_are_noted_as_ignored_outside_documents(receipts: Path, tmp_path: Path) -> None:
    from headstart.strategies import get_strategy
    from headstart.strategies.options import unused_options

    ocr = {"ocr_max_side", "ocr_max_pages", "ocr_orientation"}
    assert ocr <= unused_options(get_strategy("linear"), "classification")
    assert not {"ocr_max_side", "C"} & unused_options(get_strategy("fields-baseline"), "fields", "document")
    rules = api.fit(receipts, strategy="rules", ocr_max_pages=3, out=str(tmp_path / "r"), progress=False)
    assert not any("ocr_max_pages" in note for note in rules.notes)
