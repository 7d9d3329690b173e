"""The default engine: everything in this process, one batch and one cell at a time."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from headstart import feature_store
from headstart.batches import readable_batches
from headstart.engines.base import CellOutcome, Event, ExtractJob
from headstart.feature_store import MemorySpace
from headstart.interrupts import Interrupted
from headstart.progress import progress_bar
from headstart.runtime import FrozenRunner


class LocalEngine:
    """Extraction with ONNX Runtime on this machine's cores; study cells one after another."""

    name = "local"

    def extract(self, job: ExtractJob, *, progress: bool = True) -> dict[str, str]:
        """Compute the job's rows in batches and append them to its space every CHUNK_ROWS rows.

        Rows computed but not yet appended are appended on the way out too (Ctrl-C, `--on-bad fail`), so a rerun
        reuses them; on Ctrl-C the `Interrupted` error says how many were kept.
        """
        backbone, dataset, digests = job.backbone, job.dataset, job.digests
        run = job.runner or FrozenRunner(backbone, stop=job.stop, pooled=True, threads=job.threads)
        failed: dict[int, str] = {}
        pending: list[tuple[list[str], np.ndarray]] = []  # (digests, rows) per batch, appended in one step
        stored = 0
        jobs = [(i, 0) for i in job.todo]
        try:
            with progress_bar(f"features {backbone.name}", total=len(job.todo), enabled=progress) as advance:
                batches = readable_batches(
                    backbone, dataset, jobs, job.batch_size, on_bad=job.on_bad, failed=failed, advance=advance
                )
                for ok, inputs in batches:
                    pending.append(([digests[i] for i, _ in ok], np.asarray(run(inputs), dtype=np.float32)))
                    if sum(len(d) for d, _ in pending) >= feature_store.CHUNK_ROWS:
                        stored += _flush(job, pending)
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
        return {digests[i]: reason for i, reason in failed.items()}

    def run_cells(
        self, cells: list[Any], runner: Callable[[Any], dict[str, Any]], *, cpus: float = 1, emit: Event | None = None
    ) -> Generator[CellOutcome, None, None]:
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
