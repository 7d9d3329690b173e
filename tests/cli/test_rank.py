"""`headstart rank` and `fit --strategy auto --backbones` through the CLI on tiny backbones."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from headstart.cli.main import app
from tests.tasks.conftest import make_multilabel_csv, make_value_folder

runner = CliRunner()


def run(*args: str, code: int = 0) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_rank_images_all_cuts_json(image_folder: Path) -> None:
    doc = run("rank", str(image_folder), "--backbones", "test-cnn", "--cuts", "all", "--metric", "knn")
    assert doc["metric"] == "knn" and doc["n_classes"] == 3
    assert sorted(r["cut"] for r in doc["rows"]) == [1, 2, 3]
    knn = [r["scores"]["knn"] for r in doc["rows"]]
    assert knn == sorted(knn, reverse=True)
    last = next(r for r in doc["rows"] if r["cut"] == 3)
    assert last["scores"]["leep"] is not None and last["seconds"] >= 0


def test_rank_text_json_and_table(text_csv: Path) -> None:
    doc = run("rank", str(text_csv), "--backbones", "test-text")
    (only,) = doc["rows"]
    assert only["backbone"] == "test-text" and only["scores"]["nce"] is None
    assert any("no source head" in n for n in doc["notes"])
    assert doc["run_id"]  # tracked by default, like fit: the id is in --json and printed in the table view
    table = runner.invoke(app, ["rank", str(text_csv), "--backbones", "test-text"])
    assert table.exit_code == 0 and "logme" in table.stdout and "headstart runs show" in table.stdout


def test_rank_errors(image_folder: Path) -> None:
    assert run("rank", str(image_folder), "--backbones", "test-text", code=4)["error"]  # modality mismatch
    assert run("rank", str(image_folder), "--backbones", "test-cnn", "--metric", "acc", code=2)["error"]
    assert run("rank", str(image_folder), "--backbones", "test-cnn", "--cuts", "9", code=2)["error"]


def test_fit_auto_with_backbones(image_folder: Path, tmp_path: Path) -> None:
    doc = run(
        "fit",
        str(image_folder),
        "--strategy",
        "auto",
        "--backbones",
        "test-cnn",
        "--out",
        str(tmp_path / "m"),
        "--labels-per-class",
        "4",
    )
    assert doc["backbone"] == "test-cnn"
    assert any("rule R1" in n for n in doc["notes"])
    assert doc["strategy"] == "auto" and doc["trained"] == "linear"  # R1: few labels per class -> a linear probe


def test_rank_regression_scores_logme_and_knn_r2(tmp_path: Path) -> None:
    folder = make_value_folder(tmp_path / "values")  # colour patches whose folder name is the number to predict
    doc = run("rank", str(folder), "--backbones", "test-cnn", "--task", "regression", "--cuts", "all", "--no-track")
    assert doc["task"] == "regression" and doc["n_classes"] == 0 and len(doc["rows"]) == 3
    for row in doc["rows"]:
        assert set(row["scores"]) == {"logme", "knn"} and row["scores"]["logme"] is not None
    last = next(r for r in doc["rows"] if r["cut"] == 3)
    assert last["scores"]["knn"] > 0.5  # colour predicts the value: cross-validated kNN R² well above 0
    logme = [r["scores"]["logme"] for r in doc["rows"]]
    assert logme == sorted(logme, reverse=True)
    table = runner.invoke(app, ["rank", str(folder), "-b", "test-cnn", "--task", "regression", "--no-track"])
    assert table.exit_code == 0 and "knn (R²)" in table.stdout and "hscore" not in table.stdout


def test_rank_multilabel_scores_and_refuses_class_only_metrics(tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv")
    doc = run("rank", str(table), "--backbones", "test-text", "--metric", "knn", "--no-track")
    assert doc["task"] == "multilabel" and doc["n_classes"] == 4  # fun, food, outdoor, sport
    (row,) = doc["rows"]
    assert set(row["scores"]) == {"logme", "knn"} and 0.0 <= row["scores"]["knn"] <= 1.0
    for metric in ("hscore", "transrate", "nce", "leep"):
        error = run("rank", str(table), "-b", "test-text", "--metric", metric, "--no-track", code=2)
        assert error["error"] == "UsageError" and metric in error["message"], error
        assert "multilabel" in error["message"] and "logme, knn" in error["expected"], error


def test_rank_says_when_the_budget_or_the_sample_is_too_small(image_folder: Path) -> None:
    """12 images per class, 80 % for training: -n 100 uses what there is (said), and 3 per class is noisy (said)."""
    doc = run("rank", str(image_folder), "--backbones", "test-cnn", "-n", "100", "--no-track")
    assert any("fewer than the budget of 100" in note for note in doc["notes"])
    assert not any("scores are noisy" in note for note in doc["notes"])
    tiny = run("rank", str(image_folder), "--backbones", "test-cnn", "-n", "3", "--no-track")
    assert any("scores are noisy" in note for note in tiny["notes"])
