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


def test_a_failing_request_fails_alone_and_the_batcher_survives() -> None:
    """A shared pass that raises is retried request by request: only the request that fails alone gets the error."""
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(list(items))
        if -1 in items:
            raise DataError("poisoned")
        return items

    async def main() -> list[object]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=8, max_wait_ms=30)
        first = await asyncio.gather(
            batcher.submit([1]), batcher.submit([2, -1]), batcher.submit([3, 4]), return_exceptions=True
        )
        after = await batcher.submit([5])
        await batcher.stop()
        return [*first, after]

    out = asyncio.run(main())
    assert out[0] == [1] and isinstance(out[1], DataError) and out[2] == [3, 4] and out[3] == [5]
    assert batches[0] == [1, 2, -1, 3, 4]  # they did share a pass first
    assert batches[1:4] == [[1], [2, -1], [3, 4]]


def test_a_wrong_number_of_results_is_an_error_not_a_misaligned_answer() -> None:
    async def main() -> object:
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: items[:-1], max_batch=8, max_wait_ms=1)
        try:
            return await batcher.submit([1, 2])
        except RuntimeError as err:
            return err
        finally:
            await batcher.stop()

    assert isinstance(asyncio.run(main()), RuntimeError)


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


def test_requests_that_arrive_during_a_pass_start_the_moment_it_ends() -> None:
    """No waiting for companions then: the next batch gathered while the worker was busy (answering and parsing
    requests overlap the forward passes instead of alternating with them)."""
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        time.sleep(0.15)
        return items

    async def main() -> float:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=4, max_wait_ms=2000)
        first = asyncio.ensure_future(batcher.submit([1, 2, 3, 4]))  # a full batch: runs at once
        await asyncio.sleep(0.05)
        start = time.perf_counter()
        await asyncio.gather(batcher.submit([5]), batcher.submit([6]))  # arrive while it runs
        elapsed = time.perf_counter() - start
        await first
        await batcher.stop()
        return elapsed

    elapsed = asyncio.run(main())
    assert seen == [[1, 2, 3, 4], [5, 6]]
    assert elapsed < 1.0  # not max_wait_ms (2 s) after the worker was free


def test_an_idle_worker_starts_when_the_last_batch_s_clients_are_back_or_after_max_wait() -> None:
    """Under steady load the clients just answered come back together: waiting longer for companions only idles
    the worker. Fewer than that wait at most max_wait_ms after the oldest arrived."""
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        return items

    async def main() -> tuple[float, float]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=8, max_wait_ms=1000)
        await asyncio.gather(batcher.submit([1]), batcher.submit([2]))  # a batch of two requests
        start = time.perf_counter()
        third = asyncio.ensure_future(batcher.submit([3]))
        await asyncio.sleep(0.1)
        await asyncio.gather(third, batcher.submit([4]))  # two again: the batch starts now
        pair = time.perf_counter() - start
        start = time.perf_counter()
        await batcher.submit([5])  # alone: waits for a companion until max_wait_ms
        alone = time.perf_counter() - start
        await batcher.stop()
        return pair, alone

    pair, alone = asyncio.run(main())
    assert seen == [[1, 2], [3, 4], [5]]
    assert pair < 0.8 and 0.9 < alone < 3.0
