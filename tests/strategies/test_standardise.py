"""Feature standardisation of the linear heads (`strategies/standardise.py`): a dead feature (float noise around 0,
as MiniLM-L6's pooled dimensions 127 and 223) is kept quiet, and a network fine-tuned from such a probe (LP-FT)
trains its stages instead of clipping infinite gradients to zero."""

from __future__ import annotations

import numpy as np
import torch

from headstart.backbones import get_backbone
from headstart.data.dataset import Dataset
from headstart.features import extract_activations
from headstart.strategies.finetune import PartialStrategy, build_top
from headstart.strategies.linear import LinearHead
from headstart.strategies.standardise import fit_standardiser
from headstart.strategies.training_data import ActivationData, activation_key
from headstart.train import Trainer, TrainerConfig


def _features_with_a_dead_column(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 6)).astype(np.float32) * 0.05
    x[:, 0] += 0.1 * y  # one informative column
    x[:, 3] = rng.uniform(0.4e-33, 1.2e-33, size=n)  # dead: the backbone's float noise
    x[:, 4] = 0.25  # exactly constant
    return x, y


def test_a_dead_or_constant_column_gets_spread_one_and_live_ones_their_own() -> None:
    x, _ = _features_with_a_dead_column()
    mean, scale = fit_standardiser(x)
    assert scale[3] == 1.0 and scale[4] == 1.0
    live = [0, 1, 2, 5]
    assert np.allclose(scale[live], x[:, live].std(axis=0), rtol=1e-5)
    assert np.allclose(mean, x.mean(axis=0), atol=1e-7)


def test_a_linear_probe_does_not_hear_a_dead_columns_noise() -> None:
    x, y = _features_with_a_dead_column()
    head = LinearHead(C=1.0, seed=0).fit(x, [str(v) for v in y])
    other = x.copy()
    other[:, 3] = np.random.default_rng(1).uniform(0.4e-33, 1.2e-33, size=len(x))  # different noise
    assert np.allclose(head.predict_proba(x), head.predict_proba(other), atol=1e-6)


def test_a_network_started_from_such_a_probe_trains_its_stages() -> None:
    backbone = get_backbone("test-text")
    texts = tuple(f"line {i} {'total' if i % 2 else 'shop'} {i * 7}" for i in range(40))
    data = Dataset(modality="text", items=texts, ids=tuple(map(str, range(40))))
    cut = len(backbone.stages) - 1
    acts = extract_activations(backbone, data, cut, progress=False)
    y = (np.arange(40) % 2)[acts.kept]
    probe_features, _ = _features_with_a_dead_column(40)
    features = np.random.default_rng(2).normal(size=(40, backbone.feature_dim)).astype(np.float32)
    features[:, 5] = probe_features[:, 3]  # the probe saw a dead column, the trained stages will move it
    probe = LinearHead(C=1.0, seed=0).fit(features, [str(v) for v in y])
    top = build_top(backbone, cut, 2)
    top.init_head_from(probe)
    before = {k: v.clone() for k, v in top.stages.state_dict().items()}
    trainer = Trainer(top, PartialStrategy().param_groups(top, 1e-3, 10.0), TrainerConfig(max_epochs=2, batch_size=8))
    trainer.fit(ActivationData(acts.values, y.astype(np.int64), "text", activation_key(backbone, cut)), None)
    moved = max(float((v - before[k]).abs().max()) for k, v in top.stages.state_dict().items())
    assert moved > 1e-4  # was ~1e-6 (weight decay alone): the clipped infinite gradients were zeroed
    assert all(torch.isfinite(p).all() for p in top.parameters())
