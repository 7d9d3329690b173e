"""Which `fit` options a strategy uses: the run's tracked params, and a note for each option it ignores."""

from __future__ import annotations

from typing import Any

from headstart.config import CLI_CALLER, FitConfig
from headstart.strategies import Strategy

GRADIENT_OPTIONS = ("max_epochs", "lr", "lr_ratio", "patience", "augment", "views", "resume", "time_budget")


def applicable_params(config: FitConfig, strategy: Strategy, task: str) -> dict[str, Any]:
    """The fit options that can matter for this strategy and task, for the run's params (the full config is
    logged as an artifact for `reproduce`): no epochs for a linear probe, no loss for classification."""
    params = config.model_dump(exclude={"progress"})
    drop = unused_options(strategy, task)
    return {k: v for k, v in params.items() if k not in drop}


def unused_options(strategy: Strategy, task: str) -> set[str]:
    """Fit options `strategy` cannot use on `task` data (`auto`: none it might hand to the strategy it picks)."""
    from headstart.strategies.finetune import GradientStrategy

    name = strategy.name
    drop: set[str] = set()
    if not isinstance(strategy, GradientStrategy) and name != "auto":
        drop.update(GRADIENT_OPTIONS)
    if task != "regression":
        drop.add("loss")
    if name not in ("zero-shot", "auto"):
        drop.update({"text_backbone", "label_descriptions"})
    if name not in ("linear", "baseline", "auto"):
        drop.update({"head", "C"})
    if name != "auto":
        drop.add("candidates")
    return drop


CLI_FLAGS_OF_FIT = set(FitConfig.model_fields) - {"C", "progress"}  # Python-only options have no --flag
OPTION_USERS = {  # who uses an option, for the note when another strategy ignores it
    **dict.fromkeys(GRADIENT_OPTIONS, "the gradient strategies (partial:K, full, scratch, contrastive)"),
    "patience": "partial:K, full and scratch (early stopping)",
    "lr_ratio": "partial:K, full and scratch",
    "views": "partial:K and contrastive on images",
    "augment": "the gradient strategies on images",
    "loss": "regression with partial:K, full or scratch",
    "head": "linear and baseline",
    "C": "linear and baseline",
    "text_backbone": "zero-shot",
    "label_descriptions": "zero-shot",
    "candidates": "auto",
}


def ignored_option_notes(
    config: FitConfig, asked: Strategy, trained: dict[str, Any], modality: str, task: str
) -> list[str]:
    """A note for each option set away from its default that the strategy which trained did not use.

    `trained` is the model's manifest `strategy` section: for `auto`, the strategy it chose decides (auto itself
    used --backbones and --time-budget to choose)."""
    from headstart.strategies import get_strategy

    name = str(trained.get("name") or asked.name)
    strategy = get_strategy(name) if name != asked.name else asked
    unused = unused_options(strategy, task)
    if name == "contrastive":
        unused.update({"patience", "lr_ratio"})  # no validation phase; one rate per stage, decaying by depth
    if name not in ("partial", "contrastive") or modality != "image":
        unused.add("views")
    if modality != "image":
        unused.add("augment")
    if name not in ("partial", "full", "scratch"):
        unused.add("loss")
    if asked.name == "auto":
        unused -= {"candidates", "time_budget"}
    by = f"{trained.get('spec') or name} (chosen by auto)" if asked.name == "auto" else str(config.strategy)
    notes = []
    for option in sorted(unused & set(OPTION_USERS)):
        value, default = getattr(config, option), FitConfig.model_fields[option].default
        if value != default:
            notes.append(f"{as_flag(option, value)} applies only to {OPTION_USERS[option]}; ignored by {by}")
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
