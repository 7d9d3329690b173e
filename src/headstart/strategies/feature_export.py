"""The torch form of a feature-head model, for `headstart export`: the pooled backbone, then the head."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.errors import StrategyError


class FeatureHeadModule(nn.Module):
    """`head(pool(backbone(*inputs)))` as one module, for export."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(*inputs))


class LinearProbaModule(nn.Module):
    """A fitted linear head in torch: standardise → linear → / temperature → softmax."""

    mean: torch.Tensor  # buffers: the head's arrays
    scale: torch.Tensor
    coef: torch.Tensor
    intercept: torch.Tensor

    def __init__(
        self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray, temperature: float
    ) -> None:
        super().__init__()
        for name, value in (("mean", mean), ("scale", scale), ("coef", coef), ("intercept", intercept)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value, dtype=np.float32)))
        self.binary = coef.shape[0] == 1  # one score: expand to (negative, positive) logits like the numpy head
        self.temperature = float(temperature)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        if self.binary:
            logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
        return torch.softmax(logits / self.temperature, dim=1)


def head_module(head: Any, strategy: str) -> nn.Module:
    """The head as a torch module: its own `torch_module()` when it has one, else a linear head's arrays."""
    if hasattr(head, "torch_module"):
        return head.torch_module()  # type: ignore[no-any-return]
    if all(hasattr(head, a) for a in ("mean_", "scale_", "coef_", "intercept_")):
        return LinearProbaModule(
            head.mean_, head.scale_, head.coef_, head.intercept_, float(getattr(head, "temperature_", 1.0))
        )
    raise StrategyError(
        f"export is not supported for the {type(head).__name__} head of strategy {strategy!r} yet",
        expected="a linear head, or a head with a torch_module() method",
        fix="serve the bundle with `headstart serve` instead",
    )
