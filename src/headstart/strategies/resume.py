"""What identifies a training run for `--resume`: its fingerprinted options and data (`config.fingerprint_fields`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from headstart.config import FitConfig, fingerprint_fields
from headstart.data.dataset import Dataset
from headstart.data.modalities import item_digests
from headstart.strategies.base import Strategy
from headstart.train.callbacks import DATA_KEY, refuse_overwrite


def run_options(config: FitConfig, train: Dataset) -> dict[str, Any]:
    """The options that can change what the run learns (declared `LEARNS` on FitConfig), and the training data."""
    options = config.model_dump(include=set(fingerprint_fields(type(config))))
    return {**options, DATA_KEY: train.fingerprint(item_digests(train))}


def run_fingerprint(options: dict[str, Any]) -> str:
    """A checkpoint resumes only a run with this same digest of `run_options`."""
    blob = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def refuse_checkpoint_overwrite(config: FitConfig, strategy: Strategy) -> None:
    """Before any work: a fit that may train by gradient (`strategy.checkpoints`) must not lose the checkpoint an
    interrupted fit to the same --out left. With --resume, an unreadable checkpoint is refused now; without, the same
    run's (data and options) is refused once training starts, and another run's is kept aside
    (`Checkpointer.on_fit_start`)."""
    refuse_overwrite(config.out if strategy.checkpoints else None, resume=config.resume)
