"""`--tune-stages` distillation: the parent's logits are computed once per cached view, not every epoch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from headstart.services.expand.tune import TEACHER_LOGITS, DistillationLoss, WithTeacherLogits
from headstart.strategies.training_data import ActivationData


class CountingTeacher(nn.Module):
    """Masked mean of token states, then a linear layer; counts its forward passes."""

    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)
        self.calls = 0

    def forward(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        self.calls += 1
        mask = state["attention_mask"].unsqueeze(-1).float()
        return self.linear((state["hidden"] * mask).sum(dim=1) / mask.sum(dim=1))


def _ragged_views(n: int, views: int, dim: int, seed: int = 0) -> ActivationData:
    rng = np.random.default_rng(seed)
    items = [
        [rng.normal(size=(int(rng.integers(2, 9)), dim)).astype(np.float32) for _ in range(views)] for _ in range(n)
    ]
    return ActivationData(items, rng.integers(0, 3, size=n), "text", "hidden")


def test_cached_logits_match_the_teacher_on_each_sampled_view_every_epoch() -> None:
    torch.manual_seed(0)
    data, teacher = _ragged_views(n=23, views=3, dim=6), CountingTeacher(6, 3).eval()
    cached = WithTeacherLogits(data, teacher, batch_size=4)
    assert len(cached) == len(data)
    for epoch in range(3):
        pairs = zip(cached.batches(5, epoch=epoch, seed=7), data.batches(5, epoch=epoch, seed=7), strict=True)
        for (state, target), (plain, plain_target) in pairs:
            torch.testing.assert_close(target, plain_target)
            torch.testing.assert_close(state["hidden"], plain["hidden"])  # the same view was sampled
            with torch.no_grad():
                torch.testing.assert_close(state[TEACHER_LOGITS], teacher(plain), atol=1e-5, rtol=1e-5)


def test_the_loss_uses_the_cached_logits_instead_of_running_the_teacher() -> None:
    torch.manual_seed(0)
    data, teacher = _ragged_views(n=12, views=2, dim=6), CountingTeacher(6, 3)
    cached = WithTeacherLogits(data, teacher, batch_size=5)
    precompute_calls = teacher.calls
    assert precompute_calls == 5  # 24 views in batches of 5, once
    loss = DistillationLoss(teacher, n_old=3, temperature=2.0, weight=1.0, smoothing=0.0)
    logits = torch.randn(6, 4)
    for (state, target), (plain, _) in zip(
        cached.batches(6, epoch=0, seed=1), data.batches(6, epoch=0, seed=1), strict=True
    ):
        before = teacher.calls
        with_cache = loss(logits[: len(target)], target, state)
        assert teacher.calls == before
        torch.testing.assert_close(with_cache, loss(logits[: len(target)], target, plain), atol=1e-5, rtol=1e-5)
    assert teacher.calls > precompute_calls  # the uncached reference did run the teacher
