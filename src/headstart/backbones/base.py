"""The `Backbone` protocol: one surface for every pretrained network, image or text.

A backbone turns decoded items (PIL images or strings) into model inputs (`preprocess`), runs any
contiguous range of its ordered `stages` on a *state* (a dict of tensors: the preprocessed inputs
before stage 0, activations after), and pools the last state into one feature vector per item.
Stages are plain data so later strategies can freeze, cache and fine-tune at any cut.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.dataset import Modality

if TYPE_CHECKING:  # torch loads when a network is built or run, not to describe a backbone or read its cache
    import torch
    from torch import nn

State = dict[str, "torch.Tensor"]


@dataclass(frozen=True)
class BackboneInfo:
    """What `headstart models` shows about a backbone (no weights loaded to produce it)."""

    name: str
    modality: Modality
    params: int
    feature_dim: int
    input_size: int  # image side in pixels, or maximum tokens for text
    license: str
    description: str = ""
    source: str = ""  # where the weights come from (a wheel, a local folder, a hub id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "modality": self.modality,
            "params": self.params,
            "feature_dim": self.feature_dim,
            "input_size": self.input_size,
            "license": self.license,
            "description": self.description,
            "source": self.source,
        }


@dataclass(frozen=True)
class SourceHead:
    """The pretraining classifier kept with the backbone (e.g. ImageNet-1k): logits = W @ f + b."""

    weight: np.ndarray  # (num_source_classes, feature_dim)
    bias: np.ndarray  # (num_source_classes,)
    class_names: list[str] = field(default_factory=list)


class Backbone(ABC):
    """A pretrained network behind one protocol (see module docstring)."""

    name: str
    modality: Modality
    feature_dim: int
    input_size: int
    license: str
    # The state entry a cut exposes (image feature map, text hidden states); other entries (e.g. a text
    # attention mask) pass through the stages unchanged.
    activation_key: str = "x"
    # How the frozen prefix is compiled to ONNX: "torchscript" (legacy exporter, fine for CNNs) or
    # "dynamo" (needed for transformers, where the legacy exporter gives wrong outputs).
    onnx_exporter: str = "torchscript"
    # True: when the export fails or disagrees with torch, the frozen part runs eagerly with a note (for
    # architectures headstart did not write, e.g. `hf:` models); False: the failure is an error.
    export_fallback: bool = False
    # Ragged backbones whose items are runs of independent windows (audio) set how many windows one frozen
    # forward pass takes at most, so memory stays flat in a recording's length; they then define `pool_windows`.
    windows_per_pass: int | None = None

    @property
    @abstractmethod
    def stages(self) -> list[str]:
        """Ordered stage names; `forward(state, start, stop)` runs stages[start:stop]."""

    @property
    @abstractmethod
    def input_names(self) -> list[str]:
        """Keys of the dict `preprocess` returns (also the ONNX input names), in order."""

    @abstractmethod
    def preprocess(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        """Batch decoded items (PIL RGB images or strings) into model inputs."""

    @abstractmethod
    def preprocess_config(self) -> dict[str, Any]:
        """JSON-serialisable description of `preprocess`; part of feature-cache keys and manifests."""

    @abstractmethod
    def module(self) -> nn.Module:
        """The whole network as a torch module in eval mode (stages are its sub-modules)."""

    @abstractmethod
    def forward(self, state: State, start: int = 0, stop: int | None = None) -> State:
        """Run stages[start:stop] on `state` and return the new state."""

    @abstractmethod
    def pool(self, state: State) -> torch.Tensor:
        """One feature vector per item, shape (N, feature_dim), from the state after the last stage."""

    @property
    @abstractmethod
    def weights_sha256(self) -> str:
        """SHA-256 identifying the pretrained weights (checked when a bundle is loaded)."""

    def pool_windows(self, activations: np.ndarray, owners: np.ndarray, n_items: int) -> np.ndarray:
        """(n_items, D) pooled features from the cut's activations of windows run apart (`windows_per_pass`):
        `activations[j]` belongs to item `owners[j]`; the same numbers as `pool` on the whole batch."""
        raise NotImplementedError(f"{type(self).__name__} does not pool windows run apart")

    def save_preprocessor(self, folder: Path) -> bool:
        """Write what another runtime needs to prepare inputs (a text tokenizer) into `folder`; False if none."""
        return False

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Axes of each input that vary between batches (batch always; text adds the sequence)."""
        return {name: {0: "batch"} for name in self.input_names}

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        """A small valid input batch, used to trace exports and check their parity."""
        raise NotImplementedError(f"{type(self).__name__} does not provide example inputs")

    @property
    def source_head(self) -> SourceHead | None:
        """The pretraining head, when the backbone has one."""
        return None

    def info(self) -> BackboneInfo:
        return BackboneInfo(
            name=self.name,
            modality=self.modality,
            params=sum(p.numel() for p in self.module().parameters()),
            feature_dim=self.feature_dim,
            input_size=self.input_size,
            license=self.license,
        )

    def embed_torch(self, items: Sequence[Any]) -> np.ndarray:
        """Pooled features computed eagerly in PyTorch (the reference the ONNX path is checked against)."""
        import torch

        inputs = self.preprocess(items)
        state = {k: torch.from_numpy(v) for k, v in inputs.items()}
        with torch.inference_mode():
            return self.pool(self.forward(state)).float().numpy()
