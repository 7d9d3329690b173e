"""The checkpoint guard a `fit` sets before any work, without loading the trainer (nor torch) when nothing trains.

Only gradient strategies (and `auto`, which may pick one) write checkpoints; `finetune.refuse_checkpoint_overwrite`
guards their `--out`. A linear, baseline or zero-shot fit has nothing to guard: when no gradient strategy and
no trainer were loaded in this process, it cannot have a guard to reset either, so it skips the import.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headstart.config import FitConfig
    from headstart.strategies.base import Strategy


def is_gradient(strategy: Strategy) -> bool:
    """Whether `strategy` trains by gradient: never so when the gradient strategies' module is not even loaded."""
    finetune = sys.modules.get("headstart.strategies.finetune")
    return finetune is not None and isinstance(strategy, finetune.GradientStrategy)


def refuse_checkpoint_overwrite(config: FitConfig, strategy: Strategy) -> None:
    """`finetune.refuse_checkpoint_overwrite`, imported only when it can matter (see the module docstring)."""
    gradient = strategy.name == "auto" or is_gradient(strategy)
    if not gradient and not config.resume and "headstart.train.callbacks" not in sys.modules:
        return
    from headstart.strategies.finetune import refuse_checkpoint_overwrite as refuse

    refuse(config, strategy)


def discard_checkpoint(out: str | Path) -> None:
    """`train.callbacks.discard_checkpoint` once the bundle is saved; a fit that never loaded the trainer kept none."""
    callbacks = sys.modules.get("headstart.train.callbacks")
    if callbacks is not None:
        callbacks.discard_checkpoint(out)
