"""The typed manifest: migration of older formats, validation of edited or corrupt manifests, building."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from headstart.data.dataset import file_sha256
from headstart.errors import BundleError
from headstart.manifest import (
    FORMAT_VERSION,
    HEAD_WEIGHTS,
    MANIFEST,
    Manifest,
    build_manifest,
    head_shapes,
    migrate,
    parse_manifest,
    read_manifest,
)


def _bundle(folder: Path, *, labels: list[str] | None = None, outputs: int = 3, **changes: Any) -> Path:
    """A minimal format-1 bundle (as main wrote them before format 2) with a linear head of `outputs` rows."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {"coef": np.zeros((outputs, 4), np.float32), "intercept": np.zeros(outputs, np.float32)},
        str(folder / HEAD_WEIGHTS),
    )
    manifest: dict[str, Any] = {
        "format": "headstart-bundle",
        "format_version": 1,
        "modality": "text",
        "labels": labels if labels is not None else ["a", "b", "c"],
        "backbone": None,
        "strategy": {"name": "linear"},
        "head": {"type": "linear", "kind": "logreg", "C": 1.0},
        "files": {HEAD_WEIGHTS: file_sha256(folder / HEAD_WEIGHTS)},
    }
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_format_1_manifest_without_task_migrates_to_classification(tmp_path: Path) -> None:
    manifest = read_manifest(_bundle(tmp_path / "b"))
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.task == "classification" and manifest.kind.name == "classification"
    assert manifest.input_kind.name == "text"
    assert manifest.notes == [] and manifest.metrics == {} and manifest.data.counts == {}
    assert manifest.thresholds is None and manifest.trained == "linear"
    assert manifest.head.get("C") == 1.0  # a head's own entries are kept


def test_migration_fills_null_sections_once() -> None:
    migrated = migrate({"format_version": 1, "task": None, "head": None, "notes": None})
    assert migrated["task"] == "classification" and migrated["head"] == {} and migrated["notes"] == []


def test_multilabel_thresholds_come_in_label_order(tmp_path: Path) -> None:
    folder = _bundle(tmp_path / "b", task="multilabel", targets={"separator": ";", "thresholds": {"c": 0.3}})
    assert read_manifest(folder).thresholds.tolist() == [0.5, 0.5, 0.3]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "holds list, not a manifest"),
        ("text", "holds str"),
        ({"format": "other"}, "not a headstart manifest"),
        ({"format": "headstart-bundle", "format_version": "1"}, "format version '1'"),
        ({"format": "headstart-bundle", "format_version": 99}, "newer than this headstart"),
    ],
)
def test_manifests_that_are_not_objects_or_not_ours_are_bundle_errors(document: Any, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_manifest(document)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"files": ["head.safetensors"]}, "files"),
        ({"labels": "abc"}, "labels"),
        ({"labels": [1, 2, 3]}, "labels"),
        ({"strategy": None}, "strategy"),
        ({"modality": "video"}, "unknown modality 'video'"),
        ({"task": "ranking"}, "unknown task kind 'ranking'"),
        ({"files": {"/etc/hostname": "0" * 64}}, "not a file name inside the bundle"),
        ({"files": {"../../../../etc/passwd": "0" * 64}}, "not a file name inside the bundle"),
        ({"files": {}}, f"does not list {HEAD_WEIGHTS}"),
    ],
)
def test_edited_manifests_are_refused_before_anything_is_read(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    folder = _bundle(tmp_path / "b")
    raw = json.loads((folder / MANIFEST).read_text())
    if changes.get("strategy", 0) is None:
        del raw["strategy"]
        changes = {}
    raw.update(changes)
    (folder / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=message):
        read_manifest(folder)


def test_a_file_linked_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    folder = _bundle(tmp_path / "b")
    (folder / "extra").symlink_to(outside)
    raw = json.loads((folder / MANIFEST).read_text())
    raw["files"]["extra"] = file_sha256(outside)
    (folder / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="points outside the bundle folder"):
        read_manifest(folder)


def test_label_count_must_match_the_heads_outputs(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="lists 4 label\\(s\\) but the head has 3 output"):
        read_manifest(_bundle(tmp_path / "b", labels=["a", "b", "c", "d"]))
    assert read_manifest(_bundle(tmp_path / "binary", labels=["a", "b"], outputs=1)).labels == ["a", "b"]


def _rewrite_head(folder: Path, write: Any) -> None:
    head = folder / HEAD_WEIGHTS
    head.unlink()
    write(head)
    raw = json.loads((folder / MANIFEST).read_text())
    if head.is_file():
        raw["files"][HEAD_WEIGHTS] = file_sha256(head)
    (folder / MANIFEST).write_text(json.dumps(raw))


class _Boom:
    def __reduce__(self) -> Any:  # would run if anything unpickled the file
        return (Path("/nonexistent-should-never-run").mkdir, ())


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(pickle.dumps(_Boom())), "is not a safetensors file"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 100), "is not a safetensors file"),  # a torch zip
        (lambda p: p.write_bytes(b""), "is not a safetensors file"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_head_weights_that_are_not_safetensors_are_refused_unread(tmp_path: Path, write: Any, message: str) -> None:
    folder = _bundle(tmp_path / "b")
    _rewrite_head(folder, write)
    with pytest.raises(BundleError, match=message):
        read_manifest(folder)


def test_head_shapes_read_only_the_header(tmp_path: Path) -> None:
    save_file({"w": np.zeros((2, 5), np.float32)}, str(tmp_path / "h.safetensors"))
    assert head_shapes(tmp_path / "h.safetensors") == {"w": (2, 5)}


def test_invalid_json_and_deep_nesting_are_bundle_errors(tmp_path: Path) -> None:
    folder = _bundle(tmp_path / "b")
    for text in ("{not json", "[" * 100_000):
        (folder / MANIFEST).write_text(text)
        with pytest.raises(BundleError):
            read_manifest(folder)


def test_build_manifest_round_trips_through_json() -> None:
    manifest = build_manifest(
        task="regression",
        modality="image",
        labels=["price"],
        model_sections={"strategy": {"name": "linear", "frozen_stages": ["a"]}, "head": {"kind": "ridge"}},
        backbone=None,
        data={"source": "/d", "counts": {"items": np.int64(3)}},
        targets={"column": "price"},
        versions={"headstart": "1"},
        seed=0,
    )
    again = parse_manifest(json.loads(json.dumps(manifest.to_dict())))
    assert again == manifest
    assert again.strategy.get("frozen_stages") == ["a"] and again.data.counts == {"items": 3}
    assert again.targets is not None and again.targets.column == "price"
    assert isinstance(again, Manifest) and again.created


def test_voice_encoder_bundles_before_the_pooling_option_read_as_ge2e_d_vectors() -> None:
    """A voice-encoder bundle written without backbone options ran GE2E's d-vectors: it reloads as pool=last (the
    default pooling, 512-d, would not fit its 256-d head); options already written are left alone."""
    old = migrate({"format_version": 2, "backbone": {"name": "voice-encoder", "options": {}, "feature_dim": 256}})
    assert old["backbone"]["options"] == {"pool": "last"} and old["backbone"]["feature_dim"] == 256
    new = migrate({"format_version": 2, "backbone": {"name": "voice-encoder", "options": {"pool": "last+mean"}}})
    assert new["backbone"]["options"] == {"pool": "last+mean"}
    other = migrate({"format_version": 2, "backbone": {"name": "test-audio", "options": {}}})
    assert other["backbone"]["options"] == {}
