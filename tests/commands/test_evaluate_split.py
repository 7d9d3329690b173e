"""`evaluate` scores DATA's test split, warns on the model's own training data, and names classes without examples."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.cli.main import app
from headstart.errors import UsageError
from tests.conftest import TEXT_CLASSES, make_image_folder

runner = CliRunner()


def split_csv(path: Path) -> Path:
    """`text,label,split`: per topic, 8 train rows and 4 test rows."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for label, texts in TEXT_CLASSES.items():
            for r in range(2):
                for i, text in enumerate(texts):
                    writer.writerow([f"{text} take {r}", label, "test" if r == 1 and i < 4 else "train"])
    return path


def fit(data: Path, out: Path, backbone: str) -> Path:
    return api.fit(data, backbone=backbone, out=str(out), progress=False, track=False).bundle


@pytest.fixture(scope="module")
def text_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("split")
    table = split_csv(root / "texts.csv")
    return table, fit(table, root / "model", "test-text")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(training folder, bundle fitted on it, another folder without `blue`)."""
    root = tmp_path_factory.mktemp("images")
    folder = make_image_folder(root / "train", per_class=8)
    other = make_image_folder(root / "other", per_class=4, seed=5)
    shutil.rmtree(other / "blue")
    return folder, fit(folder, root / "model", "test-cnn"), other


def evaluate(bundle: Path, data: Path, **options: object) -> api.EvaluateResult:
    return api.evaluate(bundle, data, progress=False, **options)


def test_a_split_column_is_scored_on_its_test_rows_only(text_split: tuple[Path, Path]) -> None:
    table, bundle = text_split
    result = evaluate(bundle, table)
    assert result.split == "test" and result.report.n == 8  # 4 test rows per topic, not the 24 rows
    assert any("test split" in note and "8 of 24" in note for note in result.notes)
    assert result.warnings == []  # fit held out exactly these rows: this is a held-out score
    everything = evaluate(bundle, table, split="all")
    assert everything.split == "all" and everything.report.n == 24
    assert everything.warnings and "not a held-out score" in everything.warnings[0]
    assert "8 of its 24 items" in everything.warnings[0]  # what fit held out of this data
    assert result.to_dict()["split"] == "test" and everything.to_dict()["warnings"] == everything.warnings


def test_a_train_test_folder_layout_is_scored_on_test(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "layout" / "train", per_class=6)
    make_image_folder(tmp_path / "layout" / "test", per_class=3, seed=2)
    bundle = fit(tmp_path / "layout", tmp_path / "model", "test-cnn")
    result = evaluate(bundle, tmp_path / "layout")
    assert result.split == "test" and result.report.n == 9
    assert evaluate(bundle, tmp_path / "layout", split="all").report.n == 27


def test_the_training_data_itself_gets_a_warning(images: tuple[Path, Path, Path]) -> None:
    folder, bundle, other = images
    own = evaluate(bundle, folder)
    assert own.split == "all" and own.report.n == 24
    (warning,) = own.warnings
    assert "the data this model was fitted on" in warning and "not a held-out score" in warning
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert f"{manifest['data']['counts']['test']} of its 24 items" in warning
    assert evaluate(bundle, other).warnings == []  # other data: no warning


def test_split_test_on_data_without_one_is_refused(images: tuple[Path, Path, Path]) -> None:
    folder, bundle, _ = images
    with pytest.raises(UsageError) as err:
        evaluate(bundle, folder, split="test")
    assert "no test split" in err.value.what and "--split all" in err.value.fix


def test_classes_without_examples_are_named_and_shown_as_dashes(images: tuple[Path, Path, Path]) -> None:
    _, bundle, other = images
    result = evaluate(bundle, other)
    assert result.missing_classes == ["blue"]
    assert any(note.startswith(f"blue: no examples in {other} (not in macro-F1)") for note in result.notes)
    present = [result.report.per_class[c]["f1"] for c in ("green", "red")]
    assert result.report.macro_f1 == pytest.approx(sum(present) / 2)
    doc = json.loads(runner.invoke(app, ["evaluate", str(bundle), str(other), "--json"]).stdout)
    assert doc["missing_classes"] == ["blue"] and doc["split"] == "all"
    shown = runner.invoke(app, ["evaluate", str(bundle), str(other)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if line.startswith("│ blue "))  # the per-class table
    assert [cell.strip() for cell in row.split("│")[2:6]] == ["-", "-", "-", "0"]
    assert "blue: no examples in" in shown.stdout


def test_multilabel_tags_without_examples_are_named(tmp_path: Path) -> None:
    from tests.tasks.conftest import make_multilabel_csv

    bundle = fit(make_multilabel_csv(tmp_path / "tags.csv"), tmp_path / "model", "test-text")
    with open(tmp_path / "tags.csv") as f:
        rows = [row for row in csv.reader(f)]
    with open(tmp_path / "sport.csv", "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *[row for row in rows[1:] if "food" not in row[1]]])
    result = evaluate(bundle, tmp_path / "sport.csv")
    assert result.missing_classes == ["food"] and any(n.startswith("food: no examples") for n in result.notes)


def test_cli_split_option_reaches_the_core_and_is_reported(text_split: tuple[Path, Path]) -> None:
    table, bundle = text_split
    shown = runner.invoke(app, ["evaluate", str(bundle), str(table)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "note: scored the test split of" in shown.stdout and "8 of 24 items" in shown.stdout
    assert "warning:" not in shown.stdout
    every = runner.invoke(app, ["evaluate", str(bundle), str(table), "--split", "all"], terminal_width=200)
    assert every.exit_code == 0 and "warning:" in every.stdout and "scored the test split" not in every.stdout
    bad = runner.invoke(app, ["evaluate", str(bundle), str(table), "--split", "nope", "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["error"] == "UsageError"


def test_expand_shows_n_and_no_macro_f1_for_one_held_out_class() -> None:
    from headstart.cli.expand import _held_out_line

    def part(**support: int) -> dict:
        per_class = {label: {"support": n} for label, n in support.items()}
        return {"n": sum(support.values()), "accuracy": 0.5, "macro_f1": 0.667, "per_class": per_class}

    one = _held_out_line(part(rose=0, tulip=4), "flt")
    assert "n=4" in one and "one class: tulip" in one and "macro-F1 0.667" not in one
    two = _held_out_line(part(rose=3, tulip=4), "flt")
    assert "n=7" in two and "macro-F1 0.667" in two
