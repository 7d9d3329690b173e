"""`StagedBackbone`: the shared implementation of `forward` over an `nn.ModuleList` of state→state stages."""

from __future__ import annotations

from typing import Any

from torch import nn

from headstart.backbones.base import Backbone, BackboneInfo, State


class StagedNet(nn.Module):
    """The whole network as ordered stages; each stage maps a state dict to a new state dict."""

    def __init__(self, names: list[str], stages: list[nn.Module]) -> None:
        super().__init__()
        if len(names) != len(stages):
            raise ValueError("one name per stage is required")
        self.names = list(names)
        self.stages = nn.ModuleList(stages)

    def forward(self, state: State) -> State:
        for stage in self.stages:
            state = stage(state)
        return state


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
        n = len(self._net.stages)
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

    def info(self) -> BackboneInfo:
        base = super().info()
        if self._info is None:
            return base
        return BackboneInfo(**{**self._info.to_dict(), "params": base.params, "name": self.name})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stages={len(self.stages)})"


def eval_frozen(net: nn.Module) -> nn.Module:
    """Put a pretrained network in eval mode with gradients off (strategies re-enable what they train)."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def describe(**kwargs: Any) -> dict[str, Any]:
    """A preprocess-config dict with sorted keys (stable JSON for cache keys)."""
    return dict(sorted(kwargs.items()))
