"""Execution engines: where feature extraction and study cells run — this process, or a Ray cluster.

An engine answers two calls: `extract(job)` computes the missing rows of a feature space, and
`run_cells(cells, runner)` runs study cells and yields their records as they finish. `use_engine` makes an
engine current for a block, so `extract_features` (called from every strategy) picks it up without each
strategy knowing about engines. Ray is imported only when the Ray engine is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from headstart.engines.base import CellOutcome, Engine, ExtractJob
from headstart.engines.local import LocalEngine

ENGINES = ("local", "ray")
_current: ContextVar[Engine | None] = ContextVar("headstart_engine", default=None)


def get_engine(name: str = "local", *, address: str | None = None, cpus_per_worker: int | None = None) -> Engine:
    """The engine called `name`; `address` is the Ray cluster to join (None: start a local Ray instance)."""
    if name == "local":
        return LocalEngine()
    if name == "ray":
        from headstart.engines.ray import RayEngine

        return RayEngine(address=address, cpus_per_worker=cpus_per_worker)
    from headstart.errors import UsageError, did_you_mean

    guess = did_you_mean(name, ENGINES)
    raise UsageError(
        f"unknown engine {name!r}" + (f"; did you mean {guess!r}?" if guess else ""),
        expected=f"one of {', '.join(ENGINES)}",
        fix="pass --engine local (this machine) or --engine ray (a Ray cluster)",
    )


def current_engine() -> Engine:
    """The engine made current by `use_engine`, else the local one."""
    return _current.get() or LocalEngine()


@contextmanager
def use_engine(
    engine: Engine | str = "local", *, address: str | None = None, threads: int | None = None
) -> Iterator[Engine]:
    """Run the block with `engine` current (a name is built with `get_engine`)."""
    built = get_engine(engine, address=address, cpus_per_worker=threads) if isinstance(engine, str) else engine
    token = _current.set(built)
    try:
        yield built
    finally:
        _current.reset(token)


__all__ = [
    "ENGINES",
    "CellOutcome",
    "Engine",
    "ExtractJob",
    "LocalEngine",
    "current_engine",
    "get_engine",
    "use_engine",
]
