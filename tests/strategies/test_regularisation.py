"""Small linear problems run on one BLAS/OpenMP thread; large ones keep the default pools."""

from __future__ import annotations

from unittest import mock

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from headstart.strategies import regularisation
from headstart.strategies.linear import LinearHead


def _max_threads() -> int:
    return max(pool["num_threads"] for pool in threadpool_info())


def test_small_problem_runs_on_one_thread() -> None:
    with threadpool_limits(limits=2):
        with regularisation.small_problem_threads(np.zeros((400, 1280))):
            inside = _max_threads()
        after = _max_threads()
    assert inside == 1
    assert after == 2  # the limit ends with the block


def test_large_problem_keeps_the_pools() -> None:
    with threadpool_limits(limits=2), mock.patch.object(regularisation, "SMALL_PROBLEM", 100):
        with regularisation.small_problem_threads(np.zeros((400, 1280))):
            assert _max_threads() == 2


def test_linear_head_searches_C_on_one_thread() -> None:
    seen: list[int] = []
    original = LinearHead._choose_C

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_max_threads())
        return original(self, *args, **kwargs)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 16)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 20)
    X[y == "a", 0] += 3
    with threadpool_limits(limits=2), mock.patch.object(LinearHead, "_choose_C", spy):
        head = LinearHead(seed=0).fit(X, y)
    assert seen == [1]
    assert head.C_ in (0.01, 0.1, 1.0)
