"""Bundles written by an older release (tests/fixtures/bundles) still load and predict exactly as they did then.

Every bundle was fitted by `tests/fixtures/make_bundles.py` at the commit named in tests/fixtures/bundles/README.md;
`expected.json` holds what it answered then. A failure here means this release breaks users' saved models: fix
the code, never the fixtures. These tests only read tests/fixtures (a teardown check enforces it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "expected.json").read_text())
NAMES = sorted(EXPECTED)
ATOL = 1e-5  # ONNX Runtime / torch on CPU: the same bundle and inputs give the same floats up to rounding
# the labelled data each (modality, task) bundle is evaluated on: its training data, committed beside the bundles
EVALUATION_DATA = {
    ("image", "classification"): "data/image-classes",
    ("image", "multilabel"): "data/image-tags.csv",
    ("image", "regression"): "data/image-values.csv",
    ("text", "classification"): "data/texts.csv",
    ("text", "multilabel"): "data/text-tags.csv",
    ("text", "regression"): "data/text-values.csv",
}
EVALUATION_ITEMS = 24  # every data file above holds 24 items (3 colours x 8, 2 topics x 12)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(autouse=True, scope="module")
def fixtures_stay_untouched() -> Iterator[None]:
    """No command run here may write into tests/fixtures (a bundle, a cache file, a prediction file)."""
    before = snapshot(FIXTURES)
    yield
    assert snapshot(FIXTURES) == before, "a test wrote into tests/fixtures/bundles"


def inputs_of(name: str, root: Path = FIXTURES) -> list[str]:
    """The inputs the bundle's answers were recorded on: image paths, or the texts of inputs/texts.json."""
    if EXPECTED[name]["manifest"]["modality"] == "image":
        return [str(root / "inputs" / path) for path in EXPECTED[name]["inputs"]]
    return list(json.loads((root / "inputs" / "texts.json").read_text()))


def check_answers(task: str, answers: list[Any], expected: list[Any], tag_order: bool = True) -> None:
    """Labels and tags exactly (`tag_order` False: as sets, for answers that rank tags); values (floats) to ATOL."""
    assert len(answers) == len(expected)
    if task == "regression":
        np.testing.assert_allclose(np.asarray(answers, dtype=np.float64), expected, rtol=0, atol=ATOL)
    elif task == "multilabel" and not tag_order:
        assert [sorted(a) for a in answers] == [sorted(e) for e in expected]
    else:
        assert [list(a) if isinstance(a, list | tuple) else a for a in answers] == expected


def check_predictions(name: str, root: Path = FIXTURES) -> None:
    expected = EXPECTED[name]
    predictor = headstart.load(root / name)
    inputs = inputs_of(name, root)
    check_answers(expected["manifest"]["task"], predictor.predict(inputs), expected["answers"])
    np.testing.assert_allclose(np.asarray(predictor.predict_proba(inputs), np.float64), expected["proba"], rtol=0,
                               atol=ATOL)  # fmt: skip


def test_every_fixture_is_listed() -> None:
    """Each bundle folder has its expected answers (and vice versa), and every kind of fixture exists."""
    folders = {p.name for p in FIXTURES.iterdir() if (p / "manifest.json").is_file()}
    assert folders == set(NAMES)
    kinds = {(e["manifest"]["modality"], e["manifest"]["task"]) for e in EXPECTED.values()}
    assert kinds == set(EVALUATION_DATA)
    strategies = {e["manifest"]["strategy"]["name"] for e in EXPECTED.values()}
    assert {"zero-shot", "linear", "partial", "full", "scratch", "baseline", "contrastive"} <= strategies
    assert any(e["manifest"]["auto"] for e in EXPECTED.values())
    assert any(e["manifest"]["parent"] for e in EXPECTED.values())  # a bundle grown by `expand`


@pytest.mark.parametrize("name", NAMES)
def test_fixture_loads_as_recorded(name: str) -> None:
    recorded = EXPECTED[name]["manifest"]
    predictor = headstart.load(FIXTURES / name)
    assert predictor.task == recorded["task"]
    assert predictor.modality == recorded["modality"]
    assert list(predictor.labels) == recorded["labels"]
    backbone = recorded["backbone"]
    assert (predictor.backbone.name if predictor.backbone else None) == (backbone["name"] if backbone else None)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_predicts_as_recorded(name: str) -> None:
    check_predictions(name)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_api_predict_skips_and_evaluate_runs(name: str, tmp_path: Path) -> None:
    """`headstart.predict` answers the usable inputs as recorded and lists the unusable one; `evaluate` scores."""
    recorded = EXPECTED[name]["manifest"]
    task, modality = recorded["task"], recorded["modality"]
    if modality == "image":
        bad = tmp_path / "broken.png"
        bad.write_bytes(b"not an image")
        inputs = [*inputs_of(name), str(bad)]
    else:
        inputs = [*inputs_of(name), ""]
    result = headstart.predict(FIXTURES / name, inputs, on_bad="skip", progress=False)
    assert result.task == task and len(result.skipped) == 1
    field = {"classification": "label", "multilabel": "labels", "regression": "value"}[task]
    check_answers(task, [getattr(p, field) for p in result.predictions], EXPECTED[name]["answers"], tag_order=False)

    evaluated = headstart.evaluate(FIXTURES / name, FIXTURES / EVALUATION_DATA[(modality, task)], progress=False)
    headline = {"classification": "accuracy", "multilabel": "micro_f1", "regression": "r2"}[task]
    assert evaluated.report.n == EVALUATION_ITEMS and headline in evaluated.report.summary()


@pytest.mark.parametrize("name", ["image-classification-linear", "text-multilabel-partial1", "image-regression-full"])
def test_fixture_cli_predict(name: str) -> None:
    """`headstart predict BUNDLE INPUT... --json` prints the recorded answers."""
    result = CliRunner().invoke(app, ["predict", str(FIXTURES / name), *inputs_of(name), "--json"])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    task = EXPECTED[name]["manifest"]["task"]
    field = {"classification": "label", "multilabel": "labels", "regression": "value"}[task]
    check_answers(task, [p[field] for p in predictions], EXPECTED[name]["answers"], tag_order=False)


def test_fixtures_load_from_another_folder(tmp_path: Path) -> None:
    """Bundles need no absolute path of the machine that wrote them: a copy elsewhere predicts the same."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES, elsewhere)
    for name in NAMES:
        check_predictions(name, elsewhere)
