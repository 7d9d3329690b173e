"""`Trainer`: one short loop for partial fine-tuning, full fine-tuning and training from scratch.

Strategies differ only in the module they pass and its parameter groups (which parameters train, at
what learning rate). The loop emits named events that callbacks handle: progress, early stopping,
checkpoints, time budget. Every epoch reseeds from (seed, epoch), so a run resumed from the checkpoint
of epoch e continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from headstart.interrupts import Interrupted
from headstart.train.objectives import Objective

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


class TrainData(Protocol):
    """Batches of (state, label indices); `epoch` selects augmented views and shuffling."""

    def __len__(self) -> int: ...

    def batches(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[Batch]:
        """`epoch=None` means evaluation order and no augmentation."""
        ...


@dataclass(frozen=True)
class TrainerConfig:
    max_epochs: int = 15
    batch_size: int = 32
    warmup_epochs: float = 1.0
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    grad_clip: float = 5.0
    seed: int = 0


@dataclass
class TrainState:
    """What the loop knows between events; checkpoints save and restore it."""

    epoch: int = 0  # epochs completed
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = -1
    best_weights: dict[str, torch.Tensor] | None = None
    stop_reason: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
        }


class Trainer:
    """AdamW over explicit parameter groups, linear warm-up then cosine decay; the loss is the task's objective
    (cross-entropy by default, BCE with logits for multi-label, MSE/Huber for regression)."""

    def __init__(
        self,
        module: nn.Module,
        param_groups: Sequence[dict[str, Any]],
        config: TrainerConfig,
        callbacks: Sequence[Any] = (),
        frozen: Sequence[nn.Module] = (),
        loss: Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor] | None = None,
        objective: Objective | None = None,
    ) -> None:
        self.module = module
        self.config = config
        self.callbacks = list(callbacks)
        self.frozen = list(frozen)  # sub-modules kept in eval mode (BatchNorm statistics stay put)
        groups = [g for g in param_groups if any(p.requires_grad for p in g["params"])]
        self.optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        self.objective = objective or Objective(label_smoothing=config.label_smoothing)
        self.loss_fn = self.objective.loss
        self.custom_loss = loss  # (logits, target, state) -> loss, e.g. cross-entropy plus distillation
        self.state = TrainState()
        self._steps_per_epoch = 1
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None

    def describe_groups(self) -> list[dict[str, Any]]:
        """Parameter groups as reported in manifests: name, learning rate, parameter count."""
        return [
            {
                "name": g.get("name", f"group{i}"),
                "lr": g.get("initial_lr", g["lr"]),
                "params": sum(p.numel() for p in g["params"]),
            }
            for i, g in enumerate(self.optimizer.param_groups)
        ]

    def _lr_factor(self, step: int) -> float:
        warmup = max(1, int(self.config.warmup_epochs * self._steps_per_epoch))
        total = max(warmup + 1, self.config.max_epochs * self._steps_per_epoch)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / (total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def _emit(self, event: str, **kwargs: Any) -> None:
        for callback in self.callbacks:
            handler = getattr(callback, event, None)
            if handler is not None:
                handler(self, **kwargs)

    def fit(self, train: TrainData, validation: TrainData | None) -> TrainState:
        """Train until `max_epochs`, or until a callback sets `state.stop_reason`.

        Ctrl-C raises `Interrupted`, which callbacks complete in `on_interrupt` (e.g. where the checkpoint is).
        """
        bs = self.config.batch_size
        self._steps_per_epoch = max(1, math.ceil(len(train) / bs))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self._emit("on_fit_start")
        try:
            self._loop(train, validation)
        except KeyboardInterrupt as err:
            interrupted = Interrupted(
                f"interrupted during epoch {self.state.epoch + 1} of {self.config.max_epochs}",
                epochs_done=self.state.epoch,
            )
            self._emit("on_interrupt", error=interrupted)
            raise interrupted from err
        self._emit("on_fit_end")
        return self.state

    def _loop(self, train: TrainData, validation: TrainData | None) -> None:
        bs = self.config.batch_size
        while self.state.epoch < self.config.max_epochs and self.state.stop_reason is None:
            epoch = self.state.epoch
            torch.manual_seed(self.config.seed * 100_003 + epoch)
            self._set_train_mode()
            self._emit("on_epoch_start", epoch=epoch)
            losses = []
            for state, target in train.batches(bs, epoch=epoch, seed=self.config.seed):
                losses.append(self._step(state, target))
                self._emit("on_batch_end", n=len(target))
            metrics = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan}
            if validation is not None and len(validation):
                metrics.update(self.evaluate(validation))
            metrics["lr"] = float(self.optimizer.param_groups[-1]["lr"])
            metrics["seconds"] = time.perf_counter() - self.state.started
            self.state.history.append(metrics)
            self.state.epoch = epoch + 1
            self._emit("on_epoch_end", metrics=metrics)

    def _set_train_mode(self) -> None:
        self.module.train()
        for sub in self.frozen:
            sub.eval()

    def _step(self, state: dict[str, torch.Tensor], target: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.module(state)
        loss = self.custom_loss(logits, target, state) if self.custom_loss else self.loss_fn(logits, target)
        loss.backward()
        if self.config.grad_clip:  # per group: a steep body must not starve the head of gradient
            for group in self.optimizer.param_groups:
                nn.utils.clip_grad_norm_(group["params"], self.config.grad_clip)
        self.optimizer.step()
        assert self.scheduler is not None
        self.scheduler.step()
        self.state.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, data: TrainData) -> dict[str, float]:
        """Validation loss, and accuracy for single-label tasks (module in eval mode, no augmentation)."""
        self.module.eval()
        unsmoothed = replace(self.objective, label_smoothing=0.0)
        total, correct, loss_sum = 0, 0, 0.0
        counted = True
        for state, target in data.batches(self.config.batch_size, epoch=None, seed=self.config.seed):
            logits = self.module(state)
            loss_sum += float(unsmoothed.loss(logits, target, reduction="sum"))
            right = unsmoothed.correct(logits, target)
            counted = counted and right is not None
            correct += right or 0
            total += len(target)
        self._set_train_mode()
        metrics = {"val_loss": loss_sum / max(total, 1)}
        if counted:
            metrics["val_accuracy"] = correct / max(total, 1)
        return metrics

    @torch.no_grad()
    def predict(self, data: TrainData) -> np.ndarray:
        """The objective's outputs (probabilities or values) for `data`, in evaluation order."""
        self.module.eval()
        rows = [self.objective.outputs(self.module(state)).numpy()
                for state, _ in data.batches(self.config.batch_size, epoch=None, seed=self.config.seed)]  # fmt: skip
        self._set_train_mode()
        return np.concatenate(rows) if rows else np.zeros((0, 0))

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        assert self.scheduler is not None
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "state": self.state.to_dict(),
            "best_weights": self.state.best_weights,
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint written by `checkpoint()` (after `fit` set up the scheduler)."""
        self.module.load_state_dict(checkpoint["module"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        saved = checkpoint["state"]
        self.state.epoch, self.state.step = saved["epoch"], saved["step"]
        self.state.history = list(saved["history"])
        self.state.best_metric, self.state.best_epoch = saved["best_metric"], saved["best_epoch"]
        self.state.best_weights = checkpoint.get("best_weights")
        reason = saved.get("stop_reason")
        if reason and reason.startswith("early stopping"):
            self.state.stop_reason = reason
