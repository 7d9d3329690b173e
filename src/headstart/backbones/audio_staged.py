"""`AudioStagedBackbone`: staged recurrent encoders over 1.6 s mel windows (the `audio` modality).

Inputs are `mel` (N, windows, 160, 40) and `attention_mask` (N, windows) from the numpy front-end in
`headstart.data.audio` (the same function for fit, predict, serve and export). Each window runs through the
stages independently (windows are folded into the batch); the state's `hidden` keeps the window axis, so a cut
caches per-window activations (ragged in the number of windows, like text tokens) and `pool` averages the
real windows. How the last recurrent stage summarises a window is the backbone's pooling option (`NAME#pool=`,
`POOLS`): part of its `options` (the manifest), its `preprocess_config` (the feature-cache key, the export card)
and its width. This module does not load torch; the stage modules (`audio_stages`) do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from headstart.backbones.base import BackboneInfo, State
from headstart.backbones.staged import StagedBackbone
from headstart.data.audio import SAMPLE_RATE, batch_windows, frontend_config
from headstart.errors import BackboneError

# how the last recurrent stage summarises each window: its final frame (GE2E's d-vector), or that and the mean of
# its frames (statistics pooling, passed on beside the d-vector: the features are twice as wide)
WindowSummary = Literal["last", "last+mean"]
POOLS: dict[str, str] = {
    "last+mean": "per window: GE2E's d-vector (the projection, linear -> ReLU -> L2, of the last LSTM layer's final "
    "frame), then the last LSTM layer's outputs averaged over the window's 160 frames, L2-normalised; windows "
    "averaged, L2-normalised",
    "last": "per window: GE2E's d-vector, the projection (linear -> ReLU -> L2) of the last LSTM layer's final "
    "frame; windows averaged, L2-normalised (resemblyzer's embed_utterance)",
}

if TYPE_CHECKING:
    import torch


class AudioStagedBackbone(StagedBackbone):
    """A staged encoder of recordings: mel windows in, one L2-normalised vector per recording out."""

    modality = "audio"
    activation_key = "hidden"
    onnx_exporter = "torchscript"
    input_size = 160  # mel frames per window (1.6 s)
    # metric embeddings: `linear` fits cosine class centroids when a class has at most this many recordings
    centroid_max_per_class = 3
    # a long recording's windows go through the frozen stages this many at a time (memory flat in its length:
    # a 119 s recording has 153 windows); pooling sums them per recording, so the numbers do not change
    windows_per_pass = 16
    default_pool: ClassVar[WindowSummary] = "last"
    pool_name: WindowSummary = "last"
    options: dict[str, Any]

    def choose_pool(self, pool: str | None) -> WindowSummary:
        """The checked pooling option (`None`: the default), kept in `options` and `preprocess_config`."""
        chosen = self.default_pool if pool is None else pool
        if chosen not in POOLS:
            raise BackboneError(
                f"unknown pooling {chosen!r} for {self.name}",
                expected=" or ".join(f"{self.name}#pool={p}" for p in POOLS),
                fix=f"pass --backbone {self.name} (pool={self.default_pool}) or name a pooling above",
            )
        self.pool_name = "last+mean" if chosen == "last+mean" else "last"
        self.options = {"pool": self.pool_name}
        return self.pool_name

    @property
    def input_names(self) -> list[str]:
        return ["mel", "attention_mask"]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {n: {0: "batch", 1: "sequence"} for n in self.input_names}

    def preprocess(self, items: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return batch_windows(list(items))

    def info(self) -> BackboneInfo:
        """The static info, with the width and pooling of this instance's `pool` option."""
        info = super().info().to_dict()
        described = f"{info['description']}; pool={self.pool_name}" if self.options else info["description"]
        return BackboneInfo(**{**info, "feature_dim": self.feature_dim, "description": described})

    def preprocess_config(self) -> dict[str, Any]:
        """The audio front-end and the pooling (part of the feature-cache key, the manifest and the export card)."""
        return {**frontend_config(), "pool": self.pool_name, "pooling": POOLS[self.pool_name]}

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        """Tones and noise of 1 s and 3 s (one and three windows), so exports see padded windows."""
        rng = np.random.default_rng(0)
        t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
        waves = []
        for i in range(batch):
            seconds = 1 if i % 2 == 0 else 3
            tone = 0.3 * np.sin(2 * np.pi * (150 + 60 * i) * t[: SAMPLE_RATE * seconds])
            waves.append((tone + 0.05 * rng.standard_normal(len(tone))).astype(np.float32))
        return self.preprocess(waves)

    def pool(self, state: State) -> torch.Tensor:
        """Mean over the real windows of each recording (frames first averaged at an LSTM cut), L2-normalised."""
        hidden = state["hidden"]
        if hidden.dim() == 4:  # (N, windows, frames, dim) inside the recurrent stages
            hidden = hidden.mean(dim=2)
        mask = state["attention_mask"].to(hidden.dtype).unsqueeze(-1)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return mean / mean.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def pool_windows(self, activations: np.ndarray, owners: np.ndarray, n_items: int) -> np.ndarray:
        """`pool` over windows run apart: frames averaged at an LSTM cut, windows averaged per recording (sums
        in float64), L2-normalised."""
        vectors = activations.mean(axis=1) if activations.ndim == 3 else activations  # (windows, frames, dim)
        sums = np.zeros((n_items, vectors.shape[-1]), dtype=np.float64)
        np.add.at(sums, owners, vectors.astype(np.float64))
        counts = np.bincount(owners, minlength=n_items).clip(min=1)[:, None]
        mean = sums / counts
        norms = np.linalg.norm(mean, axis=1, keepdims=True).clip(min=1e-12)
        return (mean / norms).astype(np.float32)
