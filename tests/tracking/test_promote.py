"""The promotion gate on models whose per-class quality is known exactly (see conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart import api, tracking
from headstart.cli.main import app
from headstart.errors import PromotionRefused

runner = CliRunner()


def test_promote_accepts_a_better_model_and_records_it(models: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        ["promote", str(models["good"]), "--over", str(models["swapped"]), "--on", str(models["eval"]), "--json"]
        + ["--model-name", "colours"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["promoted"] is True and doc["improvement"] == pytest.approx(0.4)
    by_class = {c["label"]: c for c in doc["classes"]}
    assert by_class["red"]["current_f1"] == 0.0 and by_class["red"]["candidate_f1"] == 1.0
    decision = json.loads((models["good"] / "promotion.json").read_text())
    assert decision["promoted"] is True and decision["current"] == str(models["swapped"])
    run_id = json.loads((models["good"] / "manifest.json").read_text())["run_id"]
    assert api.run_details(run_id).promoted
    assert doc["recorded"]["registry"]["alias"] == "production"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking.tracking_uri(), registry_uri=tracking.tracking_uri())
    assert client.get_model_version_by_alias("colours", "production").run_id == run_id
    api.load(models["good"])  # promotion.json does not break the bundle


def test_promote_refuses_a_worse_model(models: dict[str, Path]) -> None:
    result = runner.invoke(
        app, ["promote", str(models["swapped"]), "--over", str(models["good"]), "--on", str(models["eval"]), "--json"]
    )
    assert result.exit_code == 6, result.output
    doc = json.loads(result.stdout)
    assert doc["error"] == "PromotionRefused" and "below the margin" in doc["message"]
    assert doc["comparison"]["promoted"] is False
    assert not (models["swapped"] / "promotion.json").exists()
    human = runner.invoke(
        app, ["promote", str(models["swapped"]), "--over", str(models["good"]), "--on", str(models["eval"])]
    )
    assert human.exit_code == 6 and "red" in human.stdout


def test_promote_refuses_a_better_model_with_a_regressed_class(models: dict[str, Path]) -> None:
    # swapped is broken on red and green (macro-F1 0.6); cycled is broken on blue, yellow, cyan (0.4)
    with pytest.raises(PromotionRefused) as err:
        api.promote(models["swapped"], models["cycled"], models["eval"], progress=False)
    comparison = err.value.comparison
    assert comparison["improvement"] == pytest.approx(0.2)
    assert comparison["regressed_classes"] == ["green", "red"]
    assert "below the margin" not in err.value.what and "green 1.000 -> 0.000" in err.value.what
    loose = api.promote(models["swapped"], models["cycled"], models["eval"], class_tolerance=1.0, progress=False)
    assert loose.promoted


def test_promote_rejects_unknown_metric(models: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        ["promote", str(models["good"]), "--over", str(models["good"]), "--on", str(models["eval"]), "--json"]
        + ["--metric", "f2"],
    )
    assert result.exit_code == 2 and json.loads(result.stdout)["error"] == "UsageError"


def test_promote_refuses_when_the_data_lacks_a_class(models: dict[str, Path], tmp_path: Path) -> None:
    """A class with no example in --on cannot be checked for a regression: refused (and named) unless allowed."""
    import shutil

    partial = tmp_path / "no-red"
    shutil.copytree(models["eval"], partial)
    shutil.rmtree(partial / "red")
    with pytest.raises(PromotionRefused) as err:
        api.promote(models["good"], models["swapped"], partial, progress=False)
    comparison = err.value.comparison
    assert comparison["unchecked_classes"] == ["red"] and comparison["improvement"] > 0.01
    assert "no example of red" in err.value.what and "--allow-missing-classes" in err.value.fix
    allowed = runner.invoke(
        app,
        ["promote", str(models["good"]), "--over", str(models["swapped"]), "--on", str(partial)]
        + ["--allow-missing-classes", "--json"],
    )
    assert allowed.exit_code == 0, allowed.output
    doc = json.loads(allowed.stdout)
    assert doc["promoted"] and doc["unchecked_classes"] == ["red"]
    assert any("no example of red" in note for note in doc["notes"])


def test_promote_refuses_the_same_bundle_twice(models: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        ["promote", str(models["good"]), "--over", str(models["good"]) + "/", "--on", str(models["eval"]), "--json"],
    )
    assert result.exit_code == 2 and "same bundle" in json.loads(result.stdout)["message"]


def test_promote_from_another_directory_records_in_the_runs_own_store(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest names the store its run went to; promote run where another (or no) store is current uses it."""
    import shutil

    candidate = tmp_path / "candidate"
    shutil.copytree(models["good"], candidate)
    (candidate / "promotion.json").unlink(missing_ok=True)
    manifest = json.loads((candidate / "manifest.json").read_text())
    own_store = manifest["tracking_uri"]
    assert own_store == tracking.tracking_uri() and manifest["run_id"]
    other = tmp_path / "elsewhere" / "mlflow.db"
    monkeypatch.setenv(tracking.ENV_URI, f"sqlite:///{other}")
    result = api.promote(candidate, models["swapped"], models["eval"], model_name="moved", progress=False)
    assert result.promoted and result.recorded["store"] == own_store
    assert any("store of the candidate's run" in note for note in result.notes)
    assert not other.exists()  # no second, empty store with its own production alias
    with tracking.using_store(own_store):
        assert api.run_details(manifest["run_id"]).promoted


def test_promote_names_a_modality_mismatch_between_the_bundles(models: dict[str, Path], tmp_path: Path) -> None:
    from tests.conftest import make_text_csv

    texts = make_text_csv(tmp_path / "texts.csv")
    text_model = api.fit(texts, backbone="test-text", out=str(tmp_path / "text-model"), progress=False, track=False)
    result = runner.invoke(
        app, ["promote", str(text_model.bundle), "--over", str(models["good"]), "--on", str(texts), "--json"]
    )
    assert result.exit_code == 2
    assert "the candidate reads text and the current model image" in json.loads(result.stdout)["message"]


def test_promote_on_the_candidates_training_data_is_refused_unless_allowed(models: dict[str, Path]) -> None:
    args = ["promote", str(models["good"]), "--over", str(models["swapped"]), "--on", str(models["good_data"])]
    args += ["--model-name", "colours-own-data", "--json"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert "the data the candidate was fitted on" in json.loads(refused.stdout)["message"]
    allowed = runner.invoke(app, [*args, "--allow-training-data"])
    assert allowed.exit_code == 0, allowed.output
    notes = json.loads(allowed.stdout)["notes"]
    assert any(n.startswith("the candidate: ") and "fitted on" in n for n in notes)


def test_promote_says_it_compared_on_the_test_split(models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "marked"
    for path in sorted(models["eval"].rglob("*.png")):
        target = data / ("test" if int(path.stem) % 2 else "train") / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    args = ["promote", str(models["good"]), "--over", str(models["swapped"]), "--on", str(data)]
    result = runner.invoke(app, [*args, "--model-name", "colours-split", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    n_test = len(list((data / "test").rglob("*.png")))
    assert doc["n"] == n_test and any("scored the test split" in n for n in doc["notes"])
    assert any(n.startswith(f"only {n_test} items of") and "95% interval" in n for n in doc["notes"])
    every = runner.invoke(app, [*args, "--model-name", "colours-split", "--split", "all", "--json"])
    assert json.loads(every.stdout)["n"] == len(list(data.rglob("*.png")))
