"""A real embedded MLflow store (the session store set in tests/conftest.py): fits are recorded runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from headstart import api, tracking
from headstart.cli.main import app
from headstart.commands.reproduce import diff_items
from headstart.errors import DataError

from .conftest import colour_folder, fit

runner = CliRunner()


def cli(*args: str, code: int = 0) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, api.FitResult]:
    data = colour_folder(tmp_path_factory.mktemp("tracked") / "data", seed=1)
    return data, fit(data, data.parent / "model", seed=3)


def test_fit_records_params_metrics_and_artifacts(tracked: tuple[Path, api.FitResult]) -> None:
    data, result = tracked
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert result.run_id and manifest["run_id"] == result.run_id
    run = api.run_details(result.run_id[:10])  # a prefix is enough
    assert run.run_id == result.run_id and run.kind == "fit" and run.status == "FINISHED"
    p = run.params
    assert p["strategy"] == "linear" and p["backbone"] == "test-cnn" and p["seed"] == "3" and p["head"] == "logreg"
    assert p["data.path"] == str(data.resolve())
    assert p["data.fingerprint"] == manifest["data"]["fingerprint"] == run.data_fingerprint
    assert p["version.torch"] == manifest["versions"]["torch"]
    assert p["machine.cpu"] and int(p["machine.cores"]) >= 1
    # a linear classification fit: no epoch/augmentation/loss options, and the C the search chose
    assert not {"augment", "views", "lr_ratio", "max_epochs", "loss", "label_descriptions"} & set(p)
    assert float(p["chosen.C"]) == manifest["head"]["C"] and p["chosen.kind"] == "logreg"
    m = run.metrics
    assert m["test_accuracy"] == result.metrics["accuracy"]
    assert m["test_macro_f1"] == result.metrics["macro_f1"] and m["test_ece"] == result.metrics["ece"]
    assert {"test_f1.red", "test_f1.cyan", "time.total_seconds", "count.train"} <= set(m)
    assert {"bundle/manifest.json", "bundle/head.safetensors", "config.json", "data_items.json", "command.json"} <= set(
        run.artifacts
    )
    assert run.tags[tracking.TAG_BUNDLE] == str(result.bundle)
    assert run.tags[tracking.TAG_COMMAND]
    config = tracking.load_json_artifact(run.run_id, "config.json")
    assert config["seed"] == 3 and config["backbone"] == "test-cnn"
    items = tracking.load_json_artifact(run.run_id, "data_items.json")["items"]
    assert len(items) == 40 and items["red/000.png"][1] == "red"


def test_epoch_curves_are_logged_with_epoch_steps(tmp_path: Path) -> None:
    data = colour_folder(tmp_path / "data", per_class=4)
    result = fit(data, tmp_path / "model", strategy="full", max_epochs=2, patience=0, augment=False)
    from mlflow.tracking import MlflowClient

    history = MlflowClient(tracking.tracking_uri()).get_metric_history(result.run_id, "train_loss")
    assert sorted(h.step for h in history) == [1, 2]


def test_runs_lists_and_filters(tracked: tuple[Path, api.FitResult]) -> None:
    data, result = tracked
    listed = cli("runs", "--data", str(data))["runs"]
    assert [r["run_id"] for r in listed] == [result.run_id]
    assert listed[0]["macro_f1"] == result.metrics["macro_f1"] and listed[0]["strategy"] == "linear"
    fingerprint = listed[0]["data_fingerprint"]
    assert result.run_id in [r["run_id"] for r in cli("runs", "--data", fingerprint[:10])["runs"]]
    assert result.run_id not in [r["run_id"] for r in cli("runs", "--strategy", "full")["runs"]]
    assert len(cli("runs", "--limit", "1")["runs"]) == 1
    shown = cli("runs", "show", result.run_id)
    assert shown["params"]["seed"] == "3" and "bundle/manifest.json" in shown["artifacts"]
    assert cli("runs", "show", "0000nope", code=2)["error"] == "UsageError"
    missing = cli("runs", "--data", "no/such/folder", code=2)  # a typo'd path is not silently a fingerprint
    assert "neither an existing path nor a data fingerprint" in missing["message"]
    assert cli("runs", "--data", fingerprint[:10].upper())["runs"]  # fingerprints are matched case-insensitively
    table = runner.invoke(app, ["runs", "--data", str(data)])
    assert table.exit_code == 0 and result.run_id[:8] in table.stdout


def test_reproduce_matches_metrics_exactly(tracked: tuple[Path, api.FitResult], tmp_path: Path) -> None:
    _, result = tracked
    doc = cli("reproduce", result.run_id, "--out", str(tmp_path / "again"))
    assert doc["matches"] is True, doc
    assert doc["metrics"]["macro_f1"]["difference"] == 0 and doc["versions_differ"] == {}
    assert doc["new_run_id"] and doc["new_run_id"] != result.run_id
    assert api.run_details(doc["new_run_id"]).tags["headstart.reproduces"] == result.run_id
    assert (tmp_path / "again" / "manifest.json").is_file()


def test_reproduce_refuses_changed_data_and_names_the_items(tmp_path: Path) -> None:
    data = colour_folder(tmp_path / "data", per_class=4)
    result = fit(data, tmp_path / "model")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(data / "red" / "002.png")  # modified
    (data / "blue" / "001.png").unlink()  # removed
    with pytest.raises(DataError) as err:
        api.reproduce(result.run_id, out=tmp_path / "again")
    assert "red/002.png" in err.value.what and "modified" in err.value.what
    assert "blue/001.png" in err.value.what and "removed" in err.value.what
    doc = cli("reproduce", result.run_id, code=3)
    assert doc["error"] == "DataError" and "red/002.png" in doc["message"]
    assert not (tmp_path / "again").exists()


def test_no_track_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = colour_folder(tmp_path / "data", per_class=4)
    store = tmp_path / "store"
    monkeypatch.setenv(tracking.ENV_URI, f"sqlite:///{store}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    doc = cli("fit", str(data), "--backbone", "test-cnn", "--out", str(tmp_path / "m1"), "--no-track")
    assert doc["run_id"] is None
    monkeypatch.setenv(tracking.ENV_NO_TRACK, "1")
    assert fit(data, tmp_path / "m3").run_id is None
    assert json.loads((tmp_path / "m3" / "manifest.json").read_text())["run_id"] is None
    assert not store.exists() and not (tmp_path / "headstart-runs").exists()
    assert api.runs() == []


def test_a_tracking_failure_never_loses_the_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = colour_folder(tmp_path / "data", per_class=4)
    monkeypatch.setenv(tracking.ENV_URI, "nosuchscheme://nowhere")
    with pytest.warns(tracking.TrackingWarning):
        result = fit(data, tmp_path / "model")
    assert result.run_id is None and (result.bundle / "manifest.json").is_file()
    assert any("tracking" in note for note in result.notes)


def test_diff_items_names_each_kind_of_change() -> None:
    old = {"a": ["1", "x", None], "b": ["2", "x", None], "c": ["3", "y", None]}
    new = {"a": ["1", "x", None], "b": ["9", "x", None], "c": ["3", "z", None], "d": ["4", "x", None]}
    changes = diff_items(old, new)
    assert (changes.modified, changes.relabelled, changes.added, changes.removed) == (["b"], ["c"], ["d"], [])
    assert "1 modified (b)" in changes.describe()


def test_diff_items_pairs_a_moved_file_as_relabelled() -> None:
    old = {"rose/1.jpg": ["d1", "rose", None], "rose/2.jpg": ["d2", "rose", None], "tulip/3.jpg": ["d3", "tulip", None]}
    new = {
        "daisy/1.jpg": ["d1", "daisy", None],
        "rose/2b.jpg": ["d2", "rose", None],
        "tulip/3.jpg": ["d3", "tulip", None],
    }
    changes = diff_items(old, new)
    assert changes.relabelled == ["rose/1.jpg -> daisy/1.jpg"] and changes.renamed == ["rose/2.jpg -> rose/2b.jpg"]
    assert (
        changes.added == []
        and changes.removed == []
        and "1 relabelled (rose/1.jpg -> daisy/1.jpg)" in changes.describe()
    )


def test_default_store_is_under_headstart_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(tracking.ENV_URI)
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/headstart-runs/mlflow.db"
    monkeypatch.setenv(tracking.ENV_URI, str(tmp_path / "elsewhere"))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/elsewhere/mlflow.db"
    assert os.environ[tracking.ENV_URI].endswith("elsewhere")


def test_no_track_on_rank_study_and_expand_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = colour_folder(tmp_path / "data", per_class=6)
    new = tmp_path / "new"
    (new / "magenta").mkdir(parents=True)
    for i, image in enumerate(sorted((data / "red").iterdir())):
        (new / "magenta" / f"{i}.png").write_bytes(image.read_bytes())
    parent = fit(data, tmp_path / "m", track=False)
    store = tmp_path / "store"
    monkeypatch.setenv(tracking.ENV_URI, f"sqlite:///{store}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    cli("rank", str(data), "--backbones", "test-cnn", "--no-track")
    cli("study", str(data), "--backbone", "test-cnn", "--strategies", "linear", "--budgets", "3", "--seeds", "1",
        "--out", str(tmp_path / "study"), "--no-energy", "--no-track")  # fmt: skip
    cli("expand", str(parent.bundle), str(new), "--out", str(tmp_path / "m2"), "--no-track")
    assert not store.exists() and not (tmp_path / "headstart-runs").exists()


def test_runs_with_nothing_found_names_the_store_it_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty `runs` says where it looked, so a user in another directory knows why."""
    monkeypatch.setenv(tracking.ENV_URI, str(tmp_path / "empty-store"))
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path.resolve()}/empty-store/mlflow.db" in result.stdout and "HEADSTART_TRACKING_URI" in result.stdout
