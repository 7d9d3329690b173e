"""The registered strategies by name; a name may carry a parameter after a colon (`partial:2`)."""

from __future__ import annotations

import importlib
from typing import Any

from headstart.config import CLI_CALLER
from headstart.errors import StrategyError, did_you_mean
from headstart.manifest import register_section_loader
from headstart.strategies.base import Strategy
from headstart.tasks import Outputs

# Each strategy's class by name, imported the first time the strategy is asked for: a linear fit or a prediction
# loads its own module only, not torch with the gradient strategies. `auto` is handed the strategies it may
# choose (it never imports this module).
_REGISTERED: dict[str, str] = {
    "linear": "headstart.strategies.linear:LinearStrategy",
    "partial": "headstart.strategies.finetune:PartialStrategy",
    "full": "headstart.strategies.finetune:FullStrategy",
    "contrastive": "headstart.strategies.contrastive:ContrastiveStrategy",
    "scratch": "headstart.strategies.finetune:ScratchStrategy",
    "baseline": "headstart.strategies.baseline:BaselineStrategy",
    "zero-shot": "headstart.strategies.zero_shot:ZeroShotStrategy",
    "auto": "headstart.strategies.auto:AutoStrategy",
    "rules": "headstart.strategies.fields.strategy:RulesFieldsStrategy",
}
# What a name means on data whose task kind's models are not heads on pooled features, by the kind's `outputs`:
# `--strategy linear` on documents is the fields tagger on frozen line embeddings (`for_task`). Those strategies
# have their own names, which their bundles record, but are not offered as names to choose.
_FOR_OUTPUTS: dict[Outputs, dict[str, str]] = {
    Outputs.FIELDS: {"linear": "fields-linear", "baseline": "fields-baseline", "partial": "fields-partial"},
}
_VARIANTS: dict[str, str] = {
    "fields-linear": "headstart.strategies.fields.strategy:LinearFieldsStrategy",
    "fields-baseline": "headstart.strategies.fields.strategy:BaselineFieldsStrategy",
    "fields-partial": "headstart.strategies.fields.tuned:PartialFieldsStrategy",
}
_STRATEGIES: dict[str, Strategy] = {}  # the ones built so far, by name
STRATEGIES: tuple[str, ...] = tuple(_REGISTERED)
SPEC_FORMS = {"partial": "partial:K", "contrastive": "contrastive[:K]"}  # how strategies with an argument are written


def _import_module_of(name: str) -> None:
    """Import the module of the strategy called `name` (its classes register their manifest sections)."""
    where = _REGISTERED.get(name) or _VARIANTS.get(name)
    if where is not None:
        importlib.import_module(where.partition(":")[0])


register_section_loader(_import_module_of)  # a bundle's sections are typed by its strategy's module, loaded now


def _names() -> list[str]:
    """Every strategy name: the registered ones, then any built outside the table (a test's own)."""
    return [*_REGISTERED, *(name for name in _STRATEGIES if name not in _REGISTERED and name not in _VARIANTS)]


def _build(name: str) -> Strategy:
    """The strategy called `name`, its module imported now; one that chooses (`auto`) gets its choices built."""
    where = _REGISTERED.get(name) or _VARIANTS[name]
    module, _, attribute = where.partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    choices = getattr(factory, "choices_names", None)
    strategy: Strategy = factory({c: get_strategy(c) for c in choices}) if choices is not None else factory()
    if strategy.name != name:
        raise RuntimeError(f"the registry names {where} {name!r}, but it calls itself {strategy.name!r}")
    return strategy


def all_strategies() -> list[Strategy]:
    """The registered strategies, in registration order (every strategy module is imported)."""
    return [get_strategy(name) for name in _names()]


def built_strategies() -> list[Strategy]:
    """The strategies asked for so far in this process (no module imported)."""
    return list(_STRATEGIES.values())


def default_study_strategies(modality: str, task: str) -> list[str]:
    """What `study` compares without --strategies: each strategy that, on `task` data (`for_task`), declares the
    modality and fits the task."""
    chosen = []
    for strategy in all_strategies():
        own = for_task(strategy, task)
        if modality in own.study_modalities and task in own.tasks:
            chosen.append(strategy.name)
    return chosen


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name` (without parameters), or a task kind's own one (`fields-linear`)."""
    if name in _STRATEGIES:
        return _STRATEGIES[name]
    if name not in _REGISTERED and name not in _VARIANTS:
        hint = did_you_mean(name, _names())
        raise StrategyError(
            f"unknown strategy {name!r}" + (f" — did you mean {hint!r}?" if hint else ""),
            expected=f"one of {', '.join(SPEC_FORMS.get(n, n) for n in _names())} (K: how many last stages train)",
            fix="use one of those names (`fit --strategy`, `study --strategies`; see `headstart fit --help`)"
            if CLI_CALLER.get()
            else "pass strategy= (fit) or strategies= (study) one of those names; see help(headstart.fit)",
        )
    return _STRATEGIES.setdefault(name, _build(name))


def for_task(strategy: Strategy, task: str) -> Strategy:
    """The strategy that runs when the user asks for `strategy` on `task` data: the task kind's own strategy of
    that name (on documents, `linear` is `fields-linear`), else `strategy` itself."""
    from headstart.tasks import get_task

    own = _FOR_OUTPUTS.get(get_task(task).outputs, {}).get(strategy.name)
    return get_strategy(own) if own is not None else strategy


def fits(strategy: Strategy, task: str) -> bool:
    """Whether `strategy` can fit `task`: it names the kind, or a kind whose outputs are the same (a registered
    kind of exclusive classes trains like classification)."""
    from headstart.tasks import get_task

    return task in strategy.tasks or get_task(task).outputs in {get_task(t).outputs for t in strategy.tasks}


def check_strategy_task(strategy: Strategy, task: str) -> None:
    """A StrategyError when `strategy` (or the task kind's own strategy of its name) cannot fit `task` data (e.g.
    `auto` on regression)."""
    if fits(for_task(strategy, task), task):
        return
    able = [s.name for s in all_strategies() if fits(for_task(s, task), task)]
    if not able:
        raise StrategyError(
            f"no strategy can fit {task} data yet",
            expected=f"data of a task kind some strategy fits: {', '.join(_fitted_kinds())}",
            fix=f"{task} data can be inspected (`headstart inspect`) but not fitted in this version",
        )
    raise StrategyError(
        f"strategy {strategy.name!r} cannot fit {task} data",
        expected=f"for {task}: one of {', '.join(able)}",
        fix=f"pass --strategy {able[0]}, or --task classification to treat each value as a class",
    )


def _fitted_kinds() -> list[str]:
    """The task kinds at least one registered strategy fits."""
    return sorted({kind for s in [*all_strategies(), *map(get_strategy, _VARIANTS)] for kind in s.tasks})


def resolve_strategy(spec: str) -> tuple[Strategy, dict[str, Any]]:
    """`"partial:2"` → (the partial strategy, {"arg": "2"}); `"linear"` → (linear, {})."""
    name, sep, arg = spec.partition(":")
    strategy = get_strategy(name.strip())
    return strategy, ({"arg": arg.strip()} if sep else {})
