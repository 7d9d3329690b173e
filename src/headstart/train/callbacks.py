"""Callbacks for the Trainer's events: early stopping, checkpoints, progress, time budget."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from headstart.progress import stderr_console

if TYPE_CHECKING:
    from headstart.train.trainer import Trainer


class Callback:
    """Base class: override any of on_fit_start, on_epoch_start, on_batch_end, on_epoch_end, on_fit_end."""


def score(metrics: dict[str, float]) -> float:
    """Higher is better: validation accuracy, ties broken by validation loss; else -validation loss (multi-label,
    regression), else -train loss."""
    if "val_accuracy" in metrics:
        return metrics["val_accuracy"] - 1e-3 * metrics["val_loss"]
    if "val_loss" in metrics:
        return -metrics["val_loss"]
    return -metrics["train_loss"]


class EarlyStopping(Callback):
    """Track the best epoch, stop after `patience` epochs without improvement, restore the best weights."""

    def __init__(self, patience: int = 4, restore_best: bool = True) -> None:
        self.patience = patience
        self.restore_best = restore_best

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        state = trainer.state
        current = score(metrics)
        if current > state.best_metric:
            state.best_metric, state.best_epoch = current, state.epoch
            state.best_weights = copy.deepcopy(trainer.module.state_dict())
        elif self.patience and state.epoch - state.best_epoch >= self.patience:
            state.stop_reason = f"early stopping: no improvement for {self.patience} epochs"

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and trainer.state.best_weights is not None:
            trainer.module.load_state_dict(trainer.state.best_weights)


class Checkpointer(Callback):
    """Write a checkpoint atomically after every epoch; with `resume`, continue from the last one.

    Checkpoints are our own files, read back with `torch.load(weights_only=True)` (no arbitrary code).
    """

    def __init__(self, path: Path, resume: bool = False, fingerprint: str = "") -> None:
        self.path = path
        self.resume = resume
        self.fingerprint = fingerprint
        self.resumed_from: int | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if not (self.resume and self.path.is_file()):
            return
        checkpoint: dict[str, Any] = torch.load(self.path, weights_only=True)
        if checkpoint.get("fingerprint") != self.fingerprint:
            stderr_console.print("[yellow]checkpoint is from a different run configuration; starting over[/]")
            return
        trainer.restore(checkpoint)
        self.resumed_from = trainer.state.epoch

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({**trainer.checkpoint(), "fingerprint": self.fingerprint}, tmp)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class TimeBudget(Callback):
    """Stop after the epoch during which `seconds` of training time ran out."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.started = time.perf_counter()

    def on_fit_start(self, trainer: Trainer) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if self.seconds is not None and time.perf_counter() - self.started >= self.seconds:
            trainer.state.stop_reason = f"time budget of {self.seconds:.0f}s reached"


class ProgressBar(Callback):
    """A Rich bar per epoch with loss and validation accuracy (on stderr)."""

    def __init__(self, description: str, n_items: int, enabled: bool = True) -> None:
        self.description = description
        self.n_items = n_items
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=stderr_console,
        )
        self._progress.start()

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self._progress is not None:
            label = f"{self.description} epoch {epoch + 1}/{trainer.config.max_epochs}"
            self._task = self._progress.add_task(label, total=self.n_items, status="")

    def on_batch_end(self, trainer: Trainer, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if self._progress is not None:
            status = f"loss {metrics['train_loss']:.3f}"
            if "val_accuracy" in metrics:
                status += f"  val acc {metrics['val_accuracy']:.3f}"
            self._progress.update(self._task, status=status)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.stop()
            if trainer.state.stop_reason:
                stderr_console.print(f"stopped: {trainer.state.stop_reason}")
