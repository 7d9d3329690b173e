"""Registry, stages and determinism of the backbones, using the tiny test backbones (plus cheap lookups)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.backbones import (
    Backbone,
    backbone_info,
    check_modality,
    get_backbone,
    list_backbones,
    register_backbone,
)
from headstart.backbones.testing import TEST_CNN_INFO, TestCNN, TestText
from headstart.errors import BackboneError, ModalityMismatchError

TEXTS = ["The team won the match!", "", "a much longer sentence with many more words than the others", "ok"]


def images(n: int = 4) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(40, 30), (32, 32), (64, 20), (25, 50)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes[:n]]


def test_list_backbones_hides_test_ones_by_default() -> None:
    names = [i.name for i in list_backbones()]
    assert {"efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "minilm-l6"} <= set(names)
    assert "test-cnn" not in names
    with_test = {i.name for i in list_backbones(include_test=True)}
    assert {"test-cnn", "test-text"} <= with_test


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(BackboneError) as err:
        get_backbone("efficientnet-lte0")
    msg = str(err.value)
    assert "did you mean 'efficientnet-lite0'?" in msg
    assert "minilm-l6" in msg  # lists the names


def test_unknown_name_without_close_match_lists_names() -> None:
    with pytest.raises(BackboneError, match="unknown backbone 'zzz'") as err:
        get_backbone("zzz")
    assert "did you mean" not in str(err.value) and "efficientnet-lite0" in err.value.expected
    assert "test-cnn" not in err.value.expected  # the test backbones work, but are not offered to users
    with pytest.raises(BackboneError, match="did you mean 'test-cnn'"):
        get_backbone("test-cn")


def test_instances_are_cached_per_name() -> None:
    assert get_backbone("test-cnn") is get_backbone("test-cnn")
    assert get_backbone("test-text") is not get_backbone("test-cnn")


def test_register_custom_backbone() -> None:
    info = TEST_CNN_INFO.__class__(**{**TEST_CNN_INFO.to_dict(), "name": "my-cnn"})
    register_backbone("my-cnn", TestCNN, info, test=True)
    assert isinstance(get_backbone("my-cnn"), Backbone)
    assert "my-cnn" in {i.name for i in list_backbones(include_test=True)}


def test_size_suffix_is_parsed_and_validated() -> None:
    assert backbone_info("efficientnet-lite0@128").input_size == 128
    with pytest.raises(BackboneError, match="bad image size"):
        get_backbone("efficientnet-lite0@big")


def test_check_modality() -> None:
    check_modality(get_backbone("test-cnn"), "image")
    check_modality("minilm-l6", "text")  # by name: static info, no weights loaded
    with pytest.raises(ModalityMismatchError, match="reads image but the data is text"):
        check_modality(get_backbone("test-cnn"), "text")
    with pytest.raises(ModalityMismatchError):
        check_modality("efficientnet-lite0", "text")


@pytest.mark.parametrize("name", ["test-cnn", "test-text"])
def test_protocol_surface(name: str) -> None:
    b = get_backbone(name)
    info = b.info()
    assert info.name == name and info.feature_dim == b.feature_dim == 16
    assert info.params == sum(p.numel() for p in b.module().parameters())
    assert info.params == backbone_info(name).params  # static registry info matches the instance
    cfg = b.preprocess_config()
    assert cfg["kind"] == b.modality
    assert b.module().training is False


def test_test_cnn_preprocess_and_source_head() -> None:
    b = get_backbone("test-cnn")
    x = b.preprocess(images())
    assert list(x) == b.input_names == ["image"]
    assert x["image"].shape == (4, 3, 32, 32) and x["image"].dtype == np.float32
    head = b.source_head
    assert head is not None and head.weight.shape == (10, 16) and len(head.class_names) == 10


def test_test_text_preprocess() -> None:
    b = get_backbone("test-text")
    x = b.preprocess(TEXTS)
    assert list(x) == ["input_ids", "attention_mask"]
    assert x["input_ids"].dtype == np.int64 and x["input_ids"].shape == x["attention_mask"].shape
    assert x["input_ids"].shape[1] == max(int(m.sum()) for m in x["attention_mask"])  # padded to longest
    assert x["attention_mask"][1].sum() == 1  # empty text -> one [UNK]
    assert b.preprocess(["Hello"])["input_ids"][0, 0] == b.preprocess(["hello"])["input_ids"][0, 0]


@pytest.mark.parametrize("name,items", [("test-cnn", images()), ("test-text", TEXTS)])
def test_stages_compose(name: str, items: list) -> None:
    """Running stages in two halves equals running them all at once, for every cut."""
    b = get_backbone(name)
    inputs = {k: torch.from_numpy(v) for k, v in b.preprocess(items).items()}
    with torch.inference_mode():
        whole = b.pool(b.forward(dict(inputs)))
        assert whole.shape == (len(items), b.feature_dim)
        for cut in range(len(b.stages) + 1):
            half = b.forward(b.forward(dict(inputs), 0, cut), cut)
            torch.testing.assert_close(b.pool(half), whole)


def test_padding_does_not_change_text_features() -> None:
    b = get_backbone("test-text")
    alone = b.embed_torch(["ok"])
    batched = b.embed_torch(["ok", "a much longer sentence that forces padding on the first"])
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_bad_stage_range() -> None:
    b = get_backbone("test-cnn")
    with pytest.raises(ValueError, match="stage range"):
        b.forward({}, 2, 1)


@pytest.mark.parametrize("cls", [TestCNN, TestText])
def test_weights_sha_is_deterministic(cls: type) -> None:
    rng_before = torch.random.get_rng_state()
    a, b = cls(), cls()
    assert torch.equal(rng_before, torch.random.get_rng_state())  # global RNG untouched
    assert a.weights_sha256 == b.weights_sha256 == get_backbone(a.name).weights_sha256
    assert len(a.weights_sha256) == 64
    with torch.inference_mode():
        outs = [m.pool(m.forward({k: torch.from_numpy(v) for k, v in m.example_inputs().items()})) for m in (a, b)]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_cache_dir_honours_env(tmp_path, monkeypatch) -> None:
    from headstart.cache import cache_dir

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "c"))
    d = cache_dir("onnx", "x")
    assert d == tmp_path / "c" / "onnx" / "x" and d.is_dir()


def test_file_sha_is_memoised(tmp_path, monkeypatch) -> None:
    import hashlib

    from headstart.backbones import hashing

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "c"))
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights" * 1000)
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert hashing.file_sha256(f) == want
    calls = []
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or None)
    assert hashing.file_sha256(f) == want and not calls  # read from the memo


def test_texts_longer_than_the_backbone_reads_are_counted_in_a_fit_note(tmp_path) -> None:
    import csv

    import headstart

    backbone = get_backbone("test-text")
    short, long = "the team won", " ".join(["word"] * (backbone.max_tokens + 5))
    assert backbone.token_counts([short, long]) == [3, backbone.max_tokens + 5]
    assert backbone.truncation_note([short, short]) is None
    path = tmp_path / "texts.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for n in range(12):
            writer.writerow([f"{long} {n}" if n < 3 else f"short text number {n}", "a" if n % 2 else "b"])
    result = headstart.fit(str(path), backbone="test-text", out=str(tmp_path / "m"), track=False, progress=False)
    assert any(n.startswith("3 of 12 text(s) are longer than test-text reads (32 tokens)") for n in result.notes)
