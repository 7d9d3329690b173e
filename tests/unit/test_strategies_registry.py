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
