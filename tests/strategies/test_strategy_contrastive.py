"""`contrastive`: the in-batch SupCon loss, same-class batch runs, and the strategy end to end on tiny backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import headstart
from headstart.backbones import get_backbone
from headstart.config import FitConfig
from headstart.data import load_dataset
from headstart.strategies import FitInputs, resolve_strategy
from headstart.strategies.contrastive import supervised_contrastive_loss
from headstart.strategies.training_data import epoch_order, grouped_order


def test_loss_prefers_embeddings_that_cluster_by_class() -> None:
    target = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = clustered[[0, 2, 1, 3]]  # same points, classes crossed
    assert supervised_contrastive_loss(clustered, target) < supervised_contrastive_loss(mixed, target)


def test_loss_matches_the_formula_on_a_hand_checked_case() -> None:
    # three unit vectors, two of class 0: anchors 0 and 1 each have one partner, anchor 2 none (skipped)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    target = torch.tensor([0, 0, 1])
    t = 0.1
    sims = z @ z.T / t
    expected = []
    for anchor, partner in ((0, 1), (1, 0)):
        others = [j for j in range(3) if j != anchor]
        expected.append(-(sims[anchor, partner] - torch.logsumexp(sims[anchor, others], dim=0)))
    assert supervised_contrastive_loss(z, target, temperature=t) == pytest.approx(float(torch.stack(expected).mean()))


def test_a_batch_without_pairs_gives_zero_loss_and_a_usable_graph() -> None:
    z = torch.randn(3, 4, requires_grad=True)
    loss = supervised_contrastive_loss(z, torch.tensor([0, 1, 2]))
    loss.backward()
    assert float(loss.detach()) == 0.0 and z.grad is not None and torch.all(z.grad == 0)


def test_grouped_order_puts_same_class_items_in_runs() -> None:
    targets = np.repeat(np.arange(10), 8)
    order, rng = grouped_order(targets, epoch=3, seed=0, group=4)
    assert rng is not None and sorted(order.tolist()) == list(range(80))
    runs = targets[order].reshape(-1, 4)
    assert np.all(runs == runs[:, :1])  # every run of 4 is one class
    assert len(set(runs[:, 0][:10].tolist())) > 1  # and the runs are shuffled across classes
    plain, _ = epoch_order(80, 3, 0)
    same, _ = grouped_order(targets, epoch=3, seed=0, group=1)
    np.testing.assert_array_equal(same, plain)  # group 1 is the ordinary shuffle
    np.testing.assert_array_equal(grouped_order(targets, None, 0, 4)[0], np.arange(80))  # evaluation order


@pytest.mark.parametrize("fixture,backbone", [("text_csv", "test-text"), ("image_folder", "test-cnn")])
def test_fit_tunes_the_body_keeps_the_stem_and_round_trips(
    fixture: str, backbone: str, request, tmp_path: Path
) -> None:
    data = request.getfixturevalue(fixture)
    strategy, params = resolve_strategy("contrastive")
    dataset = load_dataset(str(data))
    bb = get_backbone(backbone)
    config = FitConfig(strategy="contrastive", out=str(tmp_path / "m"), progress=False, max_epochs=3, batch_size=8)
    model = strategy.fit(FitInputs(train=dataset, backbone=bb, config=config, params=params))
    assert model.cut == 1
    pretrained = bb.module().stages
    changed = [
        not torch.equal(trained_p, original_p)
        for trained, original in zip(model.top.stages, pretrained[1:], strict=True)
        for trained_p, original_p in zip(trained.parameters(), original.parameters(), strict=True)
    ]
    assert any(changed)  # the contrastive phase moved the body
    assert len(model.report.history) == 3 and all(np.isfinite(h["train_loss"]) for h in model.report.history)
    manifest = model.manifest()["strategy"]
    assert manifest["name"] == "contrastive" and "contrastive" in manifest["objective"]["body"]

    result = headstart.fit(data, backbone=backbone, strategy="contrastive", out=str(tmp_path / "b"), progress=False,
                           max_epochs=2, batch_size=8)  # fmt: skip
    before = headstart.load(result.bundle).predict_proba(dataset)
    assert before.shape == (len(dataset), len(dataset.classes))
    np.testing.assert_allclose(headstart.load(result.bundle).predict_proba(dataset), before, atol=1e-6)


def test_contrastive_k_trains_only_the_last_k_stages(text_csv: Path, tmp_path: Path) -> None:
    strategy, params = resolve_strategy("contrastive:1")
    bb = get_backbone("test-text")
    config = FitConfig(strategy="contrastive:1", out=str(tmp_path / "m"), progress=False, max_epochs=1)
    model = strategy.fit(FitInputs(train=load_dataset(str(text_csv)), backbone=bb, config=config, params=params))
    assert model.cut == len(bb.stages) - 1 and len(model.top.stages) == 1


def test_body_trains_with_layer_wise_lr_decay(text_csv: Path, tmp_path: Path) -> None:
    from headstart.strategies.contrastive import LAYER_DECAY

    strategy, params = resolve_strategy("contrastive")
    bb = get_backbone("test-text")
    config = FitConfig(strategy="contrastive", out=str(tmp_path / "m"), progress=False, max_epochs=1, lr=1e-3)
    model = strategy.fit(FitInputs(train=load_dataset(str(text_csv)), backbone=bb, config=config, params=params))
    groups = model.manifest()["strategy"]["param_groups"]  # read back from the optimizer the Trainer used
    trained = len(bb.stages) - 1
    assert trained >= 2 and len(groups) == trained
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * LAYER_DECAY ** (trained - 1 - i) for i in range(trained)])
    assert groups[-1]["name"] == "last stage" and groups[-1]["lr"] == pytest.approx(1e-3)
    assert sum(g["params"] for g in groups) == sum(p.numel() for p in model.top.stages.parameters())
