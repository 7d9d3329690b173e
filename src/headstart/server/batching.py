"""Micro-batching: concurrent requests are queued and answered by shared forward passes.

The collector gathers waiting requests into a batch of at most `max_batch` inputs and runs it on a single worker
thread, so the event loop stays free. While a batch runs, the next one gathers whatever arrives and starts the
moment the worker is free. When the worker is idle, a batch starts as soon as as many requests wait as the last
batch answered, when that was several (under steady load its clients are back: waiting longer only idles the
worker), and at the latest `max_wait_ms` after its oldest request arrived.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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
        self._pending: deque[_Request[Item, Result]] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_requests = 0  # requests in the last batch: when as many (two or more) wait again, the next starts

    @property
    def queued(self) -> int:
        return len(self._pending)

    def _ensure_started(self) -> asyncio.Event:
        """Start the collector on the running loop (again if the loop changed, as between test clients)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done() or self._arrived is None:
            self._loop = loop
            self._pending.clear()
            self._arrived = asyncio.Event()
            self._task = loop.create_task(self._collect(), name="headstart-batcher")
        return self._arrived

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """Queue `items` (kept together in one batch) and wait for their results."""
        arrived = self._ensure_started()
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self.stats.requests += 1
        self._pending.append(_Request(list(items), future))
        arrived.set()
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

    def _full(self) -> bool:
        """Whether the waiting requests fill a batch: max_batch inputs, or the next one would not fit whole."""
        size = 0
        for request in self._pending:
            if size + len(request.items) > self.max_batch:
                return True
            size += len(request.items)
        return size >= self.max_batch

    def _take(self) -> list[_Request[Item, Result]]:
        """The next batch: waiting requests in arrival order, kept whole, at most max_batch inputs (one request
        larger than that runs alone)."""
        batch = [self._pending.popleft()]
        size = len(batch[0].items)
        while self._pending and size + len(self._pending[0].items) <= self.max_batch:
            size += len(self._pending[0].items)
            batch.append(self._pending.popleft())
        return batch

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        arrived = self._arrived
        assert arrived is not None
        running: asyncio.Task[None] | None = None
        try:
            while True:
                if not self._pending:
                    arrived.clear()
                    await arrived.wait()
                    continue
                deadline = self._pending[0].queued_at + self.max_wait  # the oldest request waits no longer
                gathered_while_busy = False
                while not self._full():
                    busy = running is not None and not running.done()
                    remaining = deadline - time.perf_counter()
                    back = 1 < self._last_requests <= len(self._pending)  # the last batch's clients are back
                    if not busy and (gathered_while_busy or back or remaining <= 0):
                        break
                    gathered_while_busy = gathered_while_busy or busy
                    arrived.clear()
                    arrival = loop.create_task(arrived.wait())
                    waits: set[asyncio.Future[Any]] = {arrival, running} if busy and running else {arrival}
                    await asyncio.wait(waits, timeout=None if busy else remaining, return_when=FIRST_COMPLETED)
                    arrival.cancel()
                if running is not None:  # one batch on the worker at a time; this one starts the moment it is free
                    await asyncio.wait({running})
                batch = self._take()
                self._last_requests = len(batch)
                running = loop.create_task(self._dispatch(batch, loop), name="headstart-batch")
        except asyncio.CancelledError:
            for request in self._pending:
                request.future.cancel()
            self._pending.clear()
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
