"""How the commands' results show themselves: a short `repr` for notebooks and the interval `--json` adds."""

from __future__ import annotations

from typing import Any


def interval(summary: dict[str, Any]) -> list[float] | None:
    from headstart.tasks.metrics import interval_of  # scipy loads only when a result is written out

    return interval_of(summary)


def figures(values: dict[str, Any]) -> str:
    """`accuracy=0.933 macro_f1=0.931 n=12`: the numbers of a metrics summary, floats to 3 places."""
    shown = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items() if is_number(v)]
    return " ".join(shown)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def left_out(**lists: list[Any]) -> str:
    """`, 2 notes (.notes)` for each non-empty list: what a short repr leaves out and where to find it."""
    return "".join(f", {len(v)} {k if len(v) > 1 else k.removesuffix('s')} (.{k})" for k, v in lists.items() if v)
