"""FeatureStore: content-addressed reuse, chunked writes, bad items, memory-only mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headstart import batches, feature_store
from headstart.backbones import get_backbone
from headstart.data import load_dataset
from headstart.errors import BadItemError
from headstart.feature_store import FeatureStore
from headstart.features import extract_features


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
    reference = cnn.embed_torch([batches.decode_item(ds, i) for i in range(3)])
    np.testing.assert_allclose(first.features[:3], reference, atol=1e-4)


def test_rows_are_written_in_chunks(cnn, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_store, "CHUNK_ROWS", 8)
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


def test_features_at_cuts_equal_per_cut_extraction_and_share_the_store(image_folder, tmp_path) -> None:
    from headstart.features import extract_features_at_cuts

    ds = load_dataset(str(image_folder))
    b = get_backbone("test-cnn")
    shared, separate = FeatureStore(tmp_path / "shared"), FeatureStore(tmp_path / "separate")
    multi = extract_features_at_cuts(b, ds, [3, 1, 2], store=shared, progress=False)
    assert list(multi) == [1, 2, 3]
    for cut, x in multi.items():
        assert x.n_computed == len(ds) and x.n_cached == 0
        one = extract_features(b, ds, store=separate, progress=False, stop=cut)
        np.testing.assert_array_equal(x.kept, one.kept)
        np.testing.assert_allclose(x.features, one.features, atol=1e-5)
        again = extract_features(b, ds, store=shared, progress=False, stop=cut)  # same content keys: cached
        assert again.n_computed == 0 and again.n_cached == len(ds)
    # a cut already in the store is not computed again; only the new one is
    extra = extract_features_at_cuts(b, ds, [1, 2], store=separate, progress=False)
    assert extra[1].n_computed == 0 and extra[2].n_computed == 0
    first_half = ds.subset(list(range(len(ds) // 2)))
    extract_features_at_cuts(b, first_half, [2, 3], store=FeatureStore(tmp_path / "h"), progress=False)
    mixed = extract_features_at_cuts(b, ds, [2, 3], store=FeatureStore(tmp_path / "h"), progress=False)
    assert mixed[2].n_computed == len(ds) - len(ds) // 2
    np.testing.assert_allclose(mixed[3].features, multi[3].features, atol=1e-5)
    memory = extract_features_at_cuts(b, ds, [1, 3], store=False, progress=False)
    np.testing.assert_allclose(memory[1].features, multi[1].features, atol=1e-5)
