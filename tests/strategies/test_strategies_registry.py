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


def test_a_strategy_module_is_imported_when_the_strategy_is_first_asked_for() -> None:
    """A linear fit or prediction asks for `linear` only: the gradient strategies (and torch with them) stay out."""
    import subprocess
    import sys

    child = (
        "import sys\n"
        "from headstart.strategies import STRATEGIES, get_strategy\n"
        "from headstart.strategies.options import applicable_params\n"
        "from headstart.config import FitConfig\n"
        "linear = get_strategy('linear')\n"
        "applicable_params(FitConfig(), linear, 'classification', 'image')\n"
        "loaded = [m for m in ('torch', 'headstart.strategies.finetune', 'headstart.strategies.auto') if m in sys.modules]\n"
        "get_strategy('auto')\n"
        "print(','.join(STRATEGIES), '|', ','.join(loaded), '|', 'headstart.strategies.finetune' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    names, loaded, later = (part.strip() for part in done.stdout.split("|"))
    assert names == "linear,partial,full,contrastive,scratch,baseline,zero-shot,auto,rules"
    assert loaded == ""
    assert later == "True"  # auto is handed the strategies it may choose, built then


def test_every_registered_name_builds_the_strategy_of_that_name() -> None:
    from headstart.strategies import STRATEGIES, all_strategies, get_strategy

    assert [s.name for s in all_strategies()] == list(STRATEGIES)
    assert get_strategy("auto").choices["partial"] is get_strategy("partial")


def test_a_bundle_s_sections_are_typed_by_its_strategy_even_before_the_strategy_is_asked_for() -> None:
    """Strategies load on first use, but reading a manifest loads the module that types its sections."""
    import subprocess
    import sys
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "image-classification-partial1"
    child = (
        "import sys\n"
        "import headstart.bundle\n"
        "from headstart.manifest import read_manifest\n"
        f"m = read_manifest({str(bundle)!r})\n"
        "print(type(m.strategy).__name__, type(m.head).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["GradientSection", "FinetunedHeadSection"]
