"""Micro-batching: concurrent requests are queued and answered by shared forward passes.

A collector task takes the first waiting request, then keeps adding requests until the batch holds
`max_batch` inputs or `max_wait_ms` has passed, and runs the batch on a single worker thread so the
event loop stays free. Requests that arrive while a batch runs are picked up by the next one, so
batches grow (and throughput with them) as concurrency grows.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Request(Generic[Item, Result]):
    items: Sequence[Item]
    future: asyncio.Future[list[Result]]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    requests: int = 0
    batches: int = 0
    items: int = 0
    largest: int = 0


class MicroBatcher(Generic[Item, Result]):
    """`await batcher.submit(items)` → one result per item, computed by `run(all items of a batch)`."""

    def __init__(
        self,
        run: Callable[[list[Item]], list[Result]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        name: str = "headstart-infer",
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Request[Item, Result]] | None = None
        self._carry: deque[_Request[Item, Result]] = deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._carry)

    def _ensure_started(self) -> asyncio.Queue[_Request[Item, Result]]:
        """Start the collector on the running loop (again if the loop changed, as between test clients)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._carry.clear()
            self._task = loop.create_task(self._collect(), name="headstart-batcher")
        assert self._queue is not None
        return self._queue

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """Queue `items` (kept together in one batch) and wait for their results."""
        queue = self._ensure_started()
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self.stats.requests += 1
        await queue.put(_Request(list(items), future))
        return await future

    async def stop(self) -> None:
        """Stop collecting (pending requests are cancelled) and release the worker thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _collect(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while True:
                batch = [self._carry.popleft() if self._carry else await queue.get()]
                size = len(batch[0].items)
                deadline = loop.time() + self.max_wait
                while size < self.max_batch:
                    try:
                        if self._carry:
                            request = self._carry.popleft()
                        elif not queue.empty():
                            request = queue.get_nowait()
                        else:
                            remaining = deadline - loop.time()
                            if remaining <= 0:
                                break
                            request = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                    if size + len(request.items) > self.max_batch:
                        self._carry.appendleft(request)  # keep requests whole: it starts the next batch
                        break
                    batch.append(request)
                    size += len(request.items)
                await self._dispatch(batch, loop)
        except asyncio.CancelledError:
            for request in self._carry:
                request.future.cancel()
            raise

    async def _dispatch(self, batch: list[_Request[Item, Result]], loop: asyncio.AbstractEventLoop) -> None:
        live = [r for r in batch if not r.future.done()]  # a client that went away needs no answer
        if not live:
            return
        items = [item for r in live for item in r.items]
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        try:
            results = await loop.run_in_executor(self._executor, self._run, items)
            if len(results) != len(items):
                raise RuntimeError(f"the batch function returned {len(results)} results for {len(items)} items")
        except Exception as err:
            if len(live) > 1:  # one request's items may have failed the shared pass: run each alone
                for r in live:
                    await self._dispatch([r], loop)
                return
            if not live[0].future.done():  # the request that fails on its own gets the error (→ its status)
                live[0].future.set_exception(err)
            return
        start = 0
        for r in live:
            part = results[start : start + len(r.items)]
            start += len(r.items)
            if not r.future.done():
                r.future.set_result(part)
