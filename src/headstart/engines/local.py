"""The default engine: everything in this process, one batch and one cell at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from headstart.engines.base import CellOutcome, Event, ExtractJob
from headstart.errors import BadItemError
from headstart.interrupts import Interrupted
from headstart.progress import progress_bar


class LocalEngine:
    """Extraction with ONNX Runtime on this machine's cores; study cells one after another."""

    name = "local"

    def extract(self, job: ExtractJob, *, progress: bool = True) -> dict[str, str]:
        """Compute the job's rows in batches and append them to its space every CHUNK_ROWS rows.

        Rows computed but not yet appended are appended on the way out too (Ctrl-C, `--on-bad fail`), so a rerun
        reuses them; on Ctrl-C the `Interrupted` error says how many were kept.
        """
        from headstart.features import CHUNK_ROWS, MemorySpace, _prepared_batches
        from headstart.runtime import FrozenRunner

        backbone, dataset, digests = job.backbone, job.dataset, job.digests
        run = job.runner or FrozenRunner(backbone, stop=job.stop, pooled=True, threads=job.threads)
        bad: dict[str, str] = {}
        pending: list[tuple[list[str], np.ndarray]] = []  # (digests, rows) per batch, appended in one step
        stored = 0
        jobs = [(i, 0) for i in job.todo]
        try:
            with progress_bar(f"features {backbone.name}", total=len(job.todo), enabled=progress) as advance:
                for ok, inputs, failures in _prepared_batches(backbone, dataset, jobs, job.batch_size):
                    batch_idx = [i for i, _ in ok]
                    for i, reason in failures:
                        if job.on_bad == "fail":
                            raise BadItemError(dataset.ids[i], reason)
                        bad[digests[i]] = reason
                    if batch_idx:
                        pending.append(([digests[i] for i in batch_idx], np.asarray(run(inputs), dtype=np.float32)))
                    if sum(len(d) for d, _ in pending) >= CHUNK_ROWS:
                        stored += _flush(job, pending)
                    advance(len(batch_idx) + len(failures))
        except KeyboardInterrupt as err:
            stored += _flush(job, pending)
            if isinstance(err, Interrupted) or isinstance(job.space, MemorySpace) or not stored:
                raise
            raise Interrupted(
                f"interrupted while computing features of {backbone.name}",
                fix=f"the features of the {stored} items computed so far are cached: rerun the command to reuse them",
                features_cached=stored,
            ) from err
        finally:
            _flush(job, pending)
        return bad

    def run_cells(
        self, cells: list[Any], runner: Callable[[Any], dict[str, Any]], *, cpus: float = 1, emit: Event | None = None
    ) -> Iterator[CellOutcome]:
        for cell in cells:
            if emit:
                emit("cell_start", cell=cell)
            yield cell, runner(cell)


def _flush(job: ExtractJob, pending: list[tuple[list[str], np.ndarray]]) -> int:
    """Append the pending batches to the job's space as one chunk, empty `pending`, and return the rows stored."""
    if not pending:
        return 0
    digests = [d for batch, _ in pending for d in batch]
    job.space.append(digests, np.concatenate([rows for _, rows in pending]))
    pending.clear()
    return len(digests)
