"""The engine interface: one extraction job, study cells in, records out."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from headstart.backbones.base import Backbone
    from headstart.data.dataset import Dataset
    from headstart.feature_store import FeatureSpace

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
Event = Callable[..., None]
# a finished cell: its record, or the exception that lost it (a worker that died on every retry)
CellOutcome = tuple[Any, "dict[str, Any] | BaseException"]


@dataclass
class ExtractJob:
    """Pooled features to compute: dataset items `todo` (indices, distinct digests, in order) into `space`."""

    backbone: Backbone
    dataset: Dataset
    todo: list[int]
    digests: list[str]  # of every item of the dataset
    space: FeatureSpace
    stop: int | None = None
    batch_size: int = 32
    threads: int | None = None
    on_bad: str = "skip"
    runner: Runner | None = None  # a prepared local runner (the local engine uses it when given)


class Engine(Protocol):
    """Where work runs. `extract` fills the space and returns the failed items (digest → reason)."""

    name: str

    def extract(self, job: ExtractJob, *, progress: bool = True) -> dict[str, str]: ...

    def run_cells(
        self, cells: list[Any], runner: Callable[[Any], dict[str, Any]], *, cpus: float = 1, emit: Event | None = None
    ) -> Generator[CellOutcome, None, None]:
        """Yield (cell, record) as cells finish; closing the iterator stops (and cancels) the rest."""
        ...
