"""What the Trainer minimises, per task kind: cross-entropy, binary cross-entropy with logits, MSE or Huber.

An objective also turns the network's raw outputs into the model's outputs (softmax probabilities, independent
sigmoid probabilities, or values on the target's scale) and scores a validation batch for early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from headstart.tasks import Outputs, get_task


@dataclass(frozen=True)
class Objective:
    """Cross-entropy over classes (single-label); the other kinds override `loss`, `outputs` and `correct`."""

    name: str = "cross-entropy"
    label_smoothing: float = 0.0

    def loss(self, logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return nn.functional.cross_entropy(logits, target, label_smoothing=self.label_smoothing, reduction=reduction)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=1)

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> int | None:
        """Correct predictions in a batch (None when accuracy means nothing for the kind)."""
        return int((logits.argmax(dim=1) == target).sum())


@dataclass(frozen=True)
class MultiLabelObjective(Objective):
    """Binary cross-entropy with logits, one independent decision per tag."""

    name: str = "bce-with-logits"

    def loss(self, logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        per_item = nn.functional.binary_cross_entropy_with_logits(logits, target.float(), reduction="none").mean(1)
        return per_item.sum() if reduction == "sum" else per_item.mean()

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> int | None:
        return None


@dataclass(frozen=True)
class RegressionObjective(Objective):
    """MSE or Huber on the standardised target; outputs are mapped back to the target's scale."""

    name: str = "mse"
    mean: float = 0.0
    scale: float = 1.0

    def _standard(self, target: torch.Tensor) -> torch.Tensor:
        return (target.float() - self.mean) / self.scale

    def loss(self, logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        fn = nn.functional.huber_loss if self.name == "huber" else nn.functional.mse_loss
        return fn(logits[:, 0], self._standard(target), reduction=reduction)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, :1] * self.scale + self.mean

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> int | None:
        return None


def objective_for(
    task: str, *, label_smoothing: float = 0.0, loss: str = "mse", mean: float = 0.0, scale: float = 1.0
) -> Objective:
    """The objective of a task kind (`loss` picks MSE or Huber for regression)."""
    outputs = get_task(task).outputs
    if outputs is Outputs.TAGS:
        return MultiLabelObjective()
    if outputs is Outputs.VALUE:
        return RegressionObjective(name=loss, mean=mean, scale=scale or 1.0)
    return Objective(label_smoothing=label_smoothing)
