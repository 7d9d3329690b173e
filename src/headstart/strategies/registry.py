"""The registered strategies by name; a name may carry a parameter after a colon (`partial:2`)."""

from __future__ import annotations

from typing import Any

from headstart.config import CLI_CALLER
from headstart.errors import StrategyError, did_you_mean
from headstart.strategies.auto import AutoStrategy
from headstart.strategies.base import Strategy
from headstart.strategies.baseline import BaselineStrategy
from headstart.strategies.contrastive import ContrastiveStrategy
from headstart.strategies.finetune import FullStrategy, PartialStrategy, ScratchStrategy
from headstart.strategies.linear import LinearStrategy
from headstart.strategies.zero_shot import ZeroShotStrategy


def _registry() -> dict[str, Strategy]:
    """Every strategy by name; `auto` is handed the ones it may choose (it never imports this module)."""
    fixed: list[Strategy] = [
        LinearStrategy(),
        PartialStrategy(),
        FullStrategy(),
        ContrastiveStrategy(),
        ScratchStrategy(),
        BaselineStrategy(),
        ZeroShotStrategy(),
    ]
    by_name = {s.name: s for s in fixed}
    auto = AutoStrategy({name: by_name[name] for name in AutoStrategy.choices_names})
    return {**by_name, auto.name: auto}


_STRATEGIES = _registry()
STRATEGIES: tuple[str, ...] = tuple(_STRATEGIES)
SPEC_FORMS = {"partial": "partial:K", "contrastive": "contrastive[:K]"}  # how strategies with an argument are written


def all_strategies() -> list[Strategy]:
    """The registered strategies, in registration order."""
    return list(_STRATEGIES.values())


def default_study_strategies(modality: str, task: str) -> list[str]:
    """What `study` compares without --strategies: each strategy that declares the modality and fits the task."""
    return [s.name for s in _STRATEGIES.values() if modality in s.study_modalities and task in s.tasks]


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name` (without parameters)."""
    if name not in _STRATEGIES:
        hint = did_you_mean(name, _STRATEGIES)
        raise StrategyError(
            f"unknown strategy {name!r}" + (f" — did you mean {hint!r}?" if hint else ""),
            expected=f"one of {', '.join(SPEC_FORMS.get(n, n) for n in _STRATEGIES)} (K: how many last stages train)",
            fix="use one of those names (`fit --strategy`, `study --strategies`; see `headstart fit --help`)"
            if CLI_CALLER.get()
            else "pass strategy= (fit) or strategies= (study) one of those names; see help(headstart.fit)",
        )
    return _STRATEGIES[name]


def fits(strategy: Strategy, task: str) -> bool:
    """Whether `strategy` can fit `task`: it names the kind, or a kind whose outputs are the same (a registered
    kind of exclusive classes trains like classification)."""
    from headstart.tasks import get_task

    return task in strategy.tasks or get_task(task).outputs in {get_task(t).outputs for t in strategy.tasks}


def check_strategy_task(strategy: Strategy, task: str) -> None:
    """A StrategyError when `strategy` cannot fit `task` data (e.g. `auto` on regression)."""
    if fits(strategy, task):
        return
    able = [s.name for s in _STRATEGIES.values() if fits(s, task)]
    raise StrategyError(
        f"strategy {strategy.name!r} cannot fit {task} data",
        expected=f"for {task}: one of {', '.join(able)}",
        fix=f"pass --strategy {able[0] if able else 'linear'}, or --task classification to treat each value as a class",
    )


def resolve_strategy(spec: str) -> tuple[Strategy, dict[str, Any]]:
    """`"partial:2"` → (the partial strategy, {"arg": "2"}); `"linear"` → (linear, {})."""
    name, sep, arg = spec.partition(":")
    strategy = get_strategy(name.strip())
    return strategy, ({"arg": arg.strip()} if sep else {})
