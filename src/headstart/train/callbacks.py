"""Callbacks for the Trainer's events: early stopping, checkpoints, progress, time budget."""

from __future__ import annotations

import copy
import json
import os
import pickle
import time
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from headstart.errors import UsageError
from headstart.interrupts import Interrupted
from headstart.progress import stderr_console

if TYPE_CHECKING:
    from headstart.train.trainer import Trainer


DATA_KEY = "data"  # the training data's fingerprint among a checkpoint's options


class Callback:
    """Base class: override any of on_fit_start, on_epoch_start, on_batch_end, on_epoch_end, on_fit_end,
    on_interrupt (Ctrl-C: complete the `Interrupted` error, e.g. with where the checkpoint is; must not raise)."""


def score(metrics: dict[str, float]) -> float:
    """Higher is better: validation accuracy, ties broken by validation loss; else -validation loss (multi-label,
    regression), else -train loss."""
    if "val_accuracy" in metrics:
        return metrics["val_accuracy"] - 1e-3 * metrics["val_loss"]
    if "val_loss" in metrics:
        return -metrics["val_loss"]
    return -metrics["train_loss"]


class EarlyStopping(Callback):
    """Track the best epoch, stop after `patience` epochs without improvement, restore the best weights.

    Without validation metrics the score is the training loss; strategies only ask for that when the user
    set --patience (see `strategies.finetune`), and the stop reason then says so.
    """

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
            what = "" if "val_loss" in metrics else " in training loss"
            state.stop_reason = f"early stopping: no improvement{what} for {self.patience} epochs"

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and trainer.state.best_weights is not None:
            trainer.module.load_state_dict(trainer.state.best_weights)


def checkpoint_path(out: str | Path) -> Path:
    """Where the fit writing its bundle to `out` keeps its checkpoint: the hidden sibling `.OUT.checkpoint.pt`."""
    target = Path(out).resolve()
    return target.with_name(f".{target.name}.checkpoint.pt")


def discard_checkpoint(out: str | Path) -> None:
    """`fit`, once its bundle is safely saved: delete the checkpoint its training finished with (kept until now, so a
    kill while testing or saving resumes from the last epoch instead of epoch 1). Another run's is never touched."""
    kept = _KEPT_UNTIL_SAVED.get()
    if kept is None or kept.path != checkpoint_path(out):
        return
    _KEPT_UNTIL_SAVED.set(None)
    if kept.finished:
        kept.path.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict[str, Any] | str:
    """The checkpoint at `path`, read with `weights_only=True` (no arbitrary code), or why it cannot be read
    (empty, cut short, not a checkpoint)."""
    import torch  # here, not at the top: a fit that trains no network (linear) imports these callbacks' module

    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        return _why_unreadable(err)
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("state"), dict)):
        return f"it holds a {type(checkpoint).__name__}, not a headstart checkpoint"
    return checkpoint


def _why_unreadable(err: Exception) -> str:
    """A short reason; torch's own advice (load with weights_only=False) would run the file's code."""
    if isinstance(err, EOFError):
        return "the file is empty or cut short: EOFError"
    if isinstance(err, pickle.UnpicklingError):
        return "not a checkpoint file: UnpicklingError"
    first = (str(err).strip().split(". ")[0].splitlines() or [""])[0][:160]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at `path` for --resume; a UsageError when it cannot be read, saying how to go on."""
    checkpoint = load_checkpoint(path)
    if isinstance(checkpoint, str):
        raise UsageError(
            f"--resume cannot continue: the checkpoint at {path} cannot be read ({checkpoint})",
            expected="the checkpoint an interrupted `fit` to the same --out wrote after its last complete epoch",
            fix=f"delete {path} to start over, or run without --resume (the unreadable file is then kept aside)",
        )
    return checkpoint


# The checkpoint path that the current `fit` must not overwrite when it holds the same run (set by
# `refuse_overwrite` before any work, claimed by that fit's Checkpointer once the data fingerprint is known).
_GUARDED: ContextVar[tuple[Path, str] | None] = ContextVar("headstart_guarded_checkpoint", default=None)


@dataclass
class _Kept:
    """The checkpoint of `fit`'s run, kept past the end of training by the Checkpointer that claimed it (`owner`, the
    first to start: a later run in the same context, e.g. after that fit failed, deletes its own as before)."""

    path: Path
    owner: object | None = None
    finished: bool = False


_KEPT_UNTIL_SAVED: ContextVar[_Kept | None] = ContextVar("headstart_checkpoint_kept_until_saved", default=None)


def refuse_overwrite(out: str | Path | None, resume: bool = False) -> None:
    """Before a `fit` does any work (`out` None: it never checkpoints). With `resume`, refuse now a checkpoint that
    cannot be read. Without, ask its Checkpointer to refuse to overwrite a checkpoint of this same run (data and
    options: known once the data is loaded) and to keep one of another run aside; a study's cells and strategies
    called directly are not guarded (they start over). The run's own checkpoint outlives training until the fit's
    bundle is saved (`discard_checkpoint`)."""
    path = None if out is None else checkpoint_path(out)
    _GUARDED.set(None if path is None or resume else (path, str(out)))
    _KEPT_UNTIL_SAVED.set(None if path is None else _Kept(path))
    if path is not None and resume and path.is_file():
        read_checkpoint(path)


def _claim_guard(path: Path) -> str | None:
    """The `out` of the fit guarding `path` (then no longer guarded), or None when no fit guards it."""
    guarded = _GUARDED.get()
    if guarded is None or guarded[0] != path:
        return None
    _GUARDED.set(None)
    return guarded[1]


def aside_path(path: Path) -> Path:
    """A free name beside `path` to keep a checkpoint this run must not overwrite: `PATH.previous`, `-2`, ..."""
    candidate, n = path.with_name(f"{path.name}.previous"), 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.previous-{n}"), n + 1
    return candidate


def describe_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """What differs between a checkpoint's run options and this run's, e.g. "max_epochs 20 -> 30"."""
    if before is None:
        return "an older headstart wrote it without its options"
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, "unset"), after.get(key, "unset")
        if old == new:
            continue
        if key == DATA_KEY:
            changes.append("the training data changed")
        else:
            changes.append(f"{key} {_shown(old)} -> {_shown(new)}")
    return ", ".join(changes) or "the same options, but another run configuration"


def _shown(value: Any) -> str:
    return "default" if value is None else str(value)


class Checkpointer(Callback):
    """Write a checkpoint atomically after every epoch; with `resume`, continue from the last one.

    Checkpoints are our own files, read back with `torch.load(weights_only=True)` (no arbitrary code). Each
    carries the run's `options` (what can change the result, plus the data fingerprint under DATA_KEY): only the
    same run resumes (or, without --resume, is refused); another run's checkpoint is kept aside, naming what changed.
    """

    def __init__(
        self, path: Path, resume: bool = False, fingerprint: str = "", options: dict[str, Any] | None = None
    ) -> None:
        self.path = path
        self.resume = resume
        self.fingerprint = fingerprint
        self.options = json.loads(json.dumps(options or {}, sort_keys=True, default=str))
        self.resumed_from: int | None = None
        self.saved_epoch: int | None = None  # the epoch of the checkpoint on disk for this run
        self.notes: list[str] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        """Resume the same run's checkpoint, refuse to overwrite it (a guarded `fit` without --resume), and keep
        any other run's checkpoint aside instead of overwriting or deleting it."""
        guarded_out = _claim_guard(self.path)
        kept = _KEPT_UNTIL_SAVED.get()
        if kept is not None and kept.path == self.path and kept.owner is None:
            kept.owner = self
        if not self.path.is_file():
            if self.resume:
                self.notes.append(f"--resume: no checkpoint found at {self.path}; started from epoch 1")
            return
        if not (self.resume or guarded_out is not None):
            return  # a study's cell or a strategy called directly: start over, as before
        checkpoint = read_checkpoint(self.path) if self.resume else load_checkpoint(self.path)
        if isinstance(checkpoint, str):
            self._keep_aside(f"the checkpoint at {self.path} cannot be read ({checkpoint})", resumable=False)
            return
        epoch = checkpoint["state"].get("epoch", "?")
        if checkpoint.get("fingerprint") != self.fingerprint:
            changes = describe_changes(checkpoint.get("options"), self.options)
            if self.resume:
                what = f"--resume: the checkpoint of epoch {epoch} is from a different run configuration ({changes})"
                self._keep_aside(what, started_over=True)
            else:
                self._keep_aside(f"the checkpoint of epoch {epoch} at {self.path} is from another run ({changes})")
            return
        if not self.resume:
            raise UsageError(
                f"a checkpoint of epoch {epoch} exists for {guarded_out} (an interrupted fit of the same data and "
                "options); starting again would overwrite it",
                expected="--resume to continue that fit, or no checkpoint of this run beside the output folder",
                fix=f"pass --resume to continue, or delete {self.path} to start over",
            )
        trainer.restore(checkpoint)
        self.resumed_from = self.saved_epoch = trainer.state.epoch

    def _keep_aside(self, what: str, started_over: bool = False, resumable: bool = True) -> None:
        """Rename the checkpoint this run must not overwrite to a free `.previous` name, and say so (now, and in
        the fit's notes)."""
        aside = aside_path(self.path)
        os.replace(self.path, aside)
        then = (
            f"to continue that run, rename it back to {self.path.name} and rerun its command with --resume"
            if resumable
            else "delete it once you no longer need it"
        )
        restart = "started over from epoch 1 and " if started_over else ""
        note = f"{what}; {restart}kept that checkpoint as {aside} ({then})"
        stderr_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        self.notes.append(note)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({**trainer.checkpoint(), "fingerprint": self.fingerprint, "options": self.options}, tmp)
        os.replace(tmp, self.path)
        self.saved_epoch = trainer.state.epoch

    def on_interrupt(self, trainer: Trainer, error: Interrupted) -> None:
        """Say where the work so far is kept and how to continue it."""
        if self.saved_epoch is None:
            error.fix = "no checkpoint was written yet (one is written after each epoch): rerun to start over"
            return
        error.fix = (
            f"the checkpoint of epoch {self.saved_epoch} is kept at {self.path}; "
            "rerun the same command with --resume to continue from it"
        )
        error.details.update(checkpoint=str(self.path), checkpoint_epoch=self.saved_epoch)

    def remove(self) -> None:
        """Training ended: delete the checkpoint, unless `fit` keeps it until its bundle is saved."""
        kept = _KEPT_UNTIL_SAVED.get()
        if kept is not None and kept.owner is self:
            kept.finished = True  # `discard_checkpoint` deletes it after the save
            return
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

    def on_interrupt(self, trainer: Trainer, error: Interrupted) -> None:
        if self._progress is not None:
            self._progress.stop()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.stop()
            if trainer.state.stop_reason:
                stderr_console.print(f"stopped: {trainer.state.stop_reason}")
