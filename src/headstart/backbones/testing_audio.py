"""`test-audio`: a tiny deterministic recurrent encoder with the voice-encoder's front-end and stage layout.

Two LSTM(8) stages and a projection to 8-d on the same 1.6 s mel windows, weights from a fixed torch seed
(global RNG untouched): every audio code path (windows, cuts, caching, ONNX, fine-tuning) runs in milliseconds.
"""

from __future__ import annotations

from typing import cast

import torch

from headstart.backbones.audio_staged import AudioStagedBackbone
from headstart.backbones.audio_stages import Projection, recurrent_stages
from headstart.backbones.catalog import TEST_AUDIO_INFO
from headstart.backbones.stage_net import StagedNet
from headstart.backbones.staged import eval_frozen
from headstart.data.audio import N_MELS

SEED = 0


class TestAudio(AudioStagedBackbone):
    """2 x LSTM(8) -> linear(8) -> ReLU -> L2 per window; windows averaged per recording. `test-audio#pool=last+mean`
    pools as the voice-encoder's default (each window's d-vector and its frame mean: 16-d)."""

    __test__ = False  # not a pytest class
    name = "test-audio"
    feature_dim = 8
    license = "MIT"

    def __init__(self, pool: str | None = None) -> None:
        summary = self.choose_pool(pool)
        self.feature_dim = 16 if summary == "last+mean" else 8
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            names, stages = recurrent_stages(N_MELS, 8, 2, 8, summary)
            with torch.no_grad():
                cast(Projection, stages[-1]).linear.bias.fill_(0.1)  # keep ReLU outputs non-zero
        self._net = eval_frozen(StagedNet(names, stages))  # type: ignore[assignment]
        self._info = TEST_AUDIO_INFO
