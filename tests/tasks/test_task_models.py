"""fit → bundle → load → predict / evaluate for multi-label and regression, per strategy, on tiny backbones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import headstart
from headstart import api
from headstart.errors import StrategyError, UsageError
from tests.conftest import make_image_folder, make_text_csv
from tests.tasks.conftest import COLOUR_VALUES, make_image_table, make_multilabel_csv, make_value_folder

FAST = {"progress": False, "track": False, "max_epochs": 3}


@pytest.mark.parametrize("strategy", ["linear", "baseline", "partial:1", "full"])
def test_multilabel_text_fit_predict_evaluate(strategy: str, tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv")
    result = api.fit(table, backbone="test-text", strategy=strategy, out=str(tmp_path / "m"), **FAST)
    assert set(result.metrics) == {"micro_f1", "macro_f1", "map", "subset_accuracy", "n"}
    assert result.metrics["micro_f1"] > 0.6 and result.counts["classes"] == 4
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["task"] == "multilabel" and manifest["labels"] == ["food", "fun", "outdoor", "sport"]
    thresholds = manifest["targets"]["thresholds"]
    assert set(thresholds) == set(manifest["labels"]) and all(0 < t < 1 for t in thresholds.values())
    assert manifest["metrics"]["test"]["task"] == "multilabel"

    predictor = headstart.load(tmp_path / "m")
    texts = ["the team won the match", "spicy curry with rice"]
    proba = predictor.predict_proba(texts)
    assert proba.shape == (2, 4) and np.all((proba >= 0) & (proba <= 1))
    tags = predictor.predict(texts)
    expected = [[lab for lab, p, t in zip(predictor.labels, row, predictor.thresholds, strict=True) if p >= t]
                for row in proba]  # fmt: skip
    assert [sorted(t) for t in tags] == [sorted(t) for t in expected]
    assert "sport" in tags[0] and "food" in tags[1] and "food" not in tags[0]

    evaluated = api.evaluate(tmp_path / "m", table, progress=False)
    assert evaluated.report.task == "multilabel" and evaluated.report.n == 36
    assert set(evaluated.report.per_label) == set(predictor.labels)


@pytest.mark.parametrize("strategy", ["linear", "baseline", "partial:1", "full"])
def test_regression_image_fit_predict_evaluate(strategy: str, tmp_path: Path) -> None:
    folder = make_value_folder(tmp_path / "values")
    out = tmp_path / "m"
    options = {**FAST, "max_epochs": 15} if strategy in ("partial:1", "full") else FAST
    result = api.fit(folder, backbone="test-cnn", strategy=strategy, task="regression", out=str(out), **options)
    assert set(result.metrics) == {"mae", "rmse", "r2", "n"}
    assert result.metrics["r2"] > 0.5 and result.metrics["mae"] < 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "regression" and manifest["labels"] == ["value"]
    assert manifest["head"]["memory"] is None and "expand" in manifest["head"]["memory_reason"]

    predictor = headstart.load(out)
    red, blue = str(folder / "1" / "000.png"), str(folder / "4" / "000.png")
    values = predictor.predict([red, blue])
    assert all(isinstance(v, float) for v in values)
    assert values[0] < values[1] and abs(values[0] - COLOUR_VALUES["red"]) < 1.0
    prediction = api.predict(out, [red], progress=False).to_dict()
    assert prediction["task"] == "regression"
    assert set(prediction["predictions"][0]) == {"id", "input", "value"}
    assert prediction["predictions"][0]["value"] == pytest.approx(values[0], rel=1e-5)

    evaluated = api.evaluate(out, folder, progress=False)
    assert evaluated.report.task == "regression" and evaluated.report.n == 36 and evaluated.report.r2 > 0.5


def test_regression_with_huber_loss_is_recorded(tmp_path: Path) -> None:
    folder = make_value_folder(tmp_path / "values")
    api.fit(folder, backbone="test-cnn", strategy="partial:1", task="regression", loss="huber",
            out=str(tmp_path / "m"), **FAST)  # fmt: skip
    objective = json.loads((tmp_path / "m" / "manifest.json").read_text())["strategy"]["objective"]
    assert objective["name"] == "huber" and objective["scale"] > 0


def test_image_table_multilabel_and_predict_answers(tmp_path: Path) -> None:
    table = make_image_table(tmp_path, {"red": "warm;bright", "green": "cool;bright", "blue": "cool"})
    api.fit(table, backbone="test-cnn", out=str(tmp_path / "m"), **FAST)
    red = str(tmp_path / "colours" / "red" / "000.png")
    doc = api.predict(tmp_path / "m", [red], top_k=2, progress=False).to_dict()
    answer = doc["predictions"][0]
    assert doc["task"] == "multilabel" and set(answer) == {"id", "input", "labels", "top"}
    assert sorted(answer["labels"]) == ["bright", "warm"] and len(answer["top"]) == 2


def test_regression_on_a_text_table_with_target(tmp_path: Path) -> None:
    rows = [["text", "price"]] + [[f"{w} item {i}", str(v + i % 2)] for i in range(12)
                                  for w, v in (("cheap", 1), ("luxury", 10))]  # fmt: skip
    table = tmp_path / "prices.csv"
    table.write_text("\n".join(",".join(r) for r in rows) + "\n")
    api.fit(table, backbone="test-text", target="price", out=str(tmp_path / "m"), **FAST)
    predictor = headstart.load(tmp_path / "m")
    assert predictor.task == "regression" and predictor.labels == ["price"]
    assert predictor.manifest.targets is not None and predictor.manifest.targets.column == "price"
    cheap, luxury = predictor.predict(["cheap item 3", "luxury item 4"])
    assert cheap < luxury
    assert api.evaluate(tmp_path / "m", table, progress=False).report.n == 24  # the recorded column is found


def test_old_bundles_without_a_task_field_load_as_classification(tmp_path: Path) -> None:
    table = make_text_csv(tmp_path / "texts.csv")
    api.fit(table, backbone="test-text", out=str(tmp_path / "m"), **FAST)
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.pop("task")
    manifest.pop("targets")
    path.write_text(json.dumps(manifest))
    predictor = headstart.load(tmp_path / "m")
    assert predictor.task == "classification" and predictor.thresholds is None
    assert predictor.predict(["the team won the match"]) == ["sport"]
    doc = api.predict(tmp_path / "m", ["fresh bread"], progress=False).to_dict()
    assert set(doc["predictions"][0]) == {"id", "input", "label", "probability", "top"}


def test_strategies_and_commands_that_cannot_handle_a_kind_refuse(tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv")
    folder = make_value_folder(tmp_path / "values")
    with pytest.raises(StrategyError) as err:
        api.fit(folder, backbone="test-cnn", strategy="zero-shot", task="regression", out=str(tmp_path / "z"), **FAST)
    assert "cannot fit regression data" in err.value.what and "linear" in err.value.expected
    with pytest.raises(StrategyError, match="'auto' cannot fit multilabel"):
        api.fit(table, backbone="test-text", strategy="auto", out=str(tmp_path / "a"), **FAST)
    with pytest.raises(UsageError, match="hscore score is defined only for single-label classification"):
        api.rank(table, backbones=["test-text"], metric="hscore", progress=False)
    api.fit(folder, backbone="test-cnn", task="regression", out=str(tmp_path / "r"), **FAST)
    new_classes = make_image_folder(tmp_path / "more")
    with pytest.raises(UsageError, match="`headstart expand` does not support regression"):
        api.expand(tmp_path / "r", new_classes, out=str(tmp_path / "r2"), progress=False)
    with pytest.raises(UsageError, match="`headstart export` does not support regression") as refused:
        api.export(tmp_path / "r")
    assert "headstart serve" in refused.value.fix  # what to do instead, not "use fit"
    with pytest.raises(UsageError, match="`headstart promote` does not support regression"):
        api.promote(tmp_path / "r", over=tmp_path / "r", on=folder)
    with pytest.raises(UsageError, match="does not match the bundle"):
        api.evaluate(tmp_path / "r", folder, task="multilabel", progress=False)


def test_evaluate_names_tags_the_model_never_saw(tmp_path: Path, text_tag_bundle: Path) -> None:
    table = tmp_path / "other.csv"
    table.write_text("text,labels\nthe team won,sport;rain\nsoup,food\n")
    with pytest.raises(Exception, match="rain"):
        api.evaluate(text_tag_bundle, table, progress=False)


def test_zero_shot_multilabel_text_tunes_thresholds_on_training_items(tmp_path: Path) -> None:
    table = make_multilabel_csv(tmp_path / "tags.csv")
    result = api.fit(table, backbone="test-text", strategy="zero-shot", out=str(tmp_path / "m"), **FAST)
    assert any("thresholds tuned on" in note for note in result.notes)
    predictor = headstart.load(tmp_path / "m")
    assert predictor.task == "multilabel" and predictor.manifest.head.get("multilabel") is True
    proba = predictor.predict_proba(["the team won the match", "spicy curry with rice"])
    assert proba.shape == (2, 4) and not np.allclose(proba.sum(axis=1), 1.0)  # independent tags
    assert predictor.thresholds is not None and len(set(predictor.thresholds.tolist())) > 1


def test_zero_shot_multilabel_images_keep_each_tags_own_mass(tmp_path: Path) -> None:
    rows = {"red": "source-class-1;source-class-2", "green": "source-class-2", "blue": "source-class-3"}
    table = make_image_table(tmp_path, rows)
    api.fit(table, backbone="test-cnn", strategy="zero-shot", out=str(tmp_path / "m"), **FAST)
    predictor = headstart.load(tmp_path / "m")
    proba = predictor.predict_proba([str(tmp_path / "colours" / "red" / "000.png")])
    assert predictor.task == "multilabel" and proba.shape == (1, 3)
    assert proba.sum() < 1.0  # masses of three of ten source classes, not renormalised over the tags


def test_tracked_multilabel_fit_logs_task_metrics_and_per_tag_f1(tmp_path: Path) -> None:
    from headstart import tracking

    table = make_multilabel_csv(tmp_path / "tags.csv")
    result = api.fit(table, backbone="test-text", out=str(tmp_path / "m"), progress=False, track=True)
    assert result.run_id
    record = tracking.find_run(result.run_id)
    assert record is not None
    assert record.metrics["test_micro_f1"] == pytest.approx(result.metrics["micro_f1"])
    assert {"test_f1.sport", "test_f1.food", "test_f1.fun", "test_f1.outdoor"} <= set(record.metrics)
