"""The default engine: everything in this process, one batch and one cell at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from headstart.engines.base import CellOutcome, Event, ExtractJob
from headstart.errors import BadItemError
from headstart.progress import progress_bar


class LocalEngine:
    """Extraction with ONNX Runtime on this machine's cores; study cells one after another."""

    name = "local"

    def extract(self, job: ExtractJob, *, progress: bool = True) -> dict[str, str]:
        from headstart.features import CHUNK_ROWS, _prepared_batches
        from headstart.runtime import FrozenRunner

        backbone, dataset, digests = job.backbone, job.dataset, job.digests
        run = job.runner or FrozenRunner(backbone, stop=job.stop, pooled=True, threads=job.threads)
        bad: dict[str, str] = {}
        pending_digests: list[str] = []
        pending_rows: list[np.ndarray] = []
        jobs = [(i, 0) for i in job.todo]
        with progress_bar(f"features {backbone.name}", total=len(job.todo), enabled=progress) as advance:
            for ok, inputs, failures in _prepared_batches(backbone, dataset, jobs, job.batch_size):
                batch_idx = [i for i, _ in ok]
                for i, reason in failures:
                    if job.on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    bad[digests[i]] = reason
                if batch_idx:
                    pending_rows.append(np.asarray(run(inputs), dtype=np.float32))
                    pending_digests.extend(digests[i] for i in batch_idx)
                if len(pending_digests) >= CHUNK_ROWS:
                    job.space.append(pending_digests, np.concatenate(pending_rows))
                    pending_digests, pending_rows = [], []
                advance(len(batch_idx) + len(failures))
            if pending_digests:
                job.space.append(pending_digests, np.concatenate(pending_rows))
        return bad

    def run_cells(
        self, cells: list[Any], runner: Callable[[Any], dict[str, Any]], *, cpus: float = 1, emit: Event | None = None
    ) -> Iterator[CellOutcome]:
        for cell in cells:
            if emit:
                emit("cell_start", cell=cell)
            yield cell, runner(cell)
