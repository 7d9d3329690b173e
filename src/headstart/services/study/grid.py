"""The study's grid: strategies × label budgets × seeds, parsed from the command line into cells."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from headstart.errors import UsageError
from headstart.strategies import resolve_strategy

REFERENCE_STRATEGIES = (
    "scratch",
    "baseline",
    "rules",
)  # no pretrained network: the yardsticks for transfer
NO_LABELS = 0  # the budget of zero-shot cells: it trains on no example


def parse_strategies(value: str | Iterable[str]) -> list[str]:
    """`"linear,partial:2"` or a list → validated, de-duplicated specs (unknown names: did-you-mean)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    specs = [s.strip() for s in items if s and s.strip()]
    if not specs:
        raise UsageError(
            "no strategy given",
            expected="a comma-separated list such as linear,partial:2,full,scratch,baseline",
            fix="pass --strategies linear,baseline",
        )
    for spec in specs:
        resolve_strategy(spec)  # raises StrategyError with a did-you-mean
    return list(dict.fromkeys(specs))


def parse_budgets(value: str | Iterable[int | str | None]) -> list[int | None]:
    """`"5,10,all"` or a list → sorted, de-duplicated label budgets per class (None = all labels)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    budgets: list[int | None] = []
    for item in items:
        text = "all" if item is None else str(item).strip().lower()
        if text == "":
            continue
        if text == "all":
            budgets.append(None)
            continue
        if isinstance(item, bool) or not text.isdigit() or int(text) < 1:
            raise UsageError(
                f"label budget {item!r} is not a positive whole number or 'all'",
                expected="comma-separated labels per class, each an integer >= 1 or 'all' (e.g. 5,10,20,all)",
                fix="pass --budgets 5,10,20,all",
            )
        budgets.append(int(text))
    if not budgets:
        raise UsageError(
            "no label budget given",
            expected="e.g. 5,10,20,all",
            fix="pass --budgets 5,20,all",
        )
    ints = sorted({b for b in budgets if b is not None})
    return [*ints, *([None] if None in budgets else [])]


def budget_label(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def strategy_name(spec: str) -> str:
    return spec.partition(":")[0].strip()


def is_reference(spec: str) -> bool:
    return strategy_name(spec) in REFERENCE_STRATEGIES


@dataclass(frozen=True)
class Cell:
    strategy: str
    budget: int | None
    seed: int

    @property
    def key(self) -> str:
        return f"{self.strategy}|{budget_label(self.budget)}|{self.seed}"

    @property
    def slug(self) -> str:
        return self.key.replace("|", "_").replace(":", "-")


def plan_cells(strategies: list[str], budgets: list[int | None], seeds: int) -> list[Cell]:
    """Seed-major order, so a study stopped early has whole curves for the first seeds.

    zero-shot trains on nothing and is deterministic, so it is one cell (budget 0, seed 0).
    """
    cells: list[Cell] = []
    if any(strategy_name(s) == "zero-shot" for s in strategies):
        cells.extend(Cell(s, NO_LABELS, 0) for s in strategies if strategy_name(s) == "zero-shot")
    for seed in range(seeds):
        for budget in budgets:
            cells.extend(Cell(s, budget, seed) for s in strategies if strategy_name(s) != "zero-shot")
    return cells
