"""FrozenRunner speed paths: length-bucketed text batches and the opt-in int8 precision, against torch."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.backbones import get_backbone
from headstart.errors import BackboneError
from headstart.runtime import BUCKET_ROWS, INT8_PARITY_ATOL, FrozenRunner, length_buckets

# lengths from 1 to many words, so a batch padded to its longest text is mostly padding
TEXTS = [
    " ".join(["word"] * n) + f" {i}" for i, n in enumerate([1, 30, 2, 12, 5, 40, 3, 7, 22, 1, 9, 16, 4, 33, 6, 2, 11])
]


def test_length_buckets_sort_rows_and_cut_padding() -> None:
    lengths = np.array([5, 1, 9, 3, 2, 8, 7, 4, 6, 9])
    mask = (np.arange(12)[None, :] < lengths[:, None]).astype(np.int64)
    groups = length_buckets(mask, rows=4)
    assert groups is not None
    rows = np.concatenate([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(10))  # every row exactly once
    assert [len(r) for r, _ in groups] == [4, 4, 2]
    for r, cut in groups:
        assert cut == lengths[r].max()
    assert [cut for _, cut in groups] == [4, 8, 9]


def test_length_buckets_decline_when_nothing_is_saved_or_padding_is_on_the_left() -> None:
    assert length_buckets(np.ones((3, 5), np.int64), rows=8) is None  # one group, no padding to cut
    left = np.array([[0, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]])
    assert length_buckets(left, rows=1) is None  # cutting columns would drop real tokens
    assert length_buckets(np.zeros((0, 4), np.int64)) is None


def test_bucketed_runs_match_one_padded_batch_and_torch() -> None:
    b = get_backbone("test-text")
    x = b.preprocess(TEXTS)
    assert len(TEXTS) > BUCKET_ROWS and length_buckets(x["attention_mask"]) is not None
    runner = FrozenRunner(b)
    got = runner(x)
    whole = runner._session.run(None, x)[0]  # the same graph on the whole padded batch
    np.testing.assert_allclose(got, whole, atol=1e-5)
    np.testing.assert_allclose(got, FrozenRunner(b, engine="torch")(x), atol=1e-4)


def test_unpooled_activations_keep_the_batch_padding() -> None:
    b = get_backbone("test-text")
    x = b.preprocess(TEXTS)
    cut = FrozenRunner(b, stop=2, pooled=False)(x)
    assert cut.shape[:2] == x["input_ids"].shape  # no bucketing: the caller's padding is kept


def test_int8_precision_is_close_to_torch_and_cached() -> None:
    b = get_backbone("test-text")
    x = b.preprocess(TEXTS)
    runner = FrozenRunner(b, precision="int8")
    assert runner.precision == "int8" and runner.onnx_path is not None and runner.onnx_path.name.endswith("-int8.onnx")
    got, want = runner(x), FrozenRunner(b, engine="torch")(x)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.max(np.abs(got - want)) <= INT8_PARITY_ATOL * max(1.0, float(np.max(np.abs(want))))
    assert FrozenRunner(b, precision="int8").onnx_path == runner.onnx_path  # quantized once, then reused


def test_precision_arguments_are_checked() -> None:
    b = get_backbone("test-text")
    with pytest.raises(BackboneError, match="precision"):
        FrozenRunner(b, precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(BackboneError, match="ONNX Runtime"):
        FrozenRunner(b, engine="torch", precision="int8")
