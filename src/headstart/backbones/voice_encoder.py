"""`voice-encoder`: the GE2E speaker encoder whose weights ship in the resemblyzer wheel (Apache-2.0).

Only the weights file (`resemblyzer/pretrained.pt`) is taken from the wheel, loaded with
`torch.load(weights_only=True)` (no pickled code runs); resemblyzer itself is never imported (its VAD
dependency does not import on current setuptools). The network is rebuilt here as stages: three LSTM layers
(256) then a linear projection with ReLU and L2 normalisation, 256-d, on 40-band mel windows of 1.6 s.

Two poolings (`voice-encoder#pool=...`, recorded in the manifest's backbone options and the feature-cache key):
- `mean` (the default): the last LSTM layer's outputs averaged over each window's frames (statistics pooling),
  projected to a d-vector, and the two concatenated (each L2-normalised, 512-d); windows averaged and
  L2-normalised. On FSDD speaker ID it beats the GE2E d-vector at every number of clips per speaker
  (bench/audio.py): most clips are shorter than a window, so GE2E reads its final frame after up to 1.2 s of
  the zero padding, where the mean over the window keeps the speech.
- `last`: GE2E's own d-vector, the projection of each window's final frame; a recording's d-vector is the
  L2-normalised mean of its windows' (resemblyzer's `embed_utterance`, matched to 1e-5 by a test).
"""

from __future__ import annotations

import importlib.util
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import torch

from headstart.backbones.audio_staged import AudioStagedBackbone
from headstart.backbones.audio_stages import LSTMStage, Projection, WindowSummary, recurrent_stages
from headstart.backbones.base import BackboneInfo
from headstart.backbones.catalog import VOICE_ENCODER_INFO
from headstart.backbones.hashing import file_sha256
from headstart.backbones.stage_net import StagedNet
from headstart.backbones.staged import eval_frozen
from headstart.data.audio import N_MELS, frontend_config
from headstart.errors import BackboneError

WHEEL = "resemblyzer"
HIDDEN = 256
LAYERS = 3
POOLS: dict[str, str] = {
    "mean": "per window: the last LSTM layer averaged over the window's 160 frames, L2-normalised, after its "
    "projection (linear -> ReLU -> L2, the d-vector of that mean), 512-d; windows averaged, L2-normalised",
    "last": "per window: GE2E's d-vector, the projection (linear -> ReLU -> L2) of the last LSTM layer's final "
    "frame, 256-d; windows averaged, L2-normalised (resemblyzer's embed_utterance)",
}
DEFAULT_POOL = "mean"


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
    feature_dim = 512
    license = "Apache-2.0"

    def __init__(self, pool: str = DEFAULT_POOL) -> None:
        if pool not in POOLS:
            raise BackboneError(
                f"unknown pooling {pool!r} for voice-encoder",
                expected=" or ".join(POOLS),
                fix="pass --backbone voice-encoder (statistics pooling) or voice-encoder#pool=last (GE2E d-vectors)",
            )
        self.pool_name = pool
        self.options = {"pool": pool}
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
        summary: WindowSummary = "mean" if pool == "mean" else "last"
        names, stages = recurrent_stages(N_MELS, HIDDEN, LAYERS, HIDDEN, summary)
        self.feature_dim = 2 * HIDDEN if pool == "mean" else HIDDEN
        with torch.no_grad():
            for i in range(LAYERS):
                lstm = cast(LSTMStage, stages[i]).lstm
                for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(lstm, f"{part}_l0").copy_(state[f"lstm.{part}_l{i}"])
            projection = cast(Projection, stages[-1]).linear
            projection.weight.copy_(state["linear.weight"])
            projection.bias.copy_(state["linear.bias"])
        self._net = eval_frozen(StagedNet(names, stages))  # type: ignore[assignment]
        self._info = BackboneInfo(
            **{**VOICE_ENCODER_INFO.to_dict(), "feature_dim": self.feature_dim, "description": f"GE2E speaker encoder "
               f"(3 x LSTM 256 on 1.6 s mel windows), pool={pool}: {POOLS[pool]}"}
        )

    def preprocess_config(self) -> dict[str, Any]:
        """The audio front-end and the pooling (part of the feature-cache key, the manifest and the export card)."""
        return {**frontend_config(), "pool": self.pool_name, "pooling": POOLS[self.pool_name]}

    @cached_property
    def _sha(self) -> str:
        return file_sha256(self._path)
