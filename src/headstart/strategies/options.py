"""Which `fit` options a strategy uses, derived from the strategies' declarations (`Strategy.uses`): the run's
tracked params, and a note for each option set by the user that the strategy which trained ignored."""

from __future__ import annotations

from typing import Any

from headstart.config import CLI_CALLER, FitConfig
from headstart.strategies.base import Strategy
from headstart.strategies.registry import SPEC_FORMS, all_strategies, built_strategies, fits, for_task, get_strategy

CLI_FLAGS_OF_FIT = set(FitConfig.model_fields) - {"C", "progress"}  # Python-only options have no --flag
# The union of the registered strategies' `uses()`, written out so that a linear fit need not import every
# strategy (the gradient ones load torch) to know which of its options are strategy options;
# tests/strategies/test_strategy_declarations.py checks it against the declarations.
DECLARED_OPTIONS = frozenset(
    {"C", "augment", "candidates", "head", "label_descriptions", "loss", "lr", "lr_ratio", "max_epochs",
     "ocr_max_pages", "ocr_max_side", "ocr_orientation", "patience", "prompt_templates", "resume", "text_backbone",
     "time_budget", "views"}
)  # fmt: skip


def strategy_options() -> frozenset[str]:
    """Every option some strategy declares: the others (data, backbone, seed, budget, ...) every fit reads."""
    return DECLARED_OPTIONS.union(*(s.uses() for s in built_strategies()))


def unused_options(strategy: Strategy, task: str, modality: str | None = None) -> set[str]:
    """Fit options `strategy` cannot use on `task` (and `modality`, None: either) data; a strategy that chooses
    another (`auto`) uses every option it might hand on."""
    return set(strategy_options() - strategy.uses(modality, task))


def applicable_params(config: FitConfig, strategy: Strategy, task: str, modality: str | None = None) -> dict[str, Any]:
    """The fit options that can matter for this strategy and task, for the run's params (the full config is
    logged as an artifact for `reproduce`): no epochs for a linear probe, no loss for classification."""
    drop = unused_options(strategy, task, modality) | {"progress"}
    return {k: v for k, v in config.model_dump().items() if k not in drop}


def users_of(option: str, task: str | None = None) -> str:
    """Who reads `option`, in words, from the declarations: "partial:K, full, contrastive[:K] and scratch on images".

    With `task`, only the strategies that run on its data count, as the user names them (on documents `linear` is
    `fields-linear`, which reads no --head): "" when none reads it there."""
    runs = [(s, s if task is None else for_task(s, task)) for s in all_strategies()]
    if task is not None:
        runs = [(named, own) for named, own in runs if fits(own, task)]
    readers = [(named, own) for named, own in runs if option in own.uses()]
    users = [(named, own) for named, own in readers if not own.chooser_options] or readers  # `auto`: when alone
    if not users:
        return ""
    names = [SPEC_FORMS.get(named.name, named.name) for named, _ in users]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    gradient = [own for _, own in runs if own.checkpoints and not own.chooser_options]
    if len(users) > 1 and [own for _, own in users] == gradient:
        listed = f"the gradient strategies ({', '.join(names)})"
    if all(option in own.image_options for _, own in users):
        return f"{listed} on images"
    kinds = {kind for _, own in users for kind, extra in own.task_options.items() if option in extra}
    if len(kinds) == 1 and all(option not in own.options for _, own in users):
        return f"{kinds.pop()} with {listed.replace(' and ', ' or ')}"
    return listed


def ignored_option_notes(
    config: FitConfig, asked: Strategy, trained: dict[str, Any], modality: str, task: str
) -> list[str]:
    """A note for each option set away from its default that the strategy which trained did not use.

    `trained` is the model's manifest `strategy` section: for `auto`, the strategy it chose decides (auto itself
    read its `chooser_options`, --backbones and --time-budget, to choose)."""
    name = str(trained.get("name") or asked.name)
    strategy = get_strategy(name) if name != asked.name else asked
    unused = unused_options(strategy, task, modality) - asked.chooser_options
    by = f"{trained.get('spec') or name} (chosen by {asked.name})" if asked.chooser_options else str(config.strategy)
    notes = []
    for option in sorted(unused):
        value, default = getattr(config, option), FitConfig.model_fields[option].default
        if value != default:
            users = users_of(option, task)
            applies = f"applies only to {users}" if users else f"applies to no strategy on {task} data"
            notes.append(f"{as_flag(option, value)} {applies}; ignored by {by}")
    return notes


def as_flag(option: str, value: Any) -> str:
    """The option as the user wrote it: "--head svm", "--no-augment" from the CLI; "head='svm'" from Python."""
    if not CLI_CALLER.get() or option not in CLI_FLAGS_OF_FIT:
        return f"{option}={value!r}"
    flag = "--backbones" if option == "candidates" else "--" + option.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"--no-{option.replace('_', '-')}"
    if isinstance(value, list):
        return f"{flag} {','.join(map(str, value))}"
    if option == "time_budget":
        return f"{flag} {value:g}s"
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"
