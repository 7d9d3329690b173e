"""Small linear problems on one BLAS/OpenMP thread: how choosing a linear head's C became fast.

On a few hundred rows each solver step is a handful of small matrix products. Split across thread pools
(OpenBLAS, scikit-learn's OpenMP and, once torch is loaded, torch's own OpenMP runtime) the threads spend
their time waiting for one another: choosing C for 400 x 1280 features and 10 classes took 22 s of CPU
with the default pools and 0.4 s on one thread, with the same folds, grid and choice (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Above this many feature values (rows x columns) a problem keeps the default thread pools, where a large
# matrix product may gain from more cores (not measured); 400 x 1280 is a tenth of it.
SMALL_PROBLEM = 4_000_000


@contextmanager
def small_problem_threads(X: Any) -> Iterator[None]:
    """Run the block with one BLAS/OpenMP thread when `X` is small (see the module docstring)."""
    rows, columns = X.shape
    if rows * columns > SMALL_PROBLEM:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
