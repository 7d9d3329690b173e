"""The torch modules exported to ONNX: a backbone's prefix, its prefix pooled at several cuts, any model's wrapper."""

from __future__ import annotations

import torch
from torch import nn

from headstart.backbones.base import Backbone


class Positional(nn.Module):
    """`forward(*inputs)` around any module, so dynamic shapes are given the same way for every model (`export`)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(*inputs)
        return out


class Prefix(nn.Module):
    """stages[0:stop] (+ pool) with positional tensor inputs and one tensor output, as exporters need."""

    def __init__(self, backbone: Backbone, stop: int, pooled: bool) -> None:
        super().__init__()
        self.net = backbone.module()  # registered so parameters are part of the graph
        self._backbone = backbone
        self._names = list(backbone.input_names)
        self.stop, self.pooled = stop, pooled

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        state = self._backbone.forward(dict(zip(self._names, inputs, strict=True)), 0, self.stop)
        if self.pooled:
            return self._backbone.pool(state)
        return state[self._backbone.activation_key]


class _PooledCuts(nn.Module):
    """stages[0:max(stops)] run once, pooled at every stop, concatenated into one (N, sum of widths) output."""

    def __init__(self, backbone: Backbone, stops: list[int]) -> None:
        super().__init__()
        self.net = backbone.module()
        self._backbone = backbone
        self._names = list(backbone.input_names)
        self.stops = stops

    def pooled(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        state = dict(zip(self._names, inputs, strict=True))
        out, start = [], 0
        for stop in self.stops:
            state = self._backbone.forward(state, start, stop)
            out.append(self._backbone.pool(state))
            start = stop
        return out

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.pooled(*inputs), dim=1)
