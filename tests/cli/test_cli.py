"""The CLI end to end on tiny backbones: happy paths, --json schemas, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from headstart.cli.main import app

runner = CliRunner()


def run(*args: str, code: int = 0) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def image_bundle(image_folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "model"
    run("fit", str(image_folder), "--backbone", "test-cnn", "--out", str(out), "--seed", "0")
    return out


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("models", "inspect", "fit", "evaluate", "predict"):
        assert command in result.stdout


def test_help_and_import_do_not_load_the_heavy_libraries() -> None:
    """`headstart --help` answers before torch, scikit-learn or ONNX Runtime load; the API still resolves."""
    import subprocess
    import sys

    code = (
        "import sys, headstart, headstart.cli.main\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'onnxruntime', 'mlflow') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "import headstart.services.expand.run, headstart.services.study.run, headstart.server.app\n"
        "assert callable(headstart.expand) and callable(headstart.study) and callable(headstart.serve)\n"
        "assert headstart.expand.__module__ == 'headstart.api'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_help_at_80_columns_shows_every_option_name_whole() -> None:
    """Long option names must not be cut ("--allow-forget…") in a default-width terminal or a pipe."""
    for command, names in (
        ("expand", ("--allow-forgetting", "--head-refit / --no-head-refit", "NEW_DATA")),
        ("fit", ("--label-descriptions", "--time-budget", "DATA")),
        ("study", ("--time-limit-per-fit", "--budgets")),
    ):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        assert "…" not in result.stdout, command
        for name in names:
            assert name in result.stdout, (command, name)


def test_models_lists_installed_and_test_backbones() -> None:
    doc = run("models", "--test")
    names = {b["name"]: b for b in doc["backbones"]}
    assert {"efficientnet-lite0", "minilm-l6", "test-cnn", "test-text"} <= set(names)
    assert names["efficientnet-lite0"]["modality"] == "image"
    assert names["minilm-l6"]["feature_dim"] == 384
    assert "test-cnn" not in {b["name"] for b in run("models")["backbones"]}


def test_inspect_reports_counts(image_folder: Path) -> None:
    doc = run("inspect", str(image_folder))
    assert doc["class_counts"] == {"blue": 12, "green": 12, "red": 12}
    assert doc["fingerprint"]


def test_fit_json_schema_and_bundle(image_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    manifest = json.loads((image_bundle / "manifest.json").read_text())
    assert manifest["labels"] == ["blue", "green", "red"]
    assert manifest["backbone"]["name"] == "test-cnn"
    assert manifest["strategy"]["name"] == "linear"
    assert (image_bundle / "head.safetensors").is_file()
    doc = run("fit", str(image_folder), "--backbone", "test-cnn", "--out", str(tmp_path / "m2"))
    assert set(doc) >= {"bundle", "metrics", "timings", "counts", "skipped"}
    assert doc["metrics"]["accuracy"] >= 0.8
    assert doc["counts"]["features_computed"] == 0  # second fit on the same data reads the cache
    assert doc["counts"]["features_cached"] == doc["counts"]["train"] + doc["counts"]["test"]


def test_fit_with_label_budget(image_folder: Path, tmp_path: Path) -> None:
    doc = run("fit", str(image_folder), "-b", "test-cnn", "-n", "3", "--out", str(tmp_path / "m"))
    assert doc["counts"]["train"] == 9


def test_evaluate_json_schema(image_bundle: Path, image_folder: Path) -> None:
    doc = run("evaluate", str(image_bundle), str(image_folder))
    assert set(doc) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "expected_calibration_error", "n"}
    assert doc["ece"] == doc["expected_calibration_error"]  # one name across fit, evaluate and promote
    assert doc["n"] == 36
    assert set(doc["per_class"]["red"]) == {"precision", "recall", "f1", "support"}
    matrix = doc["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == 36


def test_evaluate_prints_the_confusion_matrix(image_bundle: Path, image_folder: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(image_bundle), str(image_folder)])
    assert result.exit_code == 0, result.output
    assert "confusion matrix (rows: true, columns: predicted)" in " ".join(result.output.split())
    rows = [line for line in result.output.splitlines() if line.lstrip("│ ").startswith(("blue ", "green ", "red "))]
    counts = [[int(v) for v in line.replace("│", " ").split()[1:]] for line in rows[-3:]]
    assert len(counts) == 3 and sum(map(sum, counts)) == 36  # the matrix's rows, as in --json


def test_predict_files_and_folder(image_bundle: Path, image_folder: Path) -> None:
    files = sorted((image_folder / "red").glob("*.png"))[:2]
    doc = run("predict", str(image_bundle), *map(str, files), "--top-k", "2")
    assert [p["label"] for p in doc["predictions"]] == ["red", "red"]
    assert len(doc["predictions"][0]["top"]) == 2
    doc = run("predict", str(image_bundle), str(image_folder / "blue"))
    assert len(doc["predictions"]) == 12


def test_predict_fails_when_no_input_could_be_read(image_bundle: Path, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photo, quality=95)
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])  # a valid header, truncated pixel data
    doc = run("predict", str(image_bundle), str(photo), code=3)
    assert doc["error"] == "DataError" and "no input could be read" in doc["message"] and "cut.jpg" in doc["message"]


def test_text_fit_predict_roundtrip(text_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "text-model"
    run("fit", str(text_csv), "--backbone", "test-text", "--out", str(out))
    doc = run("predict", str(out), "the team scored a goal", "fresh bread and cake")
    assert len(doc["predictions"]) == 2
    assert doc["predictions"][0]["id"]


def test_unknown_backbone_suggests_a_name(image_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["fit", str(image_folder), "--backbone", "efficientnet-lite", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 4
    assert "did you mean" in result.output
    assert "Traceback" not in result.output


def test_modality_mismatch_is_explained(text_csv: Path, tmp_path: Path) -> None:
    doc = run("fit", str(text_csv), "--backbone", "test-cnn", "--out", str(tmp_path / "m"), code=4)
    assert doc["error"] == "ModalityMismatchError"
    assert "same kind of input" in doc["expected"] and doc["expected"].startswith("a text backbone")


def test_model_given_the_other_modality_says_so(image_bundle: Path, text_csv: Path) -> None:
    doc = run("evaluate", str(image_bundle), str(text_csv), code=3)  # bad data for this model, as predict says
    assert doc["message"].startswith("this model reads image (backbone 'test-cnn') but the data is text")
    assert "backbone" not in doc["fix"]  # no advice to pick a backbone: the user chose a model, not a backbone


def test_missing_data_and_bundle_errors(tmp_path: Path, image_bundle: Path) -> None:
    doc = run("fit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m"), code=3)
    assert "nowhere" in doc["message"] and doc["fix"]
    doc = run("predict", str(tmp_path / "no-bundle"), "x.png", code=5)
    assert doc["error"] == "BundleError"


def test_evaluate_rejects_unknown_labels(image_bundle: Path, tmp_path: Path) -> None:
    from tests.conftest import make_image_folder

    other = make_image_folder(tmp_path / "other", per_class=2)
    (other / "red").rename(other / "purple")
    doc = run("evaluate", str(image_bundle), str(other), code=3)
    assert "purple" in doc["message"]


def test_bad_option_value_is_a_usage_error(image_folder: Path, tmp_path: Path) -> None:
    doc = run("fit", str(image_folder), "-b", "test-cnn", "--test-size", "1.5", "--out", str(tmp_path / "m"), code=2)
    assert "test_size" in doc["message"]


def test_piped_output_is_wide_enough_for_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a terminal, Rich would use 80 columns and cut backbone names and run ids with an ellipsis."""
    import io

    from headstart.cli import output

    monkeypatch.delenv("COLUMNS", raising=False)
    assert output._width(io.StringIO()) == output.PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert output._width(io.StringIO()) is None  # the user's COLUMNS wins (Rich reads it)


def test_parse_errors_are_json_with_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Click's own errors (unknown option, missing argument) honour --json too, through the console script."""
    from headstart.cli.main import run as console_script

    monkeypatch.setattr("sys.argv", ["headstart", "fit", "--json", "--bogus"])
    with pytest.raises(SystemExit) as exit_info:
        console_script()
    assert exit_info.value.code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"] == "UsageError" and "--bogus" in doc["message"] and "headstart fit --help" in doc["fix"]


def test_an_unexpected_error_still_prints_one_json_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (not a HeadstartError) with --json: stdout holds one InternalError document, the exit code is 1."""
    from headstart import api

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "list_backbones", broken)
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"] == "InternalError" and doc["message"] == "RuntimeError: boom" and "report" in doc["fix"]


def test_a_percentage_where_a_fraction_is_expected_gets_the_fraction_as_fix(tmp_path: Path) -> None:
    doc = run("study", str(tmp_path), "--target-accuracy", "90", code=2)
    assert doc["fix"] == "pass --target-accuracy 0.9 for 90% (a fraction from 0 to 1)"
    assert run("fit", str(tmp_path), "--test-size", "20", code=2)["fix"].startswith("pass --test-size 0.2 for 20%")


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_a_small_test_split_shows_the_accuracys_interval(image_folder: Path, tmp_path: Path) -> None:
    import re

    result = runner.invoke(app, ["fit", str(image_folder), "-b", "test-cnn", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", result.output).group(1))
    found = re.search(r"only (\d+) test items: the accuracy's 95% interval is (\d\.\d+)–(\d\.\d+)", result.output)
    assert found is not None, result.output
    n = int(found.group(1))
    low, high = _wilson(round(accuracy * n), n)
    assert float(found.group(2)) == pytest.approx(low, abs=1e-3) and float(found.group(3)) == pytest.approx(
        high, abs=1e-3
    )
    doc = run("fit", str(image_folder), "-b", "test-cnn", "--out", str(tmp_path / "j"))
    assert doc["accuracy_interval"] == pytest.approx(list(_wilson(round(accuracy * n), n)), abs=1e-3)


def test_fit_names_the_strategy_it_trained_with_its_stage_count(image_folder: Path, tmp_path: Path) -> None:
    args = ["fit", str(image_folder), "-b", "test-cnn", "-s", "partial:1", "--max-epochs", "1", "--no-track"]
    doc = run(*args, "--out", str(tmp_path / "j"))
    assert doc["trained"] == "partial:1"
    human = runner.invoke(app, [*args, "--out", str(tmp_path / "h")])
    assert "trained partial:1 on test-cnn" in human.output and "->" not in human.output


def test_fit_says_how_many_skipped_items_it_did_not_list(image_folder: Path, tmp_path: Path) -> None:
    for n in range(13):
        (image_folder / "red" / f"broken-{n:02d}.png").write_bytes(b"not a png")
    result = runner.invoke(app, ["fit", str(image_folder), "-b", "test-cnn", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "skipped 13 item(s)" in result.output and "… and 3 more (--json lists every one)" in result.output


def test_ignored_options_are_named_as_flags_on_the_command_line(image_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["fit", str(image_folder), "-b", "test-cnn", "--max-epochs", "3", "--out", str(tmp_path / "m"), "--json"]
    )
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert any(n.startswith("--max-epochs 3 applies only to the gradient strategies") for n in notes)


def test_fit_and_evaluate_report_the_accuracy_interval(image_bundle: Path, image_folder: Path) -> None:
    fitted = json.loads((image_bundle / "manifest.json").read_text())["metrics"]["test"]
    doc = run("evaluate", str(image_bundle), str(image_folder))
    low, high = doc["accuracy_interval"]
    assert low <= doc["accuracy"] <= high and 0 <= low < high <= 1
    expected = _wilson(round(doc["accuracy"] * doc["n"]), doc["n"])
    assert (low, high) == pytest.approx(expected, abs=1e-3)
    human = runner.invoke(app, ["evaluate", str(image_bundle), str(image_folder)])
    assert f"only {doc['n']} items: the accuracy's 95% interval is" in human.output
    assert fitted["n"] > 0


def test_inspect_prints_how_the_data_was_read(image_folder: Path) -> None:
    (image_folder / "__MACOSX").mkdir()  # left by unzipping on a Mac: never a class
    result = runner.invoke(app, ["inspect", str(image_folder)])
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "__MACOSX" in result.output


def test_predict_and_evaluate_give_a_model_the_other_modality_with_one_exit_code(
    image_bundle: Path, text_csv: Path
) -> None:
    assert run("predict", str(image_bundle), str(text_csv), code=3)["error"] == "DataError"
    assert run("evaluate", str(image_bundle), str(text_csv), code=3)["error"] == "ModalityMismatchError"


def test_prompt_templates_are_repeatable_flags_recorded_in_the_manifest(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    doc = run("fit", str(image_folder), "-b", "test-cnn", "--prompt-template", "a photo of a {}.",
              "--prompt-template", "a {} in the wild", "--out", str(out))  # fmt: skip
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["prompt_templates"] == ["a photo of a {}.", "a {} in the wild"]
    assert any(n.startswith("linear: --prompt-template is used only by the text prior") for n in doc["notes"])


def test_a_prompt_template_without_its_placeholder_is_a_usage_error(image_folder: Path, tmp_path: Path) -> None:
    for bad in ("a photo of a cat", "{} and {}", "a {label}"):
        doc = run("fit", str(image_folder), "--prompt-template", bad, "--out", str(tmp_path / "m"), code=2)
        assert doc["message"].startswith("invalid value for prompt_templates") and repr(bad) in doc["expected"]
        assert '"{}" exactly once' in doc["expected"] and "--prompt-templates" in doc["fix"]
