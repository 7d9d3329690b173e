"""FeatureStore: content-addressed reuse, chunked writes, bad items, memory-only mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headstart import features as features_module
from headstart.backbones import get_backbone
from headstart.data import load_dataset
from headstart.errors import BadItemError
from headstart.features import FeatureStore, extract_features


@pytest.fixture
def cnn():
    return get_backbone("test-cnn")


def test_second_extraction_reads_the_cache(cnn, image_folder: Path, tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "store")
    ds = load_dataset(str(image_folder))
    first = extract_features(cnn, ds, store=store, progress=False)
    assert first.n_computed == len(ds) and first.n_cached == 0
    second = extract_features(cnn, ds, store=store, progress=False)
    assert second.n_computed == 0 and second.n_cached == len(ds)
    np.testing.assert_array_equal(first.features, second.features)
    reference = cnn.embed_torch([features_module.decode_item(ds, i) for i in range(3)])
    np.testing.assert_allclose(first.features[:3], reference, atol=1e-4)


def test_rows_are_written_in_chunks(cnn, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features_module, "CHUNK_ROWS", 8)
    store = FeatureStore(tmp_path / "store")
    ds = load_dataset(str(image_folder))
    out = extract_features(cnn, ds, store=store, batch_size=4, progress=False)
    chunks = list(store.root.glob("*/chunk-*.npy"))
    assert len(chunks) == 36 // 8 + 1
    subset = ds.subset([5, 0, 30])
    again = extract_features(cnn, subset, store=store, progress=False)
    np.testing.assert_array_equal(again.features, out.features[[5, 0, 30]])


def test_duplicate_items_are_computed_once(cnn, image_folder: Path, tmp_path: Path) -> None:
    ds = load_dataset(str(image_folder))
    doubled = ds.subset([0, 1, 0, 1])
    out = extract_features(cnn, doubled, store=FeatureStore(tmp_path / "s"), progress=False)
    assert out.n_computed == 2
    assert len(out.kept) == 4
    np.testing.assert_array_equal(out.features[0], out.features[2])


def test_undecodable_image_is_skipped_or_fails(cnn, image_folder: Path, tmp_path: Path) -> None:
    victim = image_folder / "red" / "000.png"
    victim.write_bytes(victim.read_bytes()[:200])
    ds = load_dataset(str(image_folder), on_bad="skip")
    if "red/000.png" not in ds.ids:
        pytest.skip("the loader already rejected the truncated file at header check")
    out = extract_features(cnn, ds, store=FeatureStore(tmp_path / "s"), progress=False)
    assert [s.id for s in out.skipped] == ["red/000.png"]
    assert len(out.kept) == len(ds) - 1
    with pytest.raises(BadItemError, match="000.png"):
        extract_features(cnn, ds, store=FeatureStore(tmp_path / "s2"), on_bad="fail", progress=False)


def test_memory_only_mode_writes_nothing(
    cnn, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(str(image_folder)).subset([0, 1])
    out = extract_features(cnn, ds, store=False, progress=False)
    assert out.features.shape == (2, cnn.feature_dim)
    assert not (tmp_path / "cache" / "features").exists()
