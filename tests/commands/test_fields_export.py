"""`headstart export` of fields bundles: a folder with the OCR models, the line tagger (and, for `linear`, the text
encoder) as ONNX agreeing with the extractor, its arrays as npz/JSON, a sidecar and a card naming every file; the
rules strategy (nothing learned) is refused. Fitted with the shipped extractors on generated receipts."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.bundle import load as load_bundle
from headstart.cli.main import app
from headstart.data.documents import OcrLine
from headstart.errors import StrategyError, UsageError
from headstart.strategies.fields.export import CARD, SIDECAR, line_features
from headstart.strategies.fields.tagged import TaggedExtractor
from tests.fields_data import receipt, write_receipts

pytest.importorskip("rapidocr_onnxruntime")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """baseline (the tfidf extractor), linear (on the test text backbone) and rules, fitted on 12 receipts."""
    root = tmp_path_factory.mktemp("fields-export")
    receipts = write_receipts(root / "receipts", 12)
    out = {}
    for strategy in ("baseline", "linear", "rules"):
        extra = {"backbone": "test-text"} if strategy == "linear" else {}
        api.fit(str(receipts), strategy=strategy, out=str(root / strategy), progress=False, **extra)
        out[strategy] = root / strategy
    return out


def documents(start: int, n: int) -> list[list[OcrLine]]:
    """Receipts the bundles never saw, as lines in a column (the total to the right of the date)."""
    out = []
    for k in range(start, start + n):
        lines, _ = receipt(k)
        rows = []
        for i, text in enumerate(lines):
            x, y = (220.0, 10.0 + 20 * (i - 1)) if i == 3 else (10.0, 10.0 + 20 * i)
            rows.append(OcrLine(text, (x, y, x + 190, y, x + 190, y + 16, x, y + 16)))
        out.append(rows)
    return out


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the export tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("strategy", ["baseline", "linear"])
def test_a_tagger_bundle_exports_a_folder_whose_onnx_agrees_with_the_extractor(
    bundles: dict[str, Path], strategy: str, tmp_path: Path, offline: None
) -> None:
    out = tmp_path / "export"
    result = api.export(bundles[strategy], out=out)
    assert result.folder == out.resolve() and result.checks["tagger"]["max_abs_diff"] <= 1e-5
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert sorted(result.files) == on_disk
    expected = {"tagger.onnx", "extractor.npz", "extractor.json", SIDECAR, CARD, "ocr/characters.txt"}
    assert expected <= set(on_disk) and sum(f.startswith("ocr/") and f.endswith(".onnx") for f in on_disk) == 3
    assert ("encoder.onnx" in on_disk) == (strategy == "linear")
    card = (out / CARD).read_text()
    assert all(f"`{name}`" in card for name in on_disk), card  # the card names every file
    for step in ("OCR -> lines", "Line features", "Tagger", "Span decoding", "Not in ONNX", "parse_date"):
        assert step in card
    sidecar = json.loads((out / SIDECAR).read_text())
    assert sidecar["fields"] == ["address", "company", "date", "total"] and sidecar["line_classes"][0] == "none"
    assert sidecar["ocr"]["settings"]["max_side"] == json.loads((bundles[strategy] / "manifest.json").read_text())[
        "strategy"]["ocr"]["max_side"]  # fmt: skip
    groups = sidecar["tagger"]["feature_groups"]
    assert groups[0]["columns"][0] == 0 and groups[-1]["columns"][1] == sidecar["tagger"]["input"]["shape"][1]
    assert all(a["columns"][1] == b["columns"][0] for a, b in zip(groups, groups[1:], strict=False))

    # the tagger file, run by onnxruntime on receipts the export never saw, gives the extractor's probabilities
    model = load_bundle(bundles[strategy]).model
    extractor = model.extractor
    assert isinstance(extractor, TaggedExtractor)
    docs, embed = documents(100, 5), model.embedder()
    x = line_features(extractor, docs, embed)
    got = ort.InferenceSession(str(out / "tagger.onnx")).run(None, {"line_features": x})[0]
    want = np.vstack(extractor.line_probabilities(docs, embed))
    assert got.shape == want.shape == (25, 5)
    assert float(np.max(np.abs(got - want))) <= 1e-5
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5) and got[:, 1:].max() > 0.5  # it does tag field lines
    if strategy == "linear":  # the encoder file gives the embedder's rows for the same lines
        texts = [line.text for doc in docs for line in doc]
        inputs = model.backbone.preprocess(texts)
        session = ort.InferenceSession(str(out / "encoder.onnx"))
        rows = session.run(None, {n: inputs[n] for n in model.backbone.input_names})[0]
        assert float(np.max(np.abs(rows - embed(texts)))) <= 1e-3
    else:  # the TF-IDF vocabulary and idf are JSON and npz
        assert json.loads((out / "extractor.json").read_text())["text"]["vocabulary"]
    arrays, _ = extractor.state()
    with np.load(out / "extractor.npz", allow_pickle=False) as saved:
        assert set(saved.files) == set(arrays) and np.allclose(saved["tagger.coef"], arrays["tagger.coef"])


def test_the_rules_strategy_is_refused_with_what_expected_fix(bundles: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="no learned part") as raised:
        api.export(bundles["rules"], out=tmp_path / "rules")
    assert "--strategy baseline" in str(raised.value.fix)
    assert not (tmp_path / "rules").exists() and not list(tmp_path.iterdir())


def test_the_folder_target_refuses_an_onnx_path_and_a_foreign_folder_but_replaces_an_earlier_export(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="exports as a folder"):
        api.export(bundles["baseline"], out=tmp_path / "model.onnx")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a headstart export"):
        api.export(bundles["baseline"], out=foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    first = api.export(bundles["baseline"], out=tmp_path / "again")
    second = api.export(bundles["baseline"], out=tmp_path / "again")
    assert first.files == second.files and not (tmp_path / ".again.tmp").exists()


def test_the_cli_writes_the_default_folder_and_prints_each_parity(bundles: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["export", str(bundles["baseline"])])
    assert result.exit_code == 0, result.output
    assert "parity of the tagger" in result.output and (bundles["baseline"] / "export" / CARD).is_file()
    result = CliRunner().invoke(app, ["export", str(bundles["baseline"]), "--json"])
    doc = json.loads(result.stdout)
    assert doc["folder"].endswith("export") and doc["checks"]["tagger"]["atol"] == 1e-5 and CARD in doc["files"]
    result = CliRunner().invoke(app, ["export", str(bundles["rules"])])
    assert result.exit_code != 0 and "no learned part" in result.output and "Traceback" not in result.output
