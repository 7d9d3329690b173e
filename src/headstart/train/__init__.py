"""The one training loop for every gradient strategy, and its callbacks."""

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
from headstart.train.trainer import Batch, TrainData, Trainer, TrainerConfig, TrainState

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
