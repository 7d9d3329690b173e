"""Strategies declare their options, checkpoints and expansion; the fingerprint, the params and expand derive from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import Field

from headstart.config import LEARNS, FitConfig, StrategyOptions, StudyConfig, fingerprint_fields
from headstart.strategies import all_strategies, get_strategy
from headstart.strategies.options import applicable_params, ignored_option_notes, unused_options

STRATEGIES_DIR = Path(__file__).resolve().parents[2] / "src" / "headstart" / "strategies"


def test_every_fit_option_decides_whether_it_enters_the_resume_fingerprint() -> None:
    learned = fingerprint_fields(FitConfig)  # raises if any field lacks the decision
    assert {"seed", "lr", "max_epochs", "strategy", "labels_per_class", "batch_size", "loss"} <= learned
    # how or where a fit runs, or what it records, never blocks a resume
    assert not learned & {"resume", "progress", "threads", "time_budget", "track", "out", "engine", "memory"}


def test_a_new_option_without_the_decision_is_refused() -> None:
    class WithNewOption(FitConfig):
        warmup: int = 0

    with pytest.raises(TypeError, match="warmup"):
        fingerprint_fields(WithNewOption)

    class Decided(FitConfig):
        warmup: int = Field(default=0, json_schema_extra=LEARNS)

    assert "warmup" in fingerprint_fields(Decided)


def test_resume_identity_ignores_run_options_and_follows_learned_ones() -> None:
    from headstart.data.dataset import Dataset
    from headstart.strategies.resume import run_fingerprint, run_options

    data = Dataset(modality="text", items=("a", "b"), ids=("row 1", "row 2"), labels=("x", "y"))
    base = run_fingerprint(run_options(FitConfig(), data))
    assert run_fingerprint(run_options(FitConfig(threads=2, out="elsewhere", time_budget=30), data)) == base
    assert run_fingerprint(run_options(FitConfig(lr=0.01), data)) != base


def test_fit_and_study_share_the_strategy_options_and_their_defaults() -> None:
    shared = set(StrategyOptions.model_fields)
    assert len(shared) == 12 and shared <= set(FitConfig.model_fields) and shared <= set(StudyConfig.model_fields)
    for name in shared:
        assert FitConfig.model_fields[name].default == StudyConfig.model_fields[name].default


def test_declared_options_are_fit_options() -> None:
    fields = set(FitConfig.model_fields)
    for strategy in all_strategies():
        assert strategy.uses() <= fields, strategy.name


def test_the_written_out_strategy_options_are_the_union_of_the_declarations() -> None:
    from headstart.strategies.options import DECLARED_OPTIONS

    assert frozenset().union(*(s.uses() for s in all_strategies())) == DECLARED_OPTIONS


def test_unused_options_follow_the_declarations() -> None:
    assert {"max_epochs", "resume", "augment"} <= unused_options(get_strategy("linear"), "classification")
    contrastive = unused_options(get_strategy("contrastive"), "classification", "text")
    assert {"patience", "lr_ratio", "views", "augment"} <= contrastive and "max_epochs" not in contrastive
    ocr = {"ocr_max_side", "ocr_max_pages", "ocr_orientation"}  # the fields strategies', which auto never picks
    assert unused_options(get_strategy("auto"), "classification") == {"loss", *ocr}  # anything it may hand on
    params = applicable_params(FitConfig(strategy="full"), get_strategy("full"), "regression")
    assert "loss" in params and "head" not in params and "progress" not in params


def test_auto_is_judged_by_what_it_chose_but_not_for_what_it_read_to_choose() -> None:
    config = FitConfig(strategy="auto", max_epochs=3, time_budget=60, candidates=["a"])
    notes = ignored_option_notes(config, get_strategy("auto"), {"name": "linear"}, "text", "classification")
    assert len(notes) == 1 and notes[0].startswith("max_epochs=3 applies only to the gradient strategies")


def test_on_documents_the_notes_name_only_the_strategies_that_run_on_documents() -> None:
    """`linear` on documents is `fields-linear`, which reads C but no --head: --head is read by no strategy there."""
    config = FitConfig(strategy="linear", head="svm", max_epochs=3, C=0.5)
    tagger = ignored_option_notes(config, get_strategy("linear"), {"name": "fields-linear"}, "document", "fields")
    assert tagger == [
        "head='svm' applies to no strategy on fields data; ignored by linear",
        "max_epochs=3 applies only to partial:K; ignored by linear",
    ]  # C reaches the tagger: no note; max_epochs reaches partial:K's fine-tuning of the encoder
    rules = ignored_option_notes(config.model_copy(update={"strategy": "rules"}), get_strategy("rules"),
                                 {"name": "rules"}, "document", "fields")  # fmt: skip
    assert "C=0.5 applies only to linear, partial:K and baseline; ignored by rules" in rules  # the taggers, by name
    images = ignored_option_notes(config.model_copy(update={"strategy": "full"}), get_strategy("full"),
                                  {"name": "full"}, "image", "regression")  # fmt: skip
    assert "head='svm' applies only to linear and baseline; ignored by full" in images


def test_checkpointing_and_expansion_are_declared() -> None:
    from headstart.services.expand.run import EXPANDERS

    assert {s.name for s in all_strategies() if s.checkpoints} == {"partial", "full", "scratch", "contrastive", "auto"}
    for strategy in all_strategies():
        assert strategy.expansion is None or strategy.expansion in EXPANDERS
    assert get_strategy("baseline").expansion is None and get_strategy("contrastive").expansion == "finetuned"


def _imports(path: Path) -> set[str]:
    """Modules of headstart.strategies that `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("headstart.strategies"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if (STRATEGIES_DIR / f"{m.split('.')[-1]}.py").is_file() or m == "headstart.strategies"}


def test_no_import_cycle_inside_strategies() -> None:
    modules = {p.stem: p for p in STRATEGIES_DIR.glob("*.py")}
    graph = {}
    for stem, path in modules.items():
        name = "headstart.strategies" if stem == "__init__" else f"headstart.strategies.{stem}"
        graph[name] = {m for m in _imports(path) if m != name}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        for nxt in graph.get(node, ()):
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            found = cycle_from(nxt, [*path, nxt])
            if found:
                return found
        return None

    for start in graph:
        assert cycle_from(start, [start]) is None, f"import cycle: {' -> '.join(cycle_from(start, [start]) or [])}"


def test_a_study_of_texts_compares_contrastive_by_default(text_csv: Path, tmp_path: Path) -> None:
    from headstart.services.study import plan_study
    from headstart.strategies import default_study_strategies

    assert default_study_strategies("text", "classification") == ["linear", "contrastive", "baseline"]
    assert default_study_strategies("image", "classification") == ["linear", "baseline"]
    assert default_study_strategies("text", "regression") == ["linear", "baseline"]  # contrastive: classes only
    config = StudyConfig(backbone="test-text", budgets=[2], seeds=1, out=str(tmp_path / "s"), progress=False)
    plan = plan_study(text_csv, config)
    assert plan.config.strategies == ["linear", "contrastive", "baseline"]
    assert {c.strategy for c in plan.cells} == {"linear", "contrastive", "baseline"}
