"""`hf:<folder>` image backbones on tiny random models of each family (saved with save_pretrained; no downloads)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import headstart
from headstart import api
from headstart.backbones import check_modality, get_backbone
from headstart.backbones.hf_image import TransformerImage
from headstart.errors import BackboneError
from headstart.runtime import FrozenRunner, MultiCutRunner
from headstart.server import create_app
from tests.backbones.tiny_hf import LABELS, save_tiny
from tests.conftest import make_image_folder

FAMILIES = [
    "vit", "deit", "beit", "dinov2", "convnext", "convnextv2", "swin", "resnet", "efficientnet", "mobilevit", "clip",
    "siglip",
]  # fmt: skip
STAGES = {
    "vit": ["embeddings", "layer0", "layer1", "layer2", "norm"],
    "deit": ["embeddings", "layer0", "layer1", "norm"],
    "beit": ["embeddings", "layer0", "layer1", "norm"],
    "efficientnet": ["embeddings", "block0", "block1", "block2", "block3", "top"],
    "dinov2": ["embeddings", "layer0", "layer1", "layer2", "norm"],
    "convnext": ["embeddings", "stage0", "stage1", "stage2", "stage3", "norm"],
    "swin": ["embeddings", "stage0", "stage1", "stage2", "norm"],
    "resnet": ["embeddings", "stage0", "stage1", "stage2", "stage3"],
    "clip": ["embeddings", "layer0", "layer1", "head"],
    "convnextv2": ["embeddings", "stage0", "stage1", "stage2", "stage3", "norm"],
    "siglip": ["embeddings", "layer0", "layer1", "head"],
    "mobilevit": ["embeddings", "stage0", "stage1", "stage2", "stage3", "stage4", "head"],
}
POOL = {
    "vit": "cls",
    "deit": "cls",
    "beit": "mean",  # the pooler's norm over the mean of the patches, as the checkpoint's classifier reads it
    "efficientnet": "mean",
    "dinov2": "cls",
    "convnext": "mean",
    "swin": "mean",
    "resnet": "mean",
    "clip": "cls",
    "convnextv2": "mean",
    "siglip": "cls",
    "mobilevit": "mean",
}
# saved as *ForImageClassification
WITH_HEAD = {"vit", "deit", "beit", "convnext", "swin", "resnet", "efficientnet", "mobilevit"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-image")
    return {family: save_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in [(50, 70), (64, 48), (32, 32)]]


@pytest.mark.parametrize("family", FAMILIES)
def test_stages_pooling_and_preprocessing_follow_the_model(
    family: str, folders: dict[str, Path], pictures: list[Image.Image]
) -> None:
    from transformers import AutoImageProcessor

    b = get_backbone(f"hf:{folders[family]}")
    assert isinstance(b, TransformerImage) and b is get_backbone(f"hf:{folders[family]}")
    assert b.modality == "image" and b.stages == STAGES[family] and b.pooling == POOL[family]
    check_modality(b, "image")
    with pytest.raises(headstart.errors.ModalityMismatchError):
        check_modality(b, "text")
    # the processor's own output, replayed without it
    want = np.asarray(
        AutoImageProcessor.from_pretrained(folders[family])(pictures, return_tensors="np")["pixel_values"]
    )
    got = b.preprocess(pictures)["image"]
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    assert b.preprocess_config()["pool"] == POOL[family] and b.preprocess_config()["resize_to"]
    assert b.embed_torch(pictures).shape == (3, b.feature_dim)
    assert len(b.weights_sha256) == 64 and (b.text_encoder is not None) == (family in ("clip", "siglip"))


@pytest.mark.parametrize("family", sorted(WITH_HEAD))
def test_the_classifier_head_is_kept_with_its_label_names(
    family: str, folders: dict[str, Path], pictures: list[Image.Image]
) -> None:
    """W @ pooled + b is the checkpoint's own logits, so NCE/LEEP and ImageNet-style zero-shot read the real head."""
    from transformers import AutoModelForImageClassification

    b = get_backbone(f"hf:{folders[family]}")
    head = b.source_head
    assert head is not None and head.class_names == list(LABELS.values())
    x = b.preprocess(pictures)["image"]
    with torch.inference_mode():
        want = AutoModelForImageClassification.from_pretrained(folders[family])(pixel_values=torch.from_numpy(x)).logits
    got = b.embed_torch(pictures) @ head.weight.T + head.bias
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4)


def test_a_model_without_a_classifier_has_no_source_head(folders: dict[str, Path]) -> None:
    assert get_backbone(f"hf:{folders['dinov2']}").source_head is None


@pytest.mark.parametrize("family", ["vit", "beit", "dinov2", "convnext", "swin", "efficientnet", "clip"])
def test_onnx_runtime_matches_torch_at_the_end_and_at_a_cut(
    family: str, folders: dict[str, Path], pictures: list[Image.Image]
) -> None:
    b = get_backbone(f"hf:{folders[family]}")
    x = b.preprocess(pictures)
    end = FrozenRunner(b, engine="onnxruntime")
    assert float(np.abs(end.run_torch(x)).max()) > 1e-2  # live features: zeros would match trivially
    diff = float(np.abs(end(x) - end.run_torch(x)).max())
    print(f"{family}: ORT vs torch max |diff| pooled {diff:.2e}")
    assert diff < 1e-4
    cut = FrozenRunner(b, stop=2, pooled=False, engine="onnxruntime")
    assert cut(x).shape == cut.run_torch(x).shape and float(np.abs(cut(x) - cut.run_torch(x)).max()) < 1e-4
    multi = MultiCutRunner(b, stops=[1, len(b.stages)])
    assert np.abs(multi.split(multi(x))[-1] - end(x)).max() < 1e-4


def test_pooling_is_overridable_in_the_name(folders: dict[str, Path], pictures: list[Image.Image]) -> None:
    cls = get_backbone(f"hf:{folders['vit']}")
    mean = get_backbone(f"hf:{folders['vit']}#pool=mean")
    assert mean.pooling == "mean" and mean.name.endswith("#pool=mean")
    assert mean.preprocess_config() != cls.preprocess_config()  # a different feature space in the cache
    assert not np.allclose(mean.embed_torch(pictures), cls.embed_torch(pictures))
    both = get_backbone(f"hf:{folders['vit']}#pool=cls+mean")
    assert both.feature_dim == 2 * cls.feature_dim and both.source_head is None  # the head reads CLS only
    with pytest.raises(BackboneError, match="unknown pooling"):
        get_backbone(f"hf:{folders['vit']}#pool=max")
    with pytest.raises(BackboneError, match="unknown option"):
        get_backbone(f"hf:{folders['vit']}#size=64")


@pytest.fixture(scope="module")
def flowers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("hf-data") / "images", per_class=8, size=36)


def _fit_linear_and_partial(
    name: str, family: str, flowers: Path, tmp_path: Path, *, trainable: int, epochs: int
) -> tuple[api.FitResult, api.FitResult]:
    """A linear and a partial:`trainable` fit of `name`; checks the recorded pooling and which stages trained."""
    linear = headstart.fit(str(flowers), backbone=name, strategy="linear", out=str(tmp_path / "lin"), progress=False)
    manifest = json.loads((Path(linear.bundle) / "manifest.json").read_text())
    assert manifest["backbone"]["name"] == name and manifest["backbone"]["preprocess"]["pool"] == POOL[family]
    partial = headstart.fit(
        str(flowers),
        backbone=name,
        strategy=f"partial:{trainable}",
        max_epochs=epochs,
        out=str(tmp_path / "partial"),
        progress=False,
    )
    strategy = json.loads((Path(partial.bundle) / "manifest.json").read_text())["strategy"]
    assert strategy["trainable_stages"] == STAGES[family][-trainable:]
    assert strategy["frozen_stages"] == STAGES[family][:-trainable]
    return linear, partial


# stages trained by the partial fit: BEiT's last two are a layer with its relative position bias, then the norm
TRAINABLE = {"beit": 2, "efficientnet": 2}


@pytest.mark.parametrize("family", ["vit", "dinov2", "convnext", "swin", "beit", "efficientnet", "clip"])
def test_fit_partial_rank_export_and_serve(
    family: str, folders: dict[str, Path], flowers: Path, tmp_path: Path
) -> None:
    name = f"hf:{folders[family]}"
    trainable = TRAINABLE.get(family, 1)
    linear, partial = _fit_linear_and_partial(name, family, flowers, tmp_path, trainable=trainable, epochs=2)

    ranked = api.rank(str(flowers), backbones=[name], cuts="all", progress=False)
    assert {row.stage for row in ranked.rows} == set(STAGES[family])

    exported = api.export(partial.bundle, out=tmp_path / "model.onnx")
    assert exported.max_abs_diff <= 1e-3
    picture = sorted((flowers / "red").iterdir())[0]
    for bundle in (linear.bundle, partial.bundle):  # each bundle rebuilds its backbone by name, offline
        predictor = headstart.load(bundle)
        assert predictor.backbone.name == name and predictor.predict([str(picture)])[0] in {"red", "green", "blue"}
    if family == "vit":  # a pooling override is part of the name: the bundle rebuilds it, offline
        mean = headstart.fit(
            str(flowers), backbone=f"{name}#pool=mean", out=str(tmp_path / "mean"), progress=False
        ).bundle
        assert headstart.load(mean).backbone.pooling == "mean"
    with TestClient(create_app(partial.bundle)) as client:
        answer = client.post("/v1/predict", files=[("files", (picture.name, picture.read_bytes(), "image/png"))])
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] in {"red", "green", "blue"}


def test_int8_runs_an_hf_image_bundle_close_to_fp32(folders: dict[str, Path], flowers: Path, tmp_path: Path) -> None:
    """--precision int8 (dynamic quantization, parity-checked) on an hf: ViT: served quantized, close to fp32."""
    bundle = headstart.fit(str(flowers), backbone=f"hf:{folders['vit']}", out=str(tmp_path / "m"), progress=False)
    pictures = [str(p) for colour in ("red", "green", "blue") for p in sorted((flowers / colour).iterdir())[:2]]
    fp32 = headstart.load(bundle.bundle)
    want = fp32.predict_proba(pictures)
    int8 = headstart.load(bundle.bundle)
    int8.configure(precision="int8")
    got = int8.predict_proba(pictures)
    runner = int8.model.frozen_runner  # type: ignore[attr-defined]
    assert runner is not None and runner.running_precision == "int8" and runner.degraded is None
    assert runner.onnx_path.name.endswith("-int8.onnx")
    assert 0 < float(np.abs(got - want).max()) < 0.05  # quantized (not bit-identical), yet close
    with TestClient(create_app(bundle.bundle, precision="int8")) as client:
        picture = Path(pictures[0])
        answer = client.post("/v1/predict", files=[("files", (picture.name, picture.read_bytes(), "image/png"))])
        card = client.get("/v1/model").json()
    assert answer.status_code == 200 and answer.json()["model"].endswith("(int8)")
    assert card["limits"]["precision"] == "int8"


def test_an_uncached_hub_id_fails_at_once_when_downloads_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline discipline: no network call, a clear error (exit 4) naming the switch that allows downloading."""
    import huggingface_hub

    def no_network(*args: object, **kwargs: object) -> str:
        raise AssertionError("tried to download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.delenv("HEADSTART_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(BackboneError, match="not in the local cache") as err:
        get_backbone("hf:someone/not-a-cached-model")
    assert "HEADSTART_ALLOW_DOWNLOAD=1" in (err.value.fix or "") and err.value.exit_code == 4


@pytest.mark.parametrize("hub", ["closed port", "silent server"])
def test_an_unreachable_hub_fails_within_seconds_when_downloads_are_allowed(hub: str, tmp_path: Path) -> None:
    """HEADSTART_ALLOW_DOWNLOAD=1 without network: the clear error within seconds, not after the hub client's
    ~25 s of retries. The hub is a local port nobody listens on, or a server that accepts and never answers."""
    import socket
    import subprocess
    import sys
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if hub == "closed port":
        server.close()
    else:
        server.listen(8)
    env = {**os.environ, "HEADSTART_ALLOW_DOWNLOAD": "1", "HF_ENDPOINT": f"http://127.0.0.1:{port}",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_ETAG_TIMEOUT": "1", "HF_HUB_OFFLINE": "0"}  # fmt: skip
    code = (
        "from headstart.backbones import get_backbone\n"
        "from headstart.errors import BackboneError\n"
        "try:\n    get_backbone('hf:someone/not-a-cached-model')\n"
        "except BackboneError as err:\n    print(err.exit_code, err)\n"
    )
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4 cannot download hf:someone/not-a-cached-model"), done.stdout
    assert "pass hf:<local folder>" in done.stdout and "Retrying" not in done.stderr
    assert seconds < 12, f"{seconds:.1f} s"  # ~1 s measured (the process start included); the retries took ~25 s


def test_hub_ids_are_read_from_the_cache_only_unless_downloads_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from headstart.backbones.hf_source import HfSource

    hub, folder = HfSource("org/model", False, {}), HfSource("/models/vit", True, {})
    monkeypatch.delenv("HEADSTART_ALLOW_DOWNLOAD", raising=False)
    assert hub.load_kwargs() == folder.load_kwargs() == {"local_files_only": True}
    monkeypatch.setenv("HEADSTART_ALLOW_DOWNLOAD", "1")
    assert hub.load_kwargs() == {"local_files_only": False} and folder.load_kwargs() == {"local_files_only": True}


def test_the_kind_of_model_comes_from_its_config(folders: dict[str, Path]) -> None:
    from headstart.backbones.hf_source import resolve

    assert {f: resolve(str(folders[f])).kind for f in ("vit", "dinov2", "swin", "clip")} == {
        "vit": "image", "dinov2": "image", "swin": "image", "clip": "image-text",
    }  # fmt: skip
    assert resolve.__module__ == "headstart.backbones.hf_source"


def test_models_all_lists_the_hf_forms_and_the_cached_hub_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from headstart.backbones import hf_source
    from headstart.cli.main import app

    monkeypatch.setattr(hf_source, "cached_hub_models", lambda: [("acme/vit-small", "image")])
    listed = CliRunner().invoke(app, ["models", "--all", "--json"])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert {f["kind"] for f in body["hf_forms"]} == {"text", "image", "image-text"}
    assert body["hf_cached"] == [{"name": "hf:acme/vit-small", "kind": "image"}]
    assert "hf_forms" not in json.loads(CliRunner().invoke(app, ["models", "--json"]).stdout)
    table = CliRunner().invoke(app, ["models", "--all"])
    assert "hf:acme/vit-small" in table.stdout and "HEADSTART_ALLOW_DOWNLOAD=1" in table.stdout


def test_an_architecture_that_will_not_export_runs_eagerly_with_a_note(
    folders: dict[str, Path], pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    b = get_backbone(f"hf:{folders['resnet']}")
    monkeypatch.setattr("headstart.runtime.cache_dir", lambda *names: tmp_path)  # nothing exported earlier

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator aten::fancy_op")

    monkeypatch.setattr("headstart.runtime.export_onnx", refuse)
    with pytest.warns(UserWarning, match=r"failed \(RuntimeError: unsupported operator aten::fancy_op\).*eagerly"):
        runner = FrozenRunner(b, stop=2)
    assert runner.engine == "torch" and "fancy_op" in (runner.degraded or "")
    x = b.preprocess(pictures)
    np.testing.assert_allclose(runner(x), runner.run_torch(x))
    with pytest.raises(RuntimeError, match="fancy_op"):  # asked for ONNX Runtime explicitly: an error
        FrozenRunner(b, stop=2, engine="onnxruntime")
    with pytest.raises(RuntimeError, match="fancy_op"):  # the built-ins never degrade silently
        FrozenRunner(get_backbone("test-cnn"), stop=1, pooled=False)


def test_rank_reads_the_checkpoint_head_for_leep_and_expand_grows_a_bundle(
    folders: dict[str, Path], flowers: Path, tmp_path: Path
) -> None:
    """NCE/LEEP come from the kept classifier at the last cut; expand adds a class on an hf: bundle."""
    import shutil

    name = f"hf:{folders['vit']}"
    ranked = api.rank(str(flowers), backbones=[name], cuts="last", metric="leep", progress=False)
    assert np.isfinite(ranked.rows[0].scores["leep"]) and np.isfinite(ranked.rows[0].scores["nce"])
    two = tmp_path / "two"
    for colour in ("red", "green"):
        shutil.copytree(flowers / colour, two / colour)
    bundle = headstart.fit(str(two), backbone=name, strategy="linear", out=str(tmp_path / "m2"), progress=False).bundle
    shutil.copytree(flowers / "blue", tmp_path / "new" / "blue")
    grown = api.expand(bundle, str(tmp_path / "new"), out=str(tmp_path / "m3"))
    predictor = headstart.load(grown.bundle)
    assert predictor.labels == ["green", "red", "blue"] and predictor.backbone.name == name


def test_an_unsupported_vision_architecture_is_a_clear_backbone_error(tmp_path: Path) -> None:
    import transformers as T

    folder = tmp_path / "levit"
    T.LevitModel(T.LevitConfig(image_size=32, hidden_sizes=[16, 24, 32], num_attention_heads=[1, 2, 2],
                               depths=[1, 1, 1], key_dim=[8, 8, 8])).save_pretrained(folder)  # fmt: skip
    T.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    with pytest.raises(BackboneError, match="'levit' cannot be split into stages") as err:
        get_backbone(f"hf:{folder}")
    assert err.value.exit_code == 4 and "register your own backbone" in (err.value.fix or "")
