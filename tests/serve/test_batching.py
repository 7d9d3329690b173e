"""The micro-batcher: concurrent submissions share forward passes, stay whole, and get their own results."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from headstart.errors import DataError
from headstart.server.batching import MicroBatcher


def test_concurrent_requests_share_batches() -> None:
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        time.sleep(0.01)  # a forward pass: requests pile up meanwhile
        return [i * 10 for i in items]

    async def main() -> list[list[int]]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=8, max_wait_ms=20)
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(40)))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [[i * 10] for i in range(40)]
    assert len(seen) < 40 / 2  # batched, not one pass per request
    assert max(len(b) for b in seen) == 8  # never more than max_batch
    assert sorted(i for b in seen for i in b) == list(range(40))


def test_requests_stay_whole_and_in_order() -> None:
    seen: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        seen.append(list(items))
        return [s.upper() for s in items]

    async def main() -> list[list[str]]:
        batcher: MicroBatcher[str, str] = MicroBatcher(run, max_batch=4, max_wait_ms=30)
        requests = [["a", "b", "c"], ["d", "e"], ["f"], ["g", "h", "i", "j", "k"]]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.stop()
        return out

    assert asyncio.run(main()) == [["A", "B", "C"], ["D", "E"], ["F"], ["G", "H", "I", "J", "K"]]
    joined = ["|".join(batch) for batch in seen]
    for request in (["a", "b", "c"], ["d", "e"], ["f"]):
        assert any("|".join(request) in batch for batch in joined)  # never split over two passes
    assert ["g", "h", "i", "j", "k"] in seen  # larger than max_batch: a pass of its own


def test_single_request_waits_at_most_max_wait() -> None:
    async def main() -> float:
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: xs, max_batch=32, max_wait_ms=5)
        start = time.perf_counter()
        await batcher.submit([1])
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert asyncio.run(main()) < 0.5


def test_runs_off_the_event_loop_thread() -> None:
    threads: list[str] = []

    def run(items: list[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        return items

    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(run)
        await batcher.submit([1])
        await batcher.stop()

    asyncio.run(main())
    assert threads and threads[0].startswith("headstart-infer")


def test_errors_reach_every_request_of_the_batch_and_the_batcher_survives() -> None:
    calls = 0

    def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DataError("boom")
        return items

    async def main() -> list[object]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=8, max_wait_ms=30)
        first = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
        after = await batcher.submit([3])
        await batcher.stop()
        return [*first, after]

    out = asyncio.run(main())
    assert all(isinstance(e, DataError) for e in out[:2])
    assert out[2] == [3]


@pytest.mark.parametrize("max_batch", [1, 3])
def test_max_batch_is_respected(max_batch: int) -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=max_batch, max_wait_ms=10)
        await asyncio.gather(*(batcher.submit([i]) for i in range(10)))
        await batcher.stop()

    asyncio.run(main())
    assert max(sizes) <= max_batch and sum(sizes) == 10
