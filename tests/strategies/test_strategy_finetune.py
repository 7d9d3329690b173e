"""partial:K, full and scratch on tiny backbones: fit, predict, round trip, frozen parts, cached prefix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import headstart
from headstart.backbones import get_backbone
from headstart.batches import decode_item
from headstart.bundle import save_bundle
from headstart.config import FitConfig
from headstart.data import load_dataset
from headstart.errors import StrategyError
from headstart.features import extract_activations
from headstart.strategies import FitInputs, get_strategy, resolve_strategy
from headstart.strategies.finetune import build_top
from headstart.strategies.training_data import ActivationData, RecomputedPrefixData
from headstart.train import Trainer, TrainerConfig


def fit_model(data: Path, backbone: str, spec: str, tmp_path: Path, **options):
    strategy, params = resolve_strategy(spec)
    config = FitConfig(strategy=spec, out=str(tmp_path / "m"), progress=False, max_epochs=4, **options)
    dataset = load_dataset(str(data))
    return strategy.fit(
        FitInputs(train=dataset, backbone=get_backbone(backbone), config=config, params=params)
    ), dataset


@pytest.mark.parametrize("spec", ["partial:1", "partial:2", "full", "scratch"])
@pytest.mark.parametrize("fixture,backbone", [("image_folder", "test-cnn"), ("text_csv", "test-text")])
def test_fit_predict_and_bundle_roundtrip(spec: str, fixture: str, backbone: str, request, tmp_path: Path) -> None:
    data = request.getfixturevalue(fixture)
    model, dataset = fit_model(data, backbone, spec, tmp_path)
    before = model.predict_dataset(dataset).proba
    assert before.shape == (len(dataset), len(dataset.classes))
    assert model.report is not None and model.report.history
    manifest = {"labels": model.labels, "modality": dataset.modality, **model.manifest()}
    manifest["backbone"] = {"name": backbone, "weights_sha256": get_backbone(backbone).weights_sha256}
    path = save_bundle(tmp_path / "bundle", manifest, model.tensors())
    after = headstart.load(path).predict_proba(dataset)
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_transfer_learns_the_easy_images(tmp_path: Path) -> None:
    from tests.conftest import make_image_folder

    data = make_image_folder(tmp_path / "images", per_class=45, size=32)  # enough to hold out a validation split
    result = headstart.fit(data, backbone="test-cnn", strategy="partial:1", out=str(tmp_path / "m"), progress=False)
    assert result.metrics["accuracy"] >= 0.8
    manifest = headstart.load(result.bundle).manifest.to_dict()
    assert len(manifest["strategy"]["trainable_stages"]) == 1
    names = [g["name"] for g in manifest["strategy"]["param_groups"]]
    assert names == ["pretrained stages", "head"]
    lrs = [g["lr"] for g in manifest["strategy"]["param_groups"]]
    assert lrs == [pytest.approx(1e-4), pytest.approx(1e-3)]  # configured rates, not the decayed ones
    assert manifest["history"] and "val_accuracy" in manifest["history"][0]
    assert any("held out" in note for note in manifest["notes"])


def test_tiny_data_trains_on_everything_without_validation(image_folder: Path, tmp_path: Path) -> None:
    result = headstart.fit(
        image_folder, backbone="test-cnn", strategy="partial:1", out=str(tmp_path / "m"), progress=False
    )
    manifest = headstart.load(result.bundle).manifest.to_dict()
    assert "val_accuracy" not in manifest["history"][0]
    assert any("too few to hold out" in note for note in result.notes)


def test_pretrained_batchnorm_stays_in_inference_mode(image_folder: Path, tmp_path: Path) -> None:
    model, _ = fit_model(image_folder, "test-cnn", "partial:2", tmp_path)
    backbone = get_backbone("test-cnn")
    cut = model.cut
    for trained, pretrained in zip(model.top.stages, backbone.module().stages[cut:], strict=True):
        for (name, buf), (_, original) in zip(trained.named_buffers(), pretrained.named_buffers(), strict=True):
            if "running" in name:
                assert torch.equal(buf, original), name  # statistics untouched by small noisy batches


def test_frozen_parameters_do_not_change(image_folder: Path, tmp_path: Path) -> None:
    backbone = get_backbone("test-cnn")
    original = {k: v.clone() for k, v in backbone.module().state_dict().items()}
    model, _ = fit_model(image_folder, "test-cnn", "partial:1", tmp_path)
    for key, value in backbone.module().state_dict().items():
        assert torch.equal(value, original[key]), key  # the shared pretrained network is untouched
    cut = model.cut
    trained = model.top.stages[0].state_dict()
    pretrained = backbone.module().stages[cut].state_dict()
    assert any(not torch.equal(trained[k], pretrained[k]) for k in trained)  # the trainable stage did learn


def test_scratch_starts_from_random_weights(image_folder: Path) -> None:
    backbone = get_backbone("test-cnn")
    top = build_top(backbone, 0, 3, pretrained=False)
    pretrained = backbone.module().stages[0].state_dict()
    fresh = top.stages[0].state_dict()
    assert any(not torch.equal(fresh[k], pretrained[k]) for k in fresh if fresh[k].is_floating_point())


def test_partial_k_out_of_range_is_explained(image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="partial:9 does not fit"):
        fit_model(image_folder, "test-cnn", "partial:9", tmp_path)
    with pytest.raises(StrategyError, match="partial:x: K must be a whole number"):
        fit_model(image_folder, "test-cnn", "partial:x", tmp_path)
    with pytest.raises(StrategyError, match="partial:0 trains no stage") as err:
        fit_model(image_folder, "test-cnn", "partial:0", tmp_path)
    assert "`linear`" in (err.value.fix or "")
    with pytest.raises(StrategyError, match="contrastive:9 does not fit"):  # named as the user wrote it
        fit_model(image_folder, "test-cnn", "contrastive:9", tmp_path)


@pytest.mark.parametrize("fixture,backbone", [("image_folder", "test-cnn"), ("text_csv", "test-text")])
def test_cached_prefix_training_matches_recomputing_it(fixture: str, backbone: str, request) -> None:
    """Same seed and init, no augmentation: training on cached ONNX activations and on activations recomputed
    in torch each epoch gives the same losses (rtol 1e-5) and the same predicted probabilities (atol 1e-3).

    Weights are not compared one by one: a conv bias followed by BatchNorm has a zero true gradient, and Adam
    turns the 1e-7 numerical noise between ONNX Runtime and torch into full-size steps on it (BatchNorm then
    mostly cancels them: probabilities agree to ~3e-4)."""
    data = request.getfixturevalue(fixture)
    bb = get_backbone(backbone)
    dataset = load_dataset(str(data))
    cut = len(bb.stages) - 1
    key = bb.activation_key
    labels = dataset.classes
    targets = np.array([labels.index(label) for label in dataset.labels], dtype=np.int64)
    acts = extract_activations(bb, dataset, cut, progress=False)
    cached = ActivationData(acts.values, targets, bb.modality, key)
    items = [decode_item(dataset, i) for i in range(len(dataset))]
    recomputed = RecomputedPrefixData(bb, items, targets, cut, key)
    losses, predictions = [], []
    for data_source in (cached, recomputed):
        torch.manual_seed(0)
        top = build_top(bb, cut, len(labels))
        trainer = Trainer(top, [{"params": list(top.parameters()), "lr": 1e-3}], TrainerConfig(max_epochs=3, seed=0))
        state = trainer.fit(data_source, None)
        losses.append([h["train_loss"] for h in state.history])
        top.eval()
        with torch.no_grad():
            batches = list(cached.batches(64, epoch=None, seed=0))
            predictions.append(torch.cat([torch.softmax(top(s), dim=1) for s, _ in batches]).numpy())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    np.testing.assert_allclose(predictions[0], predictions[1], atol=1e-3)


def test_augmented_views_are_cached_and_reused(image_folder: Path, tmp_path: Path) -> None:
    from headstart.augment import AugmentSpec
    from headstart.feature_store import FeatureStore

    bb = get_backbone("test-cnn")
    dataset = load_dataset(str(image_folder)).subset(range(6))
    store = FeatureStore(tmp_path / "store")
    first = extract_activations(bb, dataset, 2, views=3, augment=AugmentSpec(), store=store, progress=False)
    assert first.n_computed == 18
    assert not np.allclose(first.values[0][0], first.values[0][1])  # views differ
    again = extract_activations(bb, dataset, 2, views=3, augment=AugmentSpec(), store=store, progress=False)
    assert again.n_computed == 0
    np.testing.assert_array_equal(again.values[0][2], first.values[0][2])


def test_strategy_names_are_checked() -> None:
    with pytest.raises(StrategyError, match="did you mean 'partial'"):
        get_strategy("partail")
