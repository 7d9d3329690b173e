"""The zero-shot strategy on tiny backbones: label matching, no training, bundles that reload identically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.errors import StrategyError, UsageError
from headstart.strategies.zero_shot import (
    MATCH_THRESHOLD,
    TEMPERATURE,
    TOP_M,
    SourceMappedHead,
    mapping_matrix,
    match_labels,
    normalize_name,
    read_descriptions,
)
from tests.conftest import make_image_folder


def test_normalize_name() -> None:
    assert normalize_name("  Sun_flower-Field ") == "sun flower field"


def test_match_labels_prefers_exact_then_ranks_substring_and_embedding_by_similarity() -> None:
    classes = ["daisy", "hip, rose hip, rosehip", "hot dog", "Maltese dog", "pug", "cauliflower"]
    labels = ["Daisy", "rose", "dog", "tulip"]
    rng = np.random.default_rng(0)
    cv = np.eye(6)
    lv = np.zeros((4, 6))
    lv[0] = [0.2, 0, 0, 0, 0, 0.9]  # exact match wins even with a lower cosine than another class
    lv[1] = [0, 0.5, 0, 0, 0, 0]  # "rose hip" synonym: a whole-word substring, kept below the threshold
    lv[2] = [0, 0, 0.7, 0.8, 0.9, 0.1]  # substring + embedding candidates, top M by cosine
    lv[3] = rng.uniform(0, MATCH_THRESHOLD - 0.1, 6)  # nothing close enough: unmatched
    mapping = match_labels(labels, classes, lv, cv)
    assert [m["class"] for m in mapping["Daisy"]] == ["daisy"]
    assert mapping["Daisy"][0]["match"] == "exact"
    assert [(m["class"], m["match"]) for m in mapping["rose"]] == [("hip, rose hip, rosehip", "substring")]
    assert [m["class"] for m in mapping["dog"]] == ["pug", "Maltese dog", "hot dog"][:TOP_M]
    assert mapping["dog"][0]["match"] == "embedding"
    assert mapping["tulip"] == []


def test_mapping_matrix_splits_a_class_claimed_by_two_labels() -> None:
    mapping = {"a": [{"index": 0}, {"index": 1}], "b": [{"index": 1}], "c": []}
    m = mapping_matrix(mapping, ["a", "b", "c"], 3)
    np.testing.assert_allclose(m, [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 0]])


def test_source_mapped_head_renormalises_and_gives_unmatched_labels_nothing() -> None:
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(5, 4)), rng.normal(size=5)
    mapping = {"x": [{"index": 0}, {"index": 3}], "y": [{"index": 2}], "z": []}
    head = SourceMappedHead(weight, bias, ["x", "y", "z"], mapping, {})
    p = head.predict_proba(rng.normal(size=(7, 4)))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(p[:, 2] == 0)
    assert head.unmatched == ["z"]


def test_read_descriptions(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("sport: a text about sport and games\nweather: sunny\n")
    descriptions, notes = read_descriptions(str(path), ["food", "sport"])
    assert descriptions == {"sport": "a text about sport and games"}
    assert "weather" in notes[0]
    (tmp_path / "bad.json").write_text('["not", "a", "mapping"]')
    with pytest.raises(UsageError):
        read_descriptions(str(tmp_path / "bad.json"), ["sport"])
    with pytest.raises(UsageError):
        read_descriptions(str(tmp_path / "missing.yaml"), ["sport"])


@pytest.fixture
def source_named_images(tmp_path: Path) -> Path:
    """Image classes named after test-cnn source classes (two spellings) plus one with no match."""
    root = make_image_folder(tmp_path / "zs", per_class=5)
    for old, new in (("red", "source-class-1"), ("green", "source_class_2"), ("blue", "zebra")):
        (root / old).rename(root / new)
    return root


def test_image_zero_shot_maps_labels_reports_unmatched_and_reloads(source_named_images: Path, tmp_path: Path) -> None:
    result = headstart.fit(
        source_named_images,
        backbone="test-cnn",
        strategy="zero-shot",
        text_backbone="test-text",
        out=str(tmp_path / "m"),
        progress=False,
    )
    assert result.counts["train"] == 0
    assert any("zebra" in n and "never predicted" in n for n in result.notes)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["backbone"]["name"] == "test-cnn"
    assert manifest["strategy"]["name"] == "zero-shot"
    assert manifest["strategy"]["text_backbone"]["name"] == "test-text"
    head = manifest["head"]
    assert head["kind"] == "source-mapping" and head["threshold"] == MATCH_THRESHOLD
    assert [m["class"] for m in head["mapping"]["source-class-1"]] == ["source-class-1"]
    assert [m["class"] for m in head["mapping"]["source_class_2"]] == ["source-class-2"]
    assert head["unmatched"] == ["zebra"]
    files = sorted(str(p) for p in source_named_images.rglob("*.png"))
    model = headstart.load(result.bundle)
    p = model.predict_proba(files)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(p[:, model.labels.index("zebra")] == 0)
    np.testing.assert_array_equal(p, headstart.load(result.bundle).predict_proba(files))


def test_image_zero_shot_refuses_labels_that_match_nothing(image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="matches a source class"):
        headstart.fit(
            image_folder,
            backbone="test-cnn",
            strategy="zero-shot",
            text_backbone="test-text",
            out=str(tmp_path / "m"),
            progress=False,
        )


def test_text_zero_shot_uses_descriptions_and_reloads_identically(text_csv: Path, tmp_path: Path) -> None:
    descriptions = tmp_path / "labels.json"
    descriptions.write_text(json.dumps({"sport": "a match, a team, players and a goal"}))
    result = headstart.fit(
        text_csv,
        backbone="test-text",
        strategy="zero-shot",
        label_descriptions=str(descriptions),
        labels_per_class=2,
        out=str(tmp_path / "m"),
        progress=False,
    )
    assert result.counts["train"] == 0 and result.counts["test"] > 0
    assert any("--labels-per-class has no effect" in n for n in result.notes)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["strategy"]["mode"] == "label-similarity"
    assert manifest["head"]["temperature"] == TEMPERATURE
    assert manifest["head"]["label_texts"] == {"food": "food", "sport": "a match, a team, players and a goal"}
    texts = ["the team won", "soup and bread", "something else"]
    p = headstart.load(result.bundle).predict_proba(texts)
    assert p.shape == (3, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(p, headstart.load(result.bundle).predict_proba(texts))


def test_cli_fit_zero_shot_text(text_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-zs"
    args = ["fit", str(text_csv), "--strategy", "zero-shot", "--backbone", "test-text", "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["strategy"] == "zero-shot" and doc["counts"]["train"] == 0
