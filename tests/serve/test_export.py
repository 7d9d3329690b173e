"""`headstart export`: one ONNX file (inputs → probabilities) + JSON sidecar, checked against the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

import headstart
from headstart import api
from headstart.cli.main import app
from headstart.commands.export import ExportParityError, check_parity
from headstart.data.images import read_image
from headstart.errors import StrategyError, UsageError
from headstart.strategies.base import Model
from tests.conftest import make_image_folder, make_text_csv

runner = CliRunner()


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


@pytest.mark.parametrize("kind", ["image", "text"])
def test_export_parity_tiny_backbones(kind: str, image_bundle: Path, text_bundle: Path, tmp_path: Path) -> None:
    bundle = image_bundle if kind == "image" else text_bundle
    result = api.export(bundle, out=tmp_path / "model.onnx")
    assert result.onnx == (tmp_path / "model.onnx").resolve() and result.onnx.is_file()
    assert result.max_abs_diff <= 1e-3 and result.n_checked >= 3
    model = onnx.load(str(result.onnx))
    assert len(model.graph.output) == 1  # one file, one output: probabilities
    assert not list(tmp_path.glob("*.data"))  # no external weights file
    sidecar = json.loads(result.sidecar.read_text())
    predictor = headstart.load(bundle)
    assert sidecar["labels"] == predictor.labels
    assert [i["name"] for i in sidecar["inputs"]] == predictor.backbone.input_names
    config = predictor.backbone.preprocess_config()
    assert {k: sidecar["preprocessing"][k] for k in config} == config  # plus what decoding does, for images:
    assert ("decode" in sidecar["preprocessing"]) == (kind == "image")
    assert sidecar["backbone"]["name"] == predictor.backbone.name
    assert sidecar["output"]["shape"] == ["batch", len(predictor.labels)]
    assert sidecar["parity"]["max_abs_diff"] == result.max_abs_diff


@pytest.mark.parametrize("spec", ["partial:1", "full"])
@pytest.mark.parametrize("kind", ["image", "text"])
def test_export_fine_tuned_bundles(spec: str, kind: str, tmp_path: Path) -> None:
    """Frozen prefix and trained stages go into the one ONNX file, and it agrees with the bundle."""

    data = make_image_folder(tmp_path / "images") if kind == "image" else make_text_csv(tmp_path / "texts.csv")
    backbone = "test-cnn" if kind == "image" else "test-text"
    bundle = headstart.fit(
        str(data), backbone=backbone, strategy=spec, max_epochs=2, out=str(tmp_path / "m"), progress=False
    ).bundle
    result = api.export(bundle, out=tmp_path / "model.onnx")
    assert result.max_abs_diff <= 1e-3 and result.n_checked >= 3
    predictor = headstart.load(bundle)
    items = ["the team won", "fresh bread"] if kind == "text" else sorted(map(str, (data / "red").iterdir()))[:2]
    expected = predictor.predict_proba(items)
    decoded = items if kind == "text" else [read_image(path) for path in items]
    np.testing.assert_allclose(run_onnx(result.onnx, predictor.backbone.preprocess(decoded)), expected, atol=1e-4)


def test_exported_image_model_matches_predictor_on_training_like_images(image_bundle: Path, tmp_path: Path) -> None:
    out = api.export(image_bundle, out=tmp_path / "m.onnx").onnx
    folder = make_image_folder(tmp_path / "imgs", per_class=2, seed=5)
    paths = sorted(str(p) for p in folder.rglob("*.png"))
    predictor = headstart.load(image_bundle)
    inputs = predictor.backbone.preprocess([read_image(p) for p in paths])
    got = run_onnx(out, inputs)
    assert got.shape == (6, 3)
    assert np.abs(got - predictor.predict_proba(paths)).max() < 1e-4
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_exported_text_model_takes_any_batch_and_length(text_bundle: Path, tmp_path: Path) -> None:
    out = api.export(text_bundle, out=tmp_path / "t.onnx").onnx
    predictor = headstart.load(text_bundle)
    texts = ["goal", "the chef served grilled fish with rice and a sweet cake", "the team", "x y z", "a b"]
    got = run_onnx(out, predictor.backbone.preprocess(texts))
    assert np.abs(got - predictor.predict_proba(texts)).max() < 1e-4


def test_default_out_is_inside_the_bundle(image_bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(image_bundle, copy)
    result = api.export(copy)
    assert result.onnx == (copy / "model.onnx").resolve() and (copy / "model.json").is_file()
    headstart.load(copy)  # the bundle still loads with the extra files


def test_cli_export_json(text_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    result = runner.invoke(app, ["export", str(text_bundle), "--format", "onnx", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["onnx"] == str(out.resolve()) and doc["max_abs_diff"] <= 1e-3
    human = runner.invoke(app, ["export", str(text_bundle), "--out", str(tmp_path / "h.onnx")])
    assert human.exit_code == 0 and "max abs diff" in human.stdout


def test_cli_export_errors(image_bundle: Path, tmp_path: Path) -> None:
    bad_format = runner.invoke(app, ["export", str(image_bundle), "--format", "tflite", "--out", str(tmp_path / "x")])
    assert bad_format.exit_code == UsageError.exit_code
    missing = runner.invoke(app, ["export", str(tmp_path / "nope"), "--json"])
    assert missing.exit_code == 5 and json.loads(missing.stdout)["error"] == "BundleError"


def test_export_never_overwrites_a_file_that_is_not_an_export(image_bundle: Path, tmp_path: Path) -> None:
    """`--out data.csv` is refused (not an .onnx name); an existing non-export file or sidecar is kept unless
    --force; a folder gets model.onnx; an earlier export is replaced without --force."""
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhello,a\n")
    with pytest.raises(UsageError, match="does not name an ONNX file"):
        api.export(image_bundle, out=data)
    assert data.read_text() == "text,label\nhello,a\n"

    stranger, its_json = tmp_path / "notes.onnx", tmp_path / "notes.json"
    stranger.write_bytes(b"not ours")
    with pytest.raises(UsageError, match="not a headstart export"):
        api.export(image_bundle, out=stranger)
    assert stranger.read_bytes() == b"not ours"
    stranger.unlink()
    its_json.write_text('{"mine": true}')  # a user's JSON where the sidecar would go
    refused = runner.invoke(app, ["export", str(image_bundle), "--out", str(stranger), "--json"])
    assert refused.exit_code == UsageError.exit_code and "--force" in json.loads(refused.stdout)["fix"]
    assert its_json.read_text() == '{"mine": true}' and not stranger.exists()
    forced = runner.invoke(app, ["export", str(image_bundle), "--out", str(stranger), "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(its_json.read_text())["format"] == "headstart-onnx"

    folder = tmp_path / "exports"
    folder.mkdir()
    first = api.export(image_bundle, out=folder)
    assert first.onnx == (folder / "model.onnx").resolve()
    again = api.export(image_bundle, out=folder / "model.onnx")  # an earlier export: replaced, no --force needed
    assert again.onnx == first.onnx and again.onnx.is_file()


def test_default_export_module_is_unsupported() -> None:
    class Bare(Model):
        labels = ["a", "b"]
        backbone = None

        def predict_dataset(self, dataset: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

        def sections(self) -> dict[str, Any]:
            return {"strategy": {"name": "someday"}, "head": {}}

        def tensors(self) -> dict[str, np.ndarray]:
            return {}

    with pytest.raises(StrategyError, match="export is not supported for strategy 'someday' yet"):
        Bare().export_module()


def test_parity_failure_is_refused(image_bundle: Path, tmp_path: Path) -> None:
    exported = api.export(image_bundle, out=tmp_path / "img.onnx").onnx
    predictor = headstart.load(image_bundle)
    model = onnx.load(str(exported))
    coef = next(i for i in model.graph.initializer if tuple(i.dims) == (16, 3))  # the head weights (transposed)
    array = onnx.numpy_helper.to_array(coef)[:, ::-1].copy()  # classes swapped: a wrong model
    coef.CopyFrom(onnx.numpy_helper.from_array(array, coef.name))
    onnx.save(model, str(tmp_path / "broken.onnx"))
    with pytest.raises(ExportParityError, match="disagrees"):
        check_parity(predictor, tmp_path / "broken.onnx")


@pytest.mark.slow
def test_export_parity_efficientnet_lite0(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "images", per_class=6)
    headstart.fit(str(folder), backbone="efficientnet-lite0", out=str(tmp_path / "model"), progress=False)
    result = api.export(tmp_path / "model", out=tmp_path / "effnet.onnx")
    assert result.max_abs_diff <= 1e-3
    assert result.size_bytes > 10_000_000  # the whole backbone is inside the one file


def test_text_export_ships_its_tokenizer_and_runs_without_headstart(tmp_path: Path) -> None:
    """A MiniLM export: the tokenizer files beside the ONNX are enough to reproduce the bundle's probabilities."""
    from transformers import AutoTokenizer

    data = make_text_csv(tmp_path / "texts.csv")
    headstart.fit(str(data), backbone="minilm-l6", out=str(tmp_path / "model"), progress=False, track=False)
    result = api.export(tmp_path / "model", out=tmp_path / "minilm.onnx")
    sidecar = json.loads(result.sidecar.read_text())
    folder = tmp_path / sidecar["preprocessing"]["tokenizer_dir"]
    assert folder == tmp_path / "minilm.tokenizer" and folder.is_dir()
    texts = ["the soup was cold", "a fast train to the city"]
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoded = tokenizer(
        texts, padding=True, truncation=True, max_length=sidecar["preprocessing"]["max_seq_length"], return_tensors="np"
    )
    inputs = {i["name"]: encoded[i["name"]].astype(i["dtype"]) for i in sidecar["inputs"]}
    np.testing.assert_allclose(run_onnx(result.onnx, inputs), headstart.load(tmp_path / "model").predict_proba(texts),
                               atol=1e-4)  # fmt: skip
