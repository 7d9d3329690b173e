"""The service, the CLI and the study for multi-label and regression bundles."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import headstart
from headstart import api
from headstart.cli.main import app
from headstart.server import create_app
from tests.serve.conftest import png_bytes
from tests.tasks.conftest import make_multilabel_csv, make_value_folder

runner = CliRunner()
study = importlib.import_module("headstart.services.study")


def run(*args: str, code: int = 0) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_serve_multilabel_answers_every_tag_above_its_threshold(text_tag_bundle: Path) -> None:
    predictor = headstart.load(text_tag_bundle)
    texts = ["the team won the match again", "fresh bread and soup"]
    with TestClient(create_app(text_tag_bundle)) as client:
        body = client.post("/v1/predict", json={"inputs": texts, "top_k": 4}).json()
        card = client.get("/v1/model").json()
    assert body["task"] == "multilabel" and card["task"] == "multilabel"
    for prediction, tags, row in zip(body["predictions"], predictor.predict(texts), predictor.predict_proba(texts),
                                     strict=True):  # fmt: skip
        assert set(prediction) == {"index", "id", "labels", "top"}
        assert sorted(prediction["labels"]) == sorted(tags)
        got = {t["label"]: t["probability"] for t in prediction["top"]}
        assert got == pytest.approx(dict(zip(predictor.labels, map(float, row), strict=True)), abs=1e-6)
    assert "sport" in body["predictions"][0]["labels"] and "food" in body["predictions"][1]["labels"]


def test_serve_regression_answers_numbers(image_value_bundle: Path) -> None:
    files = [("files", ("red.png", png_bytes((220, 30, 30)), "image/png")),
             ("files", ("blue.png", png_bytes((30, 40, 220)), "image/png"))]  # fmt: skip
    with TestClient(create_app(image_value_bundle)) as client:
        response = client.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "regression"
    red, blue = body["predictions"]
    assert set(red) == {"index", "id", "filename", "top", "value"} and red["top"] == []
    assert red["value"] < blue["value"] and abs(red["value"] - 1.0) < 1.0


def test_serve_classification_response_keeps_its_shape(tmp_path: Path) -> None:
    from tests.conftest import make_text_csv

    table = make_text_csv(tmp_path / "t.csv")
    api.fit(table, backbone="test-text", out=str(tmp_path / "m"), progress=False, track=False)
    with TestClient(create_app(tmp_path / "m")) as client:
        body = client.post("/v1/predict", json={"inputs": ["a goal"]}).json()
    assert body["task"] == "classification"
    assert set(body["predictions"][0]) == {"index", "id", "label", "probability", "top"}


def test_cli_fit_predict_evaluate_multilabel(tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv", separator="|")
    out = str(tmp_path / "m")
    fitted = run("fit", str(table), "--backbone", "test-text", "--separator", "|", "--out", out, "--no-track")
    assert fitted["metrics"]["micro_f1"] > 0.6
    predicted = run("predict", out, "the team won the match")
    assert predicted["task"] == "multilabel" and "sport" in predicted["predictions"][0]["labels"]
    evaluated = run("evaluate", out, str(table))  # the bundle's separator is used
    assert evaluated["task"] == "multilabel" and evaluated["n"] == 36 and "per_label" in evaluated
    human = runner.invoke(app, ["evaluate", out, str(table)])
    assert human.exit_code == 0 and "micro-F1" in human.stdout and "threshold" in human.stdout


def test_cli_fit_regression_and_errors(tmp_path: Path) -> None:
    folder = make_value_folder(tmp_path / "values")
    out = str(tmp_path / "m")
    fitted = run("fit", str(folder), "--backbone", "test-cnn", "--task", "regression", "--out", out, "--no-track")
    assert set(fitted["metrics"]) == {"mae", "rmse", "r2", "n"}
    human = runner.invoke(app, ["predict", out, str(folder / "4")])
    assert human.exit_code == 0 and "value" in human.stdout
    error = run("fit", str(folder), "--backbone", "test-cnn", "--task", "bogus", "--out", out, code=2)
    assert error["error"] == "UsageError" and "task" in error["message"]
    tags = make_multilabel_csv(tmp_path / "tags.csv")
    refused = run("rank", str(tags), "--backbones", "test-text", "--metric", "hscore", code=2)  # a class-only score
    assert "not for multilabel" in refused["message"] and "logme, knn" in refused["expected"] and refused["fix"]


def test_study_scores_multilabel_cells_by_micro_f1(tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv")
    result = api.study(table, backbone="test-text", strategies="linear,baseline", budgets="2,all", seeds=1,
                       out=str(tmp_path / "s"), progress=False)  # fmt: skip
    assert result.status == "complete" and result.cells_done == 4
    doc = json.loads((tmp_path / "s" / "study.json").read_text())
    assert doc["frame"]["task"] == "multilabel" and doc["frame"]["score_metric"] == "micro_f1"
    for cell in doc["cells"]:
        assert cell["accuracy"] == cell["metrics"]["micro_f1"] and "map" in cell["metrics"]
    assert doc["verdict"]["headline"]


def test_study_scores_regression_cells_by_r2(tmp_path: Path) -> None:
    folder = make_value_folder(tmp_path / "values")
    result = api.study(folder, backbone="test-cnn", task="regression", strategies="linear,baseline", budgets="all",
                       seeds=1, out=str(tmp_path / "s"), progress=False)  # fmt: skip
    assert result.status == "complete" and result.cells_done == 2
    doc = json.loads((tmp_path / "s" / "study.json").read_text())
    assert doc["frame"]["score_metric"] == "r2"
    assert all(c["accuracy"] == c["metrics"]["r2"] and c["macro_f1"] is None for c in doc["cells"])
    report = (tmp_path / "s" / "report.html").read_text()
    assert "<th>R²</th>" in report and "<th>accuracy</th>" not in report and "test R² (regression task)" in report
    assert result.score_metric == "r2" and result.to_dict()["score_metric"] == "r2"
    assert "R² " in result.verdict["headline"] and "%" not in result.verdict["headline"]
    from headstart.cli.output import console
    from headstart.cli.study import _print_summary

    with console.capture() as captured:
        _print_summary(result)
    assert "R²" in captured.get() and "accuracy" not in captured.get().split("verdict")[0]
