"""The fields strategies (`strategies/fields/strategy.py`): what `linear`/`baseline` mean on documents, the model's
records, the bundle round trip, unreadable documents, and an extractor kind this installation lacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from headstart.backbones import get_backbone
from headstart.bundle import load, save_bundle
from headstart.commands.fit import backbone_manifest
from headstart.config import FitConfig
from headstart.data import load_dataset
from headstart.errors import StrategyError
from headstart.manifest import build_manifest
from headstart.strategies import FitInputs, for_task, get_strategy
from headstart.strategies.fields.strategy import TENSOR_PREFIX, FieldsModel, extractor_class
from headstart.tasks.fields import FIELDS
from headstart.strategies.fields.strategy import register_extractor
from tests.fields_data import PositionExtractor, fields_extractors, receipt, write_receipts


@pytest.fixture(autouse=True)
def extractors() -> Iterator[None]:
    with fields_extractors():
        yield


def test_linear_and_baseline_mean_the_fields_strategies_on_documents_only() -> None:
    assert for_task(get_strategy("linear"), FIELDS.name).name == "fields-linear"
    assert for_task(get_strategy("baseline"), FIELDS.name).name == "fields-baseline"
    assert for_task(get_strategy("linear"), "classification").name == "linear"
    linear = get_strategy("fields-linear")
    assert linear.needs_backbone and linear.backbone_modality == "text"
    assert not get_strategy("rules").needs_backbone and not get_strategy("fields-baseline").needs_backbone


def _fit(name: str, root: Path) -> tuple[FieldsModel, object]:
    data = load_dataset(str(root))
    strategy = get_strategy(name)
    backbone = get_backbone("test-text") if strategy.needs_backbone else None
    config = FitConfig(strategy=name, progress=False)
    model = strategy.fit(FitInputs(train=data, backbone=backbone, config=config))
    assert isinstance(model, FieldsModel)
    return model, backbone


@pytest.mark.parametrize("name", ["fields-linear", "rules"])
def test_a_saved_bundle_loads_into_the_same_extractor_and_predicts_the_same_records(
    name: str, tmp_path: Path
) -> None:
    root = write_receipts(tmp_path / "docs", 8)
    model, backbone = _fit(name, root)
    unseen = load_dataset(str(write_receipts(tmp_path / "new", 3, start=50)))
    before = model.predict_dataset(unseen)
    assert before.records is not None and len(before.records) == 3 and before.proba.shape == (3, 4)
    assert before.labels == model.labels == sorted(receipt(0)[1])
    manifest = build_manifest(
        task=FIELDS.name,
        modality="document",
        labels=model.labels,
        model_sections=model.manifest(),
        backbone=backbone_manifest(backbone),  # type: ignore[arg-type]
        data={},
    )
    tensors = model.tensors()
    assert tensors and all(key.startswith(TENSOR_PREFIX) for key in tensors)
    predictor = load(save_bundle(tmp_path / "bundle", manifest, tensors))
    after = predictor.predict_dataset(unseen)
    assert after.records == before.records and np.array_equal(after.proba, before.proba)
    assert {k: v.tolist() for k, v in predictor.model.tensors().items()} == {k: v.tolist() for k, v in tensors.items()}
    assert predictor.manifest.strategy.to_dict()["ocr"] == model.strategy["ocr"]


def test_unreadable_documents_are_skipped_with_their_reason_or_raise_when_asked(tmp_path: Path) -> None:
    root = write_receipts(tmp_path / "docs", 6)
    model, _ = _fit("rules", root)
    (root / "box" / "r002.csv").write_text("not,a,box\n")
    data = load_dataset(str(root))
    scored = model.predict_dataset(data)
    assert [data.ids[i] for i in scored.kept] == [f"img/r00{k}.png" for k in (0, 1, 3, 4, 5)]
    assert [(s.id, s.reason) for s in scored.skipped] == [
        ("img/r002.png", "line 1 has fewer than 8 coordinates and a text")
    ]
    assert scored.records is not None and len(scored.records) == len(scored.kept) == len(scored.proba)
    with pytest.raises(Exception, match="fewer than 8 coordinates"):
        model.predict_dataset(data, on_bad="fail")


class NoBlankPages(PositionExtractor):
    """Refuses documents without lines: the model must answer those itself."""

    def extract(self, documents, embed=None):  # type: ignore[no-untyped-def]
        assert all(documents), "a document without lines reached the extractor"
        return super().extract(documents, embed)


def test_a_document_without_text_lines_never_reaches_the_extractor(tmp_path: Path) -> None:
    register_extractor("rules", NoBlankPages)
    root = write_receipts(tmp_path / "docs", 5)
    model, _ = _fit("rules", root)
    (root / "box" / "r001.csv").write_text("")  # a blank page: OCR (here, the given lines) found no text
    data = load_dataset(str(root))
    scored = model.predict_dataset(data)
    assert scored.records is not None and len(scored.records) == len(scored.kept)
    rows = {data.ids[i]: row for row, i in enumerate(scored.kept)}
    skipped = {s.id: s.reason for s in scored.skipped}
    blank = "img/r001.png"  # skipped with its reason by the line reader, or answered with no fields
    assert (blank in skipped and blank not in rows) or (scored.records[rows[blank]] == {} and not skipped)
    if blank in rows:
        assert scored.proba[rows[blank]].tolist() == [0.0] * 4
    assert scored.records[rows["img/r002.png"]]["total"]["value"] == receipt(2)[1]["total"]


def test_an_extractor_kind_this_installation_lacks_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError, match="'layoutlm' field extractor is not available"):
        extractor_class("layoutlm")


def test_the_ocr_notes_on_how_training_documents_were_read_reach_the_fit_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headstart.ocr import ReadLines
    from headstart.strategies.fields import strategy as fields_strategy

    real = fields_strategy.read_documents

    def read(paths, ids, settings=None, **options):  # type: ignore[no-untyped-def]
        done = real(paths, ids, settings, **options)
        notes = [{"id": i, "note": "page 1 was turned 180° clockwise to stand upright"} for i in ids]
        return ReadLines(done.lines, done.skipped, done.sources, notes)

    monkeypatch.setattr(fields_strategy, "read_documents", read)
    model, _ = _fit("rules", write_receipts(tmp_path / "docs", 12))
    assert model.report is not None
    turned = [n for n in model.report.notes if n.endswith("turned 180° clockwise to stand upright")]
    assert turned[0] == "img/r000.png: page 1 was turned 180° clockwise to stand upright" and len(turned) == 10
    assert "... and 2 more note(s) on how training documents were read" in model.report.notes
