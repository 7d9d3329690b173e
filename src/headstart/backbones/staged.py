"""`StagedBackbone`: the shared implementation of `forward` over an `nn.ModuleList` of state→state stages.

`ImageStagedBackbone` and `TextStagedBackbone` add what every staged CNN or text encoder shares (inputs,
dynamic axes, example inputs; for images also the global average pool). This module does not load torch:
`StagedNet` (in `stage_net`) does, when a network is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from headstart.backbones.base import Backbone, BackboneInfo, State
from headstart.backbones.hashing import state_dict_sha256

if TYPE_CHECKING:
    import torch
    from torch import nn

    from headstart.backbones.stage_net import StagedNet

Net = TypeVar("Net", bound="nn.Module")  # eval_frozen returns what it is given


def __getattr__(name: str) -> Any:
    """`StagedNet` is importable from here as before; torch loads only when it is asked for."""
    if name == "StagedNet":
        from headstart.backbones.stage_net import StagedNet

        return StagedNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StagedBackbone(Backbone):
    """A backbone whose network is a `StagedNet`; subclasses build `self._net` and preprocessing."""

    _net: StagedNet
    _info: BackboneInfo | None = None

    @property
    def stages(self) -> list[str]:
        return list(self._net.names)

    def module(self) -> nn.Module:
        return self._net

    def stage_range(self, start: int, stop: int | None) -> tuple[int, int]:
        """Validated (start, stop) indices into `stages`; `stop=None` means the end."""
        n = len(self.stages)
        stop = n if stop is None else stop
        if not (0 <= start <= stop <= n):
            raise ValueError(
                f"stage range [{start}, {stop}) is not within the {n} stages of {self.name}: "
                f"expected 0 <= start <= stop <= {n}"
            )
        return start, stop

    def forward(self, state: State, start: int = 0, stop: int | None = None) -> State:
        start, stop = self.stage_range(start, stop)
        for stage in self._net.stages[start:stop]:
            state = stage(state)
        return state

    @cached_property
    def _sha(self) -> str:
        """Hash of the network's state dict; backbones with weight files override it to hash those."""
        return state_dict_sha256(self._net)

    @property
    def weights_sha256(self) -> str:
        return self._sha

    def info(self) -> BackboneInfo:
        base = super().info()
        if self._info is None:
            return base
        return BackboneInfo(**{**self._info.to_dict(), "params": base.params, "name": self.name})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stages={len(self.stages)})"


class ImageStagedBackbone(StagedBackbone):
    """A staged CNN: one NCHW `image` input, a `feature_map` state, global average pooling."""

    modality = "image"
    activation_key = "feature_map"
    onnx_exporter = "torchscript"

    @property
    def input_names(self) -> list[str]:
        return ["image"]

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        shape = (batch, 3, self.input_size, self.input_size)
        return {"image": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}

    def pool(self, state: State) -> torch.Tensor:
        return state["feature_map"].mean(dim=(2, 3))


class TextStagedBackbone(StagedBackbone):
    """A staged text encoder: `input_ids` and `attention_mask` inputs, a `hidden` state, variable length."""

    modality = "text"
    activation_key = "hidden"
    onnx_exporter = "dynamo"
    # two lengths, so exports see padding; subclasses may pick their own
    example_texts = ("a short one", "a somewhat longer example sentence, with punctuation and more words")

    @property
    def input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {n: {0: "batch", 1: "sequence"} for n in self.input_names}

    def example_inputs(self, batch: int = 2) -> dict[str, np.ndarray]:
        return self.preprocess([self.example_texts[i % 2] for i in range(batch)])

    max_tokens: int  # inputs are truncated to this many tokens

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text before truncation (special tokens included)."""
        raise NotImplementedError

    def truncation_note(self, texts: Sequence[str]) -> str | None:
        """A note when some texts are longer than the backbone reads (their end is cut), else None."""
        long = sum(n > self.max_tokens for n in self.token_counts(texts))
        if not long:
            return None
        return (
            f"{long} of {len(texts)} text(s) are longer than {self.name} reads ({self.max_tokens} tokens): only "
            "their first part is used; put what matters first, or split long texts"
        )


def eval_frozen(net: Net) -> Net:
    """Put a pretrained network in eval mode with gradients off (strategies re-enable what they train)."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def describe(**kwargs: Any) -> dict[str, Any]:
    """A preprocess-config dict with sorted keys (stable JSON for cache keys)."""
    return dict(sorted(kwargs.items()))
