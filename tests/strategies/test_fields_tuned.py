"""`partial:K` on documents (`strategies/fields/tuned.py`, `line_tuning.py`): the encoder's last layers trained on
the lines' weak labels through the one Trainer, the real linear tagger on the tuned embeddings, the bundle round
trip, the export of the tuned encoder, and the errors; on generated receipts with given lines and the tiny random
test text backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headstart.backbones import get_backbone
from headstart.bundle import load
from headstart.cli.main import app
from headstart.config import FitConfig
from headstart.data import load_dataset
from headstart.data.documents import OcrLine
from headstart.strategies import FitInputs, for_task, get_strategy
from headstart.strategies.fields.embedding import line_embedder
from headstart.strategies.fields.export import SIDECAR
from headstart.strategies.fields.line_tuning import NO_FIELD, line_classes
from headstart.strategies.fields.tagged import LinearExtractor
from headstart.strategies.fields.tuned import ENCODER_PREFIX, TunedFieldsModel
from headstart.strategies.registry import default_study_strategies
from headstart.tasks.fields import FIELDS
from tests.fields_data import receipt, write_receipts


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_receipts(tmp_path_factory.mktemp("tuned") / "receipts", 12)


@pytest.fixture(scope="module")
def fitted(receipts: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tuned") / "bundle"
    args = ["fit", str(receipts), "--strategy", "partial:1", "--backbone", "test-text", "--max-epochs", "3"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_partial_on_documents_is_the_tuned_fields_strategy_asked_for_by_name_only() -> None:
    tuned = for_task(get_strategy("partial"), FIELDS.name)
    assert tuned.name == "fields-partial" and tuned.needs_backbone and tuned.checkpoints
    assert {"max_epochs", "lr", "lr_ratio", "C", "ocr_max_side"} <= tuned.options
    assert for_task(get_strategy("partial"), "classification").name == "partial"
    assert "partial" not in default_study_strategies("document", FIELDS.name)  # minutes per fit: asked for


def test_line_classes_are_the_weak_labels_of_the_non_blank_lines() -> None:
    texts, fields = receipt(3)
    lines = [OcrLine(t, (0, 20 * i, 100, 20 * i, 100, 20 * i + 15, 0, 20 * i + 15)) for i, t in enumerate(texts)]
    blank = OcrLine("   ", (0, 500, 100, 500, 100, 515, 0, 515))
    classes = line_classes([[*lines, blank]], [fields])
    assert len(classes.texts) == len(texts) and "" not in classes.texts
    assert classes.fields == list(fields)
    for name, value in fields.items():  # every field's line carries its name; the footer none
        assert classes.classes[classes.texts.index(value)] == name
    assert classes.classes[-1] == NO_FIELD and set(classes.document.tolist()) == {0}


def test_the_encoder_trains_and_the_tagger_reads_its_embeddings_not_the_frozen_ones(
    fitted: tuple[Path, dict], receipts: Path
) -> None:
    out, payload = fitted
    assert payload["strategy"] == "partial:1" and payload["trained"] == "partial:1"
    assert 0.0 <= payload["metrics"]["entity_f1"] <= 1.0
    predictor = load(out)
    model = predictor.model
    assert isinstance(model, TunedFieldsModel) and model.tuned is not None
    backbone = get_backbone("test-text")
    pretrained = backbone.module().stages[-1].state_dict()
    tuned = model.tuned.model.top.stages[0].state_dict()
    moved = max(float((tuned[k] - pretrained[k]).abs().max()) for k in pretrained)
    assert moved > 2e-5  # the stage itself trained: weight decay alone moves it < 1e-6 in these 9 steps
    texts = ["ACME TRADING 3", "TOTAL 12.00", "Thank you"]
    frozen = line_embedder(backbone, store=False)(texts)
    embed = model.embedder()
    assert embed is not None
    assert not np.allclose(embed(texts), frozen, atol=1e-4)
    strategy = predictor.manifest.strategy.to_dict()
    assert strategy["spec"] == "partial:1" and strategy["extractor"] == "linear"
    assert strategy["encoder"]["cut"] == len(backbone.stages) - 1
    assert NO_FIELD in strategy["encoder"]["classes"] and strategy["encoder"]["epochs_run"] >= 1
    assert strategy["embedding"]["fine_tuned"] is True
    assert any(k.startswith(ENCODER_PREFIX) for k in model.tensors())


def test_a_loaded_bundle_predicts_what_the_fitted_model_did(receipts: Path, tmp_path: Path) -> None:
    data = load_dataset(str(receipts))
    backbone = get_backbone("test-text")
    config = FitConfig(strategy="partial:1", progress=False, max_epochs=2, out=str(tmp_path / "m"))
    strategy = get_strategy("fields-partial")
    model = strategy.fit(FitInputs(train=data, backbone=backbone, config=config, params={"arg": "1"}))
    assert isinstance(model, TunedFieldsModel) and model.report is not None and model.report.history
    assert any("encoder fine-tuned on the lines of" in note for note in model.report.notes)
    unseen = load_dataset(str(write_receipts(tmp_path / "new", 3, start=40)))
    before = model.predict_dataset(unseen)
    from headstart.bundle import save_bundle
    from headstart.commands.fit import backbone_manifest
    from headstart.manifest import build_manifest

    manifest = build_manifest(
        task=FIELDS.name, modality="document", labels=model.labels, model_sections=model.manifest(),
        backbone=backbone_manifest(backbone), data={},
    )  # fmt: skip
    after = load(save_bundle(tmp_path / "bundle", manifest, model.tensors())).predict_dataset(unseen)
    assert after.records == before.records
    assert np.allclose(after.proba, before.proba, atol=1e-6)


def test_the_export_writes_the_tuned_encoder_checked_against_the_bundle(
    fitted: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = fitted
    result = CliRunner().invoke(app, ["export", str(out), "--out", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "export" / SIDECAR).read_text())
    encoder = sidecar["encoder"]
    assert encoder["fine_tuned"]["cut"] == len(get_backbone("test-text").stages) - 1
    assert sidecar["parity"]["encoder"]["max_abs_diff"] <= sidecar["parity"]["encoder"]["atol"]
    import onnxruntime as ort

    model = load(out).model
    assert isinstance(model, TunedFieldsModel)
    texts = ["ACME TRADING 3", "TOTAL 12.00"]
    inputs = get_backbone("test-text").preprocess(texts)
    session = ort.InferenceSession(str(tmp_path / "export" / encoder["onnx_file"]))
    got = session.run(None, {n: inputs[n] for n in encoder["inputs"]})[0]
    embed = model.embedder()
    assert embed is not None
    assert np.allclose(got, embed(texts), atol=1e-4)
    assert "fine-tuned" in (tmp_path / "export" / "README.md").read_text()


def test_k_beyond_the_encoders_layers_is_refused_with_what_fits(receipts: Path, tmp_path: Path) -> None:
    args = ["fit", str(receipts), "--strategy", "partial:9", "--backbone", "test-text", "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "partial:9" in result.output and "at most" in result.output
    assert "Traceback" not in result.output


def test_partial_fits_the_real_linear_extractor() -> None:
    model_class = get_strategy("fields-partial").model_class
    assert model_class is TunedFieldsModel
    from headstart.strategies.fields.strategy import extractor_class

    assert extractor_class(get_strategy("fields-partial").extractor_kind) is LinearExtractor
    assert torch.is_grad_enabled()  # the fit left autograd as it found it


def test_the_tagger_learns_from_cross_fitted_embeddings_and_no_checkpoint_is_left(tmp_path: Path) -> None:
    from headstart.data.documents import read_box_csv
    from headstart.strategies.fields.line_features import describe
    from headstart.strategies.fields.line_tuning import CrossFitted, tune_for_tagging

    root = write_receipts(tmp_path / "docs", 8)
    documents = [read_box_csv(p) for p in sorted((root / "box").glob("*.csv"))]
    fields = [receipt(n)[1] for n in range(8)]
    backbone = get_backbone("test-text")
    config = FitConfig(strategy="partial:1", progress=False, max_epochs=2, out=str(tmp_path / "m"))
    final, embed = tune_for_tagging(backbone, documents, fields, config, {"arg": "1"})
    assert isinstance(embed, CrossFitted)
    texts = [line.text for lines in documents for line in describe(lines).lines]
    final_embed = final.embedder()
    assert embed(texts).shape == final_embed(texts).shape
    assert not np.allclose(embed(texts), final_embed(texts), atol=1e-5)  # other encoders embedded them
    assert np.array_equal(embed(["ACME 1", "TOTAL 3.00"]), final_embed(["ACME 1", "TOTAL 3.00"]))
    assert any("cross-fitted" in note for note in final.notes)
    assert not list(tmp_path.glob(".m*checkpoint*"))  # the final and the fold runs removed theirs
    few, embed = tune_for_tagging(backbone, documents[:3], fields[:3], config, {"arg": "1"})
    assert not isinstance(embed, CrossFitted) and any("too few to cross-fit" in note for note in few.notes)


def test_a_field_found_only_in_the_held_out_documents_does_not_break_the_fit(tmp_path: Path) -> None:
    from headstart.data.documents import read_box_csv
    from headstart.strategies.fields.line_tuning import MIN_VALIDATION_DOCUMENTS, VALIDATION_FRACTION, tune_line_encoder

    root = write_receipts(tmp_path / "docs", 10)
    documents = [read_box_csv(p) for p in sorted((root / "box").glob("*.csv"))]
    fields = [receipt(n)[1] for n in range(10)]
    held = int(round(10 * VALIDATION_FRACTION))
    assert held >= MIN_VALIDATION_DOCUMENTS
    only = int(np.random.default_rng(0).permutation(10)[0])  # a document the split holds out (seed 0)
    fields[only] = {**fields[only], "footer": documents[only][-1].text}  # a field only that held-out document has
    config = FitConfig(strategy="partial:1", progress=False, max_epochs=1, out=str(tmp_path / "m"), seed=0)
    tuned = tune_line_encoder(get_backbone("test-text"), documents, fields, config, {"arg": "1"})
    assert "footer" not in tuned.model.labels  # learned without it; its held-out lines are not scored
