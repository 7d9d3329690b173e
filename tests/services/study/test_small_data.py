"""Small-data studies: gradient fits without a validation split, a failing figure or report, the tracked run."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headstart import api, tracking
from headstart.cli.main import app
from headstart.data.modalities import get_modality
from headstart.report import _curve_pair as curve_pair
from headstart.report import figures, render_report
from tests.conftest import make_image_folder, make_text_csv

study = importlib.import_module("headstart.services.study")  # `headstart.study` itself is the api function
study_run = importlib.import_module("headstart.services.study.run")
report_module = importlib.import_module("headstart.report")
runner = CliRunner()
# 3 classes × 8 images: about 18 training items, too few for the 20-item validation split of gradient fits
IMAGE_GRID = ["--backbone", "test-cnn", "--strategies", "partial:1,scratch", "--budgets", "all", "--seeds", "1",
              "--max-epochs", "2", "--no-energy", "--no-track"]  # fmt: skip
TEXT_GRID = {"strategies": "linear,baseline", "budgets": "2,all", "seeds": 1, "energy": False, "progress": False}


@pytest.fixture(scope="module")
def small_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("data") / "images", per_class=8, size=24)


@pytest.fixture(scope="module")
def small_study(small_images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The audit's crash: partial + scratch on a tiny image folder, through the CLI with --json."""
    out = tmp_path_factory.mktemp("study") / "out"
    result = runner.invoke(app, ["study", str(small_images), *IMAGE_GRID, "--out", str(out), "--json"])
    return out, result


def _history(val: bool) -> list[dict[str, Any]]:
    return [{"epoch": e, "train_loss": 1.0 / e, **({"val_accuracy": 0.3 + 0.1 * e} if val else {})} for e in (1, 2, 3)]


def _cell(strategy: str, val: bool, budget: str = "all") -> dict[str, Any]:
    return {"strategy": strategy, "family": strategy.partition(":")[0], "budget": budget, "status": "ok",
            "history": _history(val), "notes": [] if val else ["no validation split: 18 training items are too few"]}  # fmt: skip


def test_small_gradient_study_writes_its_report_and_one_json_document(small_study: tuple[Path, Any]) -> None:
    out, result = small_study
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert doc["status"] == "complete" and doc["cells"]["done"] == 2
    cells = json.loads((out / "study.json").read_text())["cells"]
    assert all(c["history"] and not any("val_accuracy" in h for h in c["history"]) for c in cells)  # the crash's cause
    html = Path(doc["report"]).read_text()
    assert "No learning curves are available at this data size (no validation split)" in html
    assert "training items are too few" in html  # the cells' own reason
    assert "No gradient strategy ran" not in html


def test_curve_pair_keeps_only_cells_with_validation_accuracy() -> None:
    assert curve_pair([_cell("partial:1", False), _cell("scratch", False)], ["partial:1", "scratch"]) is None
    pair = curve_pair(
        [_cell("partial:1", True), _cell("scratch", False), _cell("scratch", True, budget="5")],
        ["partial:1", "scratch"],
    )
    assert pair is not None and pair["budget"] == "all"  # the only budget where a cell has a curve is partial's
    assert [r["strategy"] for r in pair["transfer"]] == ["partial:1"] and pair["scratch"] == []


def test_learning_curves_draws_a_group_without_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[Any] = []
    monkeypatch.setattr(figures, "to_png", lambda fig: drawn.append(fig) or "png")
    styles = figures.strategy_styles(["partial:1", "scratch"])
    assert figures.learning_curves([_cell("partial:1", True)], [_cell("scratch", False)], styles) == "png"
    assert [line.get_label() for line in drawn[0].axes[0].get_lines()] == ["partial:1 (1 seed(s))"]


def test_scratch_without_a_curve_is_explained(small_study: tuple[Path, Any]) -> None:
    out, _ = small_study
    doc = json.loads((out / "study.json").read_text())
    records = [{**r, "history": _history(r["family"] == "partial")} for r in study.read_records(out)]
    html = render_report(doc, records)
    assert 'alt="learning curves"' in html and "scratch recorded no validation accuracy at this budget" in html
    assert "scratch is not in this study" not in html


def test_cells_with_validation_get_curves_and_the_three_quantities(small_study: tuple[Path, Any]) -> None:
    out, _ = small_study
    doc = json.loads((out / "study.json").read_text())
    records = [{**r, "history": _history(True)} for r in study.read_records(out)]
    html = render_report(doc, records)
    assert 'alt="learning curves"' in html and "No learning curves are available" not in html
    assert "higher start" in html and "higher asymptote" in html and "40.0%" in html  # start: epoch 1's 0.4


def test_a_failing_figure_leaves_a_report_with_a_note(
    small_study: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = small_study
    doc, records = json.loads((out / "study.json").read_text()), study.read_records(out)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise IndexError("list index out of range")

    monkeypatch.setattr(figures, "accuracy_vs_time", broken)
    html = render_report(doc, records)
    assert "Some figures are missing" in html
    assert "accuracy vs training time figure could not be drawn (IndexError: list index out of range)" in html
    assert 'id="accuracy-vs-labels"' in html and html.count("data:image/png;base64,") >= 1  # the others are kept


def test_a_failing_report_keeps_the_results_and_the_json_contract(
    small_study: tuple[Path, Any], small_images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = small_study

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(report_module, "write_report", broken)
    result = runner.invoke(app, ["study", str(small_images), *IMAGE_GRID, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["report"] is None and doc["status"] == "complete"
    assert any("report.html could not be written (RuntimeError: template exploded)" in n for n in doc["notes"])
    assert not (out / "report.html").exists()  # no stale report beside a newer study.json
    assert any("could not be written" in n for n in json.loads((out / "study.json").read_text())["notes"])
    monkeypatch.undo()
    again = runner.invoke(app, ["study", str(small_images), *IMAGE_GRID, "--out", str(out), "--json"])
    assert json.loads(again.stdout)["report"] and (out / "report.html").is_file()  # a rerun retries the report


def test_strategies_help_names_every_registered_strategy() -> None:
    from headstart.cli.study import STRATEGY_CHOICES
    from headstart.strategies import STRATEGIES

    assert sorted(c.split(":")[0].split("[")[0] for c in STRATEGY_CHOICES) == sorted(STRATEGIES)
    result = runner.invoke(app, ["study", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    assert "contrastive[:K]," in help_text and "auto." in help_text
    assert "…" not in help_text.split("--strategies")[1][:200]  # wrapped, not cut


def _study_runs(fingerprint: str) -> list[tracking.RunRecord]:
    return tracking.search_runs(kind="study", fingerprints=[fingerprint], limit=50)


def test_tracked_study_records_the_default_backbone_and_data_and_skips_empty_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_modality("text"), "default_backbone", "test-text")  # --backbone omitted
    data = make_text_csv(tmp_path / "texts.csv", repeats=3)
    out = tmp_path / "tracked"
    first = api.study(data, out=str(out), **TEXT_GRID)
    fingerprint = json.loads((out / "study.json").read_text())["frame"]["data_fingerprint"]
    runs = _study_runs(fingerprint)
    assert len(runs) == 1 and runs[0].status == "FINISHED"
    assert runs[0].backbone == "test-text" and runs[0].params["backbone"] == "test-text"
    assert runs[0].data_fingerprint == fingerprint and runs[0].tags[study_run.TAG_STUDY_STATUS] == "complete"
    assert runs[0].metrics["cells_done"] == first.cells_done == 4

    again = api.study(data, out=str(out), **TEXT_GRID)  # nothing left to compute
    assert again.cells_run == 0 and again.report is not None and again.report.is_file()
    assert any("no new run was tracked" in n for n in again.notes)
    assert len(_study_runs(fingerprint)) == 1


def test_a_study_stopped_by_max_time_is_tagged_partial(tmp_path: Path) -> None:
    data = make_text_csv(tmp_path / "texts.csv", repeats=4)
    result = api.study(data, out=str(tmp_path / "stopped"), backbone="test-text", max_time=0.001, **TEXT_GRID)
    assert result.status == "partial" and result.stopped_early and result.cells_run == 1
    fingerprint = json.loads((tmp_path / "stopped" / "study.json").read_text())["frame"]["data_fingerprint"]
    (run,) = _study_runs(fingerprint)
    assert run.tags[study_run.TAG_STUDY_STATUS] == "partial" and run.tags[study_run.TAG_STOPPED] == "max_time"
    assert result.to_dict()["stopped_early"] is True
