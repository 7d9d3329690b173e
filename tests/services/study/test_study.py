"""`headstart study` on tiny backbones: files, resume, --max-time, honest energy labels, the CLI."""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.cli.main import app
from headstart.energy import EnergyMeter
from tests.conftest import make_text_csv

study = importlib.import_module("headstart.services.study")  # `headstart.study` itself is the api function
study_run = importlib.import_module("headstart.services.study.run")  # where run_study looks run_cell up
runner = CliRunner()
GRID = {"backbone": "test-text", "strategies": "linear,partial:1,baseline", "budgets": "2,all", "seeds": 1}
FAST = {"max_epochs": 2, "progress": False}


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_text_csv(tmp_path_factory.mktemp("data") / "texts.csv")


@pytest.fixture(scope="module")
def finished(texts: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("study") / "out"
    return out, api.study(texts, out=str(out), **GRID, **FAST)


def _lines(out: Path) -> list[dict[str, Any]]:
    return study.read_records(out)


def test_tiny_study_writes_every_file(finished: tuple[Path, Any]) -> None:
    out, result = finished
    assert result.status == "complete" and result.cells_total == 6 == result.cells_done
    for name in ("results.jsonl", "results.csv", "results.parquet", "study.json", "report.html"):
        assert (out / name).is_file(), name
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert {r["strategy"] for r in rows} == {"linear", "partial:1", "baseline"}
    assert all(float(r["accuracy"]) >= 0 and float(r["fit_seconds"]) > 0 for r in rows)
    doc = json.loads((out / "study.json").read_text())
    assert doc["status"] == "complete" and doc["grid"]["cells"] == 6 and doc["verdict"]["headline"]
    # one fixed test split: every cell scored on the same number of items
    assert len({c["n_test"] for c in doc["cells"]}) == 1
    # gradient cells carry their validation curve
    partial = [c for c in doc["cells"] if c["strategy"] == "partial:1"]
    assert all(c["history"] for c in partial)  # tiny budgets train without a validation split (no val curve)


def test_report_is_self_contained_with_every_section(finished: tuple[Path, Any]) -> None:
    html = (finished[0] / "report.html").read_text()
    for section in ("verdict", "accuracy-vs-labels", "accuracy-vs-time", "energy", "learning-curves", "results"):
        assert f'id="{section}"' in html
    assert html.count("data:image/png;base64,") >= 3  # labels, time, energy
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside
    # 24 items: partial:1 trains without a validation split, so there is no curve (not an empty plot)
    assert 'alt="learning curves"' not in html and "No learning curves are available at this data size" in html
    assert "estimated" in html  # no RAPL here: the report must say so


def test_rerun_skips_finished_cells_and_a_killed_cell_reruns(
    finished: tuple[Path, Any], texts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = finished
    calls: list[str] = []
    original = study.run_cell

    def counting(cell: study.Cell, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(cell.key)
        return original(cell, *args, **kwargs)

    monkeypatch.setattr(study_run, "run_cell", counting)
    again = api.study(texts, out=str(out), **GRID, **FAST)
    assert calls == [] and again.cells_run == 0 and again.status == "complete"

    # a kill mid-write: the last record is gone and a half line is left behind
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    resumed = api.study(texts, out=str(out), **GRID, **FAST)
    assert calls == [json.loads(lines[-1])["key"]] and resumed.status == "complete"


def test_different_settings_in_the_same_folder_are_refused(finished: tuple[Path, Any], texts: Path) -> None:
    from headstart.errors import UsageError

    with pytest.raises(UsageError, match="different"):
        api.study(texts, out=str(finished[0]), **GRID, **{**FAST, "max_epochs": 3})
    with pytest.raises(UsageError, match="different training"):
        api.study(texts, out=str(finished[0]), **GRID, **{**FAST, "prompt_templates": ["a photo of a {}."]})
    # unset, the prompt templates are not part of the frame: a study written before the option still continues
    assert "prompt_templates" not in json.loads((finished[0] / "study.json").read_text())["frame"]["training"]


def test_max_time_stops_after_a_cell_with_partial_results_and_report(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "partial"
    result = api.study(texts, out=str(out), max_time=0.001, **GRID, **FAST)
    assert result.status == "partial" and result.cells_run == 1 and result.cells_done == 1
    assert len(_lines(out)) == 1
    html = (out / "report.html").read_text()
    assert "Partial results" in html and "1 of 6 cells" in html
    assert json.loads((out / "study.json").read_text())["status"] == "partial"
    assert any("max-time" in n for n in result.notes)


def test_energy_is_labelled_honestly(finished: tuple[Path, Any]) -> None:
    for cell in _lines(finished[0]):
        label = cell["energy_label"]
        assert label in ("measured", "estimated", "unavailable")
        if label == "unavailable":
            assert cell["energy_kwh"] is None and cell["co2_g"] is None
        else:
            assert cell["energy_kwh"] >= 0 and cell["co2_g"] >= 0
            assert cell["measured"] == (label == "measured")
            assert cell["method"].startswith(label)  # "estimated: ..." or "measured: ..."


def test_energy_meter_writes_no_file_and_survives_codecarbon_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with EnergyMeter("FRA") as meter:
        sum(range(10_000))
    assert list(tmp_path.iterdir()) == []  # no emissions.csv, no lock file
    assert meter.reading.country == "FRA" and meter.reading.label in ("measured", "estimated")

    def broken(self: EnergyMeter) -> Any:
        raise RuntimeError("no power data")

    monkeypatch.setattr(EnergyMeter, "_make_tracker", broken)
    with EnergyMeter("FRA") as meter:
        pass
    assert meter.reading.energy_kwh is None and meter.reading.label == "unavailable"
    assert "could not run" in meter.reading.method


def test_unknown_country_suggests_a_code() -> None:
    from headstart.errors import UsageError

    with pytest.raises(UsageError, match="unknown country code"):
        EnergyMeter("FRANCE-ISH")


def test_parse_grid() -> None:
    assert study.parse_budgets("20, 5,all,5") == [5, 20, None]
    assert study.parse_strategies("linear, partial:2,linear") == ["linear", "partial:2"]
    cells = study.plan_cells(["zero-shot", "linear"], [5, None], 2)
    assert [c.key for c in cells] == ["zero-shot|0|0", "linear|5|0", "linear|all|0", "linear|5|1", "linear|all|1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "linaer,baseline"], "did you mean 'linear'"),
        (["--budgets", "5,zero"], "not a positive whole number or 'all'"),
        (["--budgets", "0"], "not a positive whole number or 'all'"),
        (["--seeds", "0"], "seeds"),
    ],
)
def test_cli_rejects_bad_grids(texts: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["study", str(texts), "--out", str(tmp_path / "s"), *args, "--json"])
    assert result.exit_code == 2, result.output
    assert message in json.loads(result.stdout)["message"]


def test_cli_passes_options_to_one_api_call(texts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(data: str, **options: Any) -> Any:
        seen.update(options, data=data)
        raise KeyboardInterrupt  # stop here; the arguments are what matters

    monkeypatch.setattr(api, "study", fake)
    args = ["study", str(texts), "--backbone", "test-text", "--strategies", "linear,full", "--budgets", "5,all",
            "--seeds", "2", "--max-time", "30m", "--country", "DEU", "--target-accuracy", "0.9",
            "--time-limit-per-fit", "90s", "--out", str(tmp_path / "s")]  # fmt: skip
    runner.invoke(app, args)
    assert seen["strategies"] == "linear,full" and seen["budgets"] == "5,all" and seen["seeds"] == 2
    assert seen["max_time"] == 1800 and seen["time_limit_per_fit"] == 90 and seen["country"] == "DEU"
    assert seen["target_accuracy"] == 0.9


def test_cli_runs_a_study_and_prints_json(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["study", str(texts), "--backbone", "test-text", "--strategies", "linear,baseline", "--budgets", "2",
            "--seeds", "1", "--out", str(out), "--no-energy", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "complete" and doc["cells"]["done"] == 2
    assert all(r["energy_label"] == "unavailable" for r in doc["summary"])
    assert Path(doc["report"]).is_file()
