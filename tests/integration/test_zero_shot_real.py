"""Zero-shot with the real offline backbones: flower labels find ImageNet classes, sentiment labels find texts."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import headstart

pytestmark = [pytest.mark.slow]

FLOWERS = ("daisy", "dandelion", "rose", "sunflower", "tulip")


def flower_folder(shared: Path, dest: Path, per_class: int) -> Path:
    for name in FLOWERS:
        (dest / name).mkdir(parents=True)
        for f in sorted((shared / "flowers" / name).glob("*.jpg"))[:per_class]:
            shutil.copy(f, dest / name / f.name)
    return dest


def test_flower_labels_map_to_sensible_imagenet_classes(shared_data: Path, tmp_path: Path) -> None:
    data = flower_folder(shared_data, tmp_path / "flowers", per_class=8)
    result = headstart.fit(
        data, backbone="efficientnet-lite0", strategy="zero-shot", out=str(tmp_path / "m"), progress=False
    )
    head = json.loads((result.bundle / "manifest.json").read_text())["head"]
    mapping = {label: [m["class"] for m in entries] for label, entries in head["mapping"].items()}
    assert mapping["daisy"] == ["daisy"]
    assert mapping["rose"] == ["rose hip"]
    # ImageNet-1k has no tulip, sunflower or dandelion class: they must be reported, not mapped to noise
    # (with raw-name similarity "sunflower" is nearest to "cauliflower", which the threshold rejects).
    for label in ("tulip", "sunflower", "dandelion"):
        assert mapping[label] == [], (label, mapping[label])
    assert set(head["unmatched"]) == {"dandelion", "sunflower", "tulip"}
    assert any("never predicted" in n for n in result.notes)
    model = headstart.load(result.bundle)
    daisies = sorted(str(p) for p in (data / "daisy").glob("*.jpg"))
    assert model.predict(daisies).count("daisy") >= len(daisies) // 2


def test_text_zero_shot_sentiment_with_minilm(tmp_path: Path) -> None:
    rows = [
        ("I love this movie, it was wonderful", "positive"),
        ("a delightful, brilliant and moving film", "positive"),
        ("great acting and a happy ending, I enjoyed it", "positive"),
        ("I hate this movie, it was terrible", "negative"),
        ("a boring, awful waste of time", "negative"),
        ("the worst film I have ever seen, very bad", "negative"),
    ]
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        writer.writerows(
            [(t, lab, "test") for t, lab in rows] + [("ok", "positive", "train"), ("meh", "negative", "train")]
        )
    result = headstart.fit(data, backbone="minilm-l6", strategy="zero-shot", out=str(tmp_path / "m"), progress=False)
    assert result.metrics["accuracy"] == 1.0
    model = headstart.load(result.bundle)
    assert model.predict(["I love this movie", "I really hated it"]) == ["positive", "negative"]
    p = model.predict_proba(["I love this movie"])
    assert p[0, model.labels.index("positive")] > 0.6
    np.testing.assert_allclose(p.sum(), 1.0)
