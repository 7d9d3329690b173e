"""The shipped field extractors through the commands on the shared SROIE receipts (given OCR lines, so no OCR runs):
fit `rules` and `baseline` (and `linear` on MiniLM, slow), evaluate, predict. The floors only catch broken wiring
(a score of 0 when records and fields do not meet); the figures themselves are the bench's (bench/documents.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart.cli.main import app

pytestmark = pytest.mark.integration
WIRING_FLOOR = 0.3  # far under every reference in issue 22 (0.75 rules, 0.756 TF-IDF, 0.746 MiniLM on given lines)


@pytest.fixture
def receipts(shared_data: Path) -> Path:
    root = shared_data / "sroie_receipts"
    if not root.is_dir():
        pytest.skip("sroie_receipts is not in ../shared/data")
    return root


def _fit(receipts: Path, out: Path, *args: str) -> dict:
    result = CliRunner().invoke(app, ["fit", str(receipts), "--out", str(out), "--json", "--no-track", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("strategy", ["rules", "baseline"])
def test_fit_evaluate_and_predict_sroie_with_the_shipped_extractors(
    receipts: Path, tmp_path: Path, strategy: str
) -> None:
    fitted = _fit(receipts, tmp_path / "m", "--strategy", strategy)
    assert fitted["task"] == "fields" and fitted["counts"]["test"] == 20
    assert fitted["metrics"]["entity_f1"] > WIRING_FLOOR, fitted["metrics"]
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["strategy"]["lines"] == {"given": 80} and manifest["labels"]
    first = sorted((receipts / "img").iterdir())[0]
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), str(first), "--json"])
    record = json.loads(result.stdout)["predictions"][0]
    truth = json.loads((receipts / "key" / f"{first.stem}.json").read_text())
    assert set(record["fields"]) <= set(truth) and record["fields"], record
    for found in record["fields"].values():
        assert 0.0 <= found["confidence"] <= 1.0 and len(found["box"]) == 4 and found["lines"]


@pytest.mark.slow
def test_linear_on_minilm_line_embeddings_fits_sroie(receipts: Path, tmp_path: Path) -> None:
    fitted = _fit(receipts, tmp_path / "m")  # the default: linear, minilm-l6
    assert fitted["backbone"] == "minilm-l6" and fitted["trained"] == "linear"
    assert fitted["metrics"]["entity_f1"] > WIRING_FLOOR, fitted["metrics"]
