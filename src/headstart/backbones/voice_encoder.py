"""`voice-encoder`: the GE2E speaker encoder whose weights ship in the resemblyzer wheel (Apache-2.0).

Only the weights file (`resemblyzer/pretrained.pt`) is taken from the wheel, loaded with
`torch.load(weights_only=True)` (no pickled code runs); resemblyzer itself is never imported (its VAD
dependency does not import on current setuptools). The network is rebuilt here as stages: three LSTM layers
(256) then a linear projection with ReLU and L2 normalisation, 256-d, on 40-band mel windows of 1.6 s.

Two poolings (`voice-encoder#pool=...`, `audio_staged.POOLS`; recorded in the manifest's backbone options, the
feature-cache key and the export card):
- `last+mean` (the default): GE2E's d-vector of each window, then the last LSTM layer's outputs averaged over
  the window's frames (statistics pooling), each L2-normalised, 512-d; windows averaged and L2-normalised. On FSDD speaker ID it beats the GE2E d-vector at every number of clips per speaker
  (bench/audio.py, BENCHMARKS.md): most clips are shorter than a window, so GE2E reads its final frame after up
  to 1.2 s of zero padding, where the mean over the window's frames also sees the speech.
- `last`: GE2E's own d-vector, the projection of each window's final frame; a recording's d-vector is the
  L2-normalised mean of its windows' (resemblyzer's `embed_utterance`, matched to 1e-5 by a test).
"""

from __future__ import annotations

import importlib.util
from functools import cached_property
from pathlib import Path
from typing import cast

import torch

from headstart.backbones.audio_staged import AudioStagedBackbone
from headstart.backbones.audio_stages import LSTMStage, Projection, recurrent_stages
from headstart.backbones.catalog import VOICE_ENCODER_INFO
from headstart.backbones.hashing import file_sha256
from headstart.backbones.stage_net import StagedNet
from headstart.backbones.staged import eval_frozen
from headstart.data.audio import N_MELS
from headstart.errors import BackboneError

WHEEL = "resemblyzer"
HIDDEN = 256
LAYERS = 3


def weights_path() -> Path | None:
    """Where the installed resemblyzer wheel keeps `pretrained.pt` (found without importing the package)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    return path if path.is_file() else None


def weights_installed() -> bool:
    return weights_path() is not None


class VoiceEncoder(AudioStagedBackbone):
    """GE2E: 3 x LSTM(256) -> linear(256) -> ReLU -> L2 per 1.6 s window, pooled by `pool`, averaged per recording."""

    name = "voice-encoder"
    feature_dim = 2 * HIDDEN
    license = "Apache-2.0"
    default_pool = "last+mean"

    def __init__(self, pool: str | None = None) -> None:
        summary = self.choose_pool(pool)
        path = weights_path()
        if path is None:
            raise BackboneError(
                "the voice-encoder weights are not installed",
                expected="the resemblyzer wheel (resemblyzer/pretrained.pt)",
                fix="pip install --no-deps resemblyzer",
            )
        self._path = path
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["model_state"]
        names, stages = recurrent_stages(N_MELS, HIDDEN, LAYERS, HIDDEN, summary)
        self.feature_dim = 2 * HIDDEN if summary == "last+mean" else HIDDEN
        with torch.no_grad():
            for i in range(LAYERS):
                lstm = cast(LSTMStage, stages[i]).lstm
                for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(lstm, f"{part}_l0").copy_(state[f"lstm.{part}_l{i}"])
            projection = cast(Projection, stages[-1]).linear
            projection.weight.copy_(state["linear.weight"])
            projection.bias.copy_(state["linear.bias"])
        self._net = eval_frozen(StagedNet(names, stages))  # type: ignore[assignment]
        self._info = VOICE_ENCODER_INFO

    @cached_property
    def _sha(self) -> str:
        return file_sha256(self._path)
