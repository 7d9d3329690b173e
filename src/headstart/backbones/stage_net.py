"""`StagedNet`: a network as ordered state→state torch stages (imported only when a network is built)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from headstart.backbones.base import State


class StagedNet(nn.Module):
    """The whole network as ordered stages; each stage maps a state dict to a new state dict."""

    def __init__(self, names: list[str], stages: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(names) != len(stages):
            raise ValueError("one name per stage is required")
        self.names = list(names)
        self.stages = nn.ModuleList(stages)

    def forward(self, state: State) -> State:
        for stage in self.stages:
            state = stage(state)
        return state
