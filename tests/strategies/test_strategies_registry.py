"""The strategy registry's errors say how strategies are written."""

from __future__ import annotations

import pytest

from headstart.errors import StrategyError
from headstart.strategies import resolve_strategy


def test_an_unknown_strategy_lists_the_names_as_they_are_written() -> None:
    with pytest.raises(StrategyError, match="did you mean 'partial'") as err:
        resolve_strategy("parital:2")
    assert "partial:K" in (err.value.expected or "") and "contrastive[:K]" in (err.value.expected or "")
    assert "linear" in (err.value.expected or "")


def test_the_fix_speaks_python_to_python_callers_and_flags_to_the_cli() -> None:
    from headstart.config import CLI_CALLER

    with pytest.raises(StrategyError) as python:
        resolve_strategy("linearr")
    assert "strategy=" in (python.value.fix or "") and "--strategy" not in (python.value.fix or "")
    caller = CLI_CALLER.set(True)
    try:
        with pytest.raises(StrategyError) as cli:
            resolve_strategy("linearr")
    finally:
        CLI_CALLER.reset(caller)
    assert "`fit --strategy`" in (cli.value.fix or "")
