"""The whole path (load → ONNX features → linear head → bundle → predict/evaluate) on real data slices.

Uses small slices of ../shared/data with the real offline backbones; skipped with a reason when the
shared data is absent (a user's machine never needs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def flower_slice(shared: Path, dest: Path, classes: tuple[str, ...], per_class: int, offset: int = 0) -> Path:
    for name in classes:
        files = sorted((shared / "flowers" / name).glob("*.jpg"))[offset : offset + per_class]
        (dest / name).mkdir(parents=True)
        for f in files:
            shutil.copy(f, dest / name / f.name)
    return dest


def table_slice(
    source: Path, dest: Path, per_label: int, split: str | None = None, seed: int = 0, exclude: Path | None = None
) -> Path:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    if exclude is not None:
        frame = frame[~frame["text"].isin(pd.read_csv(exclude, dtype=str, keep_default_na=False)["text"])]
    if split is not None:
        frame = frame[frame["split"] == split].drop(columns="split")
    frame = pd.concat(g.sample(min(per_label, len(g)), random_state=seed) for _, g in frame.groupby("label"))
    frame.to_csv(dest, index=False)
    return dest


def test_flowers_linear_probe_beats_chance_by_far(shared_data: Path, tmp_path: Path) -> None:
    classes = ("daisy", "sunflower", "rose")
    train = flower_slice(shared_data, tmp_path / "train", classes, per_class=25)
    test = flower_slice(shared_data, tmp_path / "test", classes, per_class=20, offset=100)
    result = headstart.fit(train, backbone="efficientnet-lite0", out=str(tmp_path / "model"), progress=False)
    assert result.counts["classes"] == 3
    evaluation = headstart.evaluate(result.bundle, test, progress=False)
    assert evaluation.report.n == 60
    assert evaluation.report.accuracy >= 0.7  # chance is 0.33
    model = headstart.load(result.bundle)
    sunflowers = sorted(str(p) for p in (test / "sunflower").glob("*.jpg"))[:5]
    assert model.predict(sunflowers).count("sunflower") >= 3


def test_sms_spam_through_the_cli(shared_data: Path, tmp_path: Path) -> None:
    data = table_slice(shared_data / "sms_spam" / "sms_spam.csv", tmp_path / "sms.csv", per_label=60)
    runner = CliRunner()
    out = tmp_path / "sms-model"
    result = runner.invoke(app, ["fit", str(data), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    held_out = table_slice(shared_data / "sms_spam" / "sms_spam.csv", tmp_path / "held.csv", per_label=40, exclude=data)
    evaluated = headstart.evaluate(out, held_out, progress=False)
    assert evaluated.report.macro_f1 >= 0.8
    predicted = headstart.predict(out, ["WINNER!! Claim your free prize now, call 09061701461", "see you at lunch?"])
    assert [p.label for p in predicted.predictions] == ["spam", "ham"]


def test_sst2_validation_sentences(shared_data: Path, tmp_path: Path) -> None:
    train = table_slice(shared_data / "sst2" / "sst2.csv", tmp_path / "train.csv", per_label=80, split="train")
    test = table_slice(shared_data / "sst2" / "sst2.csv", tmp_path / "val.csv", per_label=60, split="validation")
    result = headstart.fit(train, backbone="minilm-l6", head="svm", out=str(tmp_path / "m"), progress=False)
    evaluation = headstart.evaluate(result.bundle, test, progress=False)
    assert evaluation.report.accuracy >= 0.65  # chance is 0.5
