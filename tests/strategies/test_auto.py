"""The `auto` strategy: its decision rule on synthetic score tables, and fit/load end to end on tiny backbones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import headstart
from headstart.errors import StrategyError
from headstart.strategies import auto
from headstart.strategies.auto import decide, needs_cuts
from headstart.transferability import ScoreRow
from tests.conftest import make_image_folder


def row(backbone: str, cut: int, logme: float, knn: float = 0.5, n_stages: int = 5) -> ScoreRow:
    scores = {"logme": logme, "knn": knn, "hscore": 1.0, "nce": float("nan"), "leep": float("nan")}
    return ScoreRow(backbone, cut, f"s{cut}", n_stages, 16, 100, scores, 0.0, {})


TABLE = [
    row("small", 5, -0.50, knn=0.70),
    row("big", 5, -0.30, knn=0.75),
    row("big", 3, -0.20),
    row("big", 1, -0.60),
]


def test_no_labels_means_zero_shot() -> None:
    d = decide([], 0, candidates=["efficientnet-lite0"])
    assert (d.strategy, d.backbone, d.rule) == ("zero-shot", "efficientnet-lite0", "R0")


def test_few_labels_means_linear_on_the_best_last_cut() -> None:
    d = decide(TABLE, 5)
    assert (d.strategy, d.backbone, d.cut, d.rule) == ("linear", "big", 5, "R1")
    assert "5 labels per class" in d.reason


def test_tight_time_budget_means_linear() -> None:
    assert decide(TABLE, 150, time_budget=60).rule == "R2"
    assert decide(TABLE, 150, time_budget=60).strategy == "linear"


def test_separable_frozen_features_mean_linear() -> None:
    table = [row("big", 5, -0.1, knn=0.97), row("big", 2, 0.5)]
    assert decide(table, 150).rule == "R3"


def test_an_earlier_better_cut_means_partial_after_it() -> None:
    d = decide(TABLE, 150)
    assert (d.strategy, d.backbone, d.cut, d.rule) == ("partial:2", "big", 3, "R4")
    assert decide(TABLE, 64).rule == "R1"  # below FEW_LABELS the probe wins on the benchmarks, whatever the cuts say


def test_many_labels_and_time_mean_full_else_partial_1() -> None:
    table = [row("big", 5, -0.3), row("big", 3, -0.4), row("small", 5, -0.5)]
    assert decide(table, 200).strategy == "full"
    assert decide(table, 200, time_budget=3600).rule == "R5"
    assert decide(table, 200, time_budget=600).strategy == "partial:1"
    assert decide(table, 30).rule == "R1"


def test_zero_shot_as_good_as_the_frozen_features_means_zero_shot() -> None:
    d = decide(TABLE, 8, zero_shot_accuracy=0.80)  # best last cut is "big", kNN 0.75
    assert (d.strategy, d.backbone, d.rule) == ("zero-shot", "big", "RZ")
    assert "0.800" in d.reason and "0.750" in d.reason
    assert decide(TABLE, 8, zero_shot_accuracy=0.74).rule == "R1"
    assert decide(TABLE, 500, zero_shot_accuracy=0.75).rule == "R4"  # a tie goes to training (kNN underrates it)
    assert decide(TABLE, 500, zero_shot_accuracy=None).rule == "R4"  # not measured: RZ is skipped
    no_knn = [row("big", 5, -0.3, knn=float("nan"))]
    assert decide(no_knn, 8, zero_shot_accuracy=0.99).rule == "R1"


def test_few_class_texts_with_enough_labels_mean_contrastive() -> None:
    two = auto.DataShape("text", n_classes=2, n_items=128, words_per_item=10.0)
    d = decide(TABLE, 64, zero_shot_accuracy=0.80, shape=two)  # zero-shot beats kNN, but 64/class tune the body
    assert (d.strategy, d.rule, d.cut) == ("contrastive", "RC", 1) and "2 classes" in d.reason
    assert decide(TABLE, 16, zero_shot_accuracy=0.80, shape=two).rule == "RZ"  # fewer labels: label names first
    assert decide(TABLE, 16, zero_shot_accuracy=0.70, shape=two).rule == "RC"
    assert decide(TABLE, 4, zero_shot_accuracy=0.70, shape=two).rule == "R1"  # below CONTRASTIVE_MIN_LABELS
    many = auto.DataShape("text", n_classes=77, n_items=77 * 64, words_per_item=12.0)
    assert decide(TABLE, 64, shape=many).rule == "R1"  # many classes: the probe leads at a fraction of the time
    images = auto.DataShape("image", n_classes=2, n_items=128)
    assert decide(TABLE, 64, shape=images).rule == "R1"
    assert decide(TABLE, 64, time_budget=10, shape=two).rule == "R1"  # its estimate does not fit the budget
    long = auto.DataShape("text", n_classes=4, n_items=4 * 1000, words_per_item=40.0)  # ~5,000 CPU s estimated
    assert (
        auto.contrastive_seconds(long) > auto.CONTRASTIVE_MAX_SECONDS and decide(TABLE, 1000, shape=long).rule != "RC"
    )


def test_other_metrics_and_missing_scores() -> None:
    table = [row("a", 5, -0.1, knn=0.6), row("b", 5, -0.5, knn=0.8)]
    assert decide(table, 5).backbone == "a"
    assert decide(table, 5, metric="knn").backbone == "b"
    with pytest.raises(StrategyError):
        decide(table, 5, metric="leep")  # NaN everywhere
    assert needs_cuts(table, "a") and not needs_cuts(TABLE, "big")


def test_fit_auto_end_to_end_writes_reasoning_and_loads(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto-model"
    result = headstart.fit(
        image_folder,
        strategy="auto",
        candidates=["test-cnn"],
        out=str(out),
        progress=False,
        track=False,
        text_backbone="test-text",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["strategy"]["auto"]
    assert manifest["strategy"]["name"] == record["decision"]["strategy"].partition(":")[0]
    assert manifest["backbone"]["name"] == "test-cnn" == result.backbone
    assert record["candidates"] == ["test-cnn"] and record["scores"][0]["scores"]["logme"] is not None
    # the colour labels match no source class of test-cnn: zero-shot cannot run, so RZ is skipped, and said so
    assert record["zero_shot_train_accuracy"] is None and any("RZ skipped" in n for n in record["notes"])
    assert set(record["scores"][0]["scores"]) == {"logme", "knn"}  # only the scores its rules read are computed
    assert any(n.startswith("auto chose") for n in result.notes)
    model = headstart.load(out)
    assert set(model.predict([str(next((image_folder / "red").iterdir()))])) <= {"red", "green", "blue"}


def test_fit_auto_measures_zero_shot_on_texts_for_rule_rz(text_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto-text"
    headstart.fit(text_csv, strategy="auto", candidates=["test-text"], out=str(out), progress=False, track=False)
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["strategy"]["auto"]
    accuracy = record["zero_shot_train_accuracy"]
    assert 0.0 <= accuracy <= 1.0
    knn = next(r["scores"]["knn"] for r in record["scores"] if r["cut"] == r["n_stages"])
    assert (record["decision"]["rule"] == "RZ") == (accuracy > knn)
    assert manifest["strategy"]["name"] == record["decision"]["strategy"].partition(":")[0]


def test_fit_auto_can_choose_partial_and_respects_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto, "GOOD_KNN", 1.01)  # never "already separable": go on to the cut rules
    monkeypatch.setattr(auto, "FEW_LABELS", 10)  # 16 images per class count as "enough to fine-tune"
    monkeypatch.setattr(auto.AutoStrategy, "_zero_shot_accuracy", lambda *a: None)  # RZ is tested above
    image_folder = make_image_folder(tmp_path / "images", per_class=16)  # >= 10 train labels per class
    out = tmp_path / "auto-partial"
    headstart.fit(
        image_folder,
        strategy="auto",
        backbone="test-cnn",
        out=str(out),
        max_epochs=1,
        views=1,
        augment=False,
        time_budget=900,
        progress=False,
        track=False,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    decision = manifest["strategy"]["auto"]["decision"]
    assert decision["rule"] in ("R4", "R6")
    assert manifest["strategy"]["name"] == "partial"
    assert {r["cut"] for r in manifest["strategy"]["auto"]["scores"]} == {1, 2, 3}  # cuts ranked for R4
    assert headstart.load(out).predict_proba([str(next((image_folder / "blue").iterdir()))]).shape == (1, 3)


def test_auto_returns_the_chosen_model_itself_with_its_section(text_csv: Path, tmp_path: Path) -> None:
    from headstart.config import FitConfig
    from headstart.data import load_dataset
    from headstart.strategies import FitInputs, get_strategy
    from headstart.strategies.auto import AutoSection
    from headstart.strategies.feature_model import FeatureHeadModel
    from headstart.strategies.finetune import FinetuneModel

    config = FitConfig(strategy="auto", candidates=["test-text"], out=str(tmp_path / "m"), progress=False)
    model = get_strategy("auto").fit(FitInputs(train=load_dataset(str(text_csv)), backbone=None, config=config))
    section = model.chosen_by
    assert isinstance(section, AutoSection)
    assert type(model) in (FeatureHeadModel, FinetuneModel)  # the chosen strategy's own model, no proxy
    assert model.sections()["strategy"]["name"] == section.decision.strategy.partition(":")[0]
    assert model.manifest()["strategy"]["auto"] == section.to_dict()


@pytest.mark.parametrize("measured", [True, False])
def test_zero_shot_is_measured_unless_rc_precedes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measured: bool
) -> None:
    from headstart.config import FitConfig
    from headstart.data import load_dataset
    from headstart.strategies import FitInputs, get_strategy
    from tests.conftest import make_text_csv

    train = load_dataset(str(make_text_csv(tmp_path / "t.csv")))
    n = min(train.class_counts().values())
    monkeypatch.setattr(auto, "CONTRASTIVE_MIN_LABELS", 2)
    monkeypatch.setattr(auto, "CONTRASTIVE_OVER_ZERO_SHOT", n + 1 if measured else n)  # RC precedes RZ from there
    config = FitConfig(strategy="auto", candidates=["test-text"], progress=False)
    section = get_strategy("auto").choose(FitInputs(train=train, backbone=None, config=config))  # type: ignore[attr-defined]
    assert (section.zero_shot_train_accuracy is not None) is measured
    assert section.decision.rule in (("RZ", "RC") if measured else ("RC",))
