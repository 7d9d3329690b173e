"""The one training loop for every gradient strategy, and its callbacks.

The loop (`trainer`, torch) loads when first asked for: the callbacks' helpers (checkpoint paths, refusing to
overwrite one) serve fits that train no network too.
"""

from typing import TYPE_CHECKING, Any

from headstart.train.callbacks import (
    Callback,
    Checkpointer,
    EarlyStopping,
    ProgressBar,
    TimeBudget,
    checkpoint_path,
    discard_checkpoint,
    refuse_overwrite,
)

if TYPE_CHECKING:
    from headstart.train.trainer import Batch, TrainData, Trainer, TrainerConfig, TrainState

_TRAINER = frozenset({"Batch", "TrainData", "Trainer", "TrainerConfig", "TrainState"})

__all__ = [
    "Batch",
    "Callback",
    "Checkpointer",
    "EarlyStopping",
    "ProgressBar",
    "TimeBudget",
    "TrainData",
    "TrainState",
    "Trainer",
    "TrainerConfig",
    "checkpoint_path",
    "discard_checkpoint",
    "refuse_overwrite",
]


def __getattr__(name: str) -> Any:
    """The training loop's names, from `headstart.train.trainer` on first use (PEP 562)."""
    if name not in _TRAINER:
        raise AttributeError(f"module 'headstart.train' has no attribute {name!r}")
    from headstart.train import trainer

    value = getattr(trainer, name)
    globals()[name] = value
    return value
