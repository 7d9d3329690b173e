"""The summary per (strategy, budget) and the verdict: what transfer bought against the yardsticks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.score_names import display_name
from headstart.services.study.grid import NO_LABELS, is_reference, strategy_name
from headstart.tasks.uncertainty import ITEM_PROPORTIONS, combined_error, proportion_error

MATCH_TOLERANCE = 0.01  # a reference "matches" transfer when within one accuracy point of the best transfer


def _budget_order(label: str) -> float:
    return math.inf if label == "all" else float(label)


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (strategy, budget): means over seeds, the seed spread, costs and the energy label."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("status") == "ok":
            groups.setdefault((r["strategy"], r["budget"]), []).append(r)
    order = list(dict.fromkeys(r["strategy"] for r in records))
    rows = []
    for (spec, budget), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), _budget_order(kv[0][1]))):
        acc = np.array([r["accuracy"] for r in rs])
        energies = [float(r["energy_kwh"]) for r in rs if r.get("energy_kwh") is not None]
        co2 = [float(r["co2_g"]) for r in rs if r.get("co2_g") is not None]
        labels = {r.get("energy_label", "unavailable") for r in rs}
        energy_label = (
            "unavailable" if not energies else "measured" if labels == {"measured"} else "estimated"
        )  # any estimate makes the mean an estimate
        n_classes = rs[0].get("n_classes") or 1
        test_ses = [float(r["score_se"]) for r in rs if r.get("score_se") is not None]
        seed_std = float(acc.std(ddof=1)) if len(acc) > 1 else None
        rows.append(
            {
                "strategy": spec,
                "transfer": not is_reference(spec),
                "budget": budget,
                "labels_per_class": float(np.mean([r.get("n_labelled", r["n_train"]) for r in rs])) / n_classes,
                "seeds": len(rs),
                "accuracy": float(acc.mean()),
                "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "accuracy_min": float(acc.min()),
                "accuracy_max": float(acc.max()),
                "macro_f1": _mean_or_none([r.get("macro_f1") for r in rs]),  # None for regression
                # the mean's standard error: the test split's own (as the task measures it) and the seeds' spread
                "score_se": combined_error(float(np.mean(test_ses)) if test_ses else None, seed_std, len(rs)),
                "score_n": rs[0].get("score_n", rs[0].get("n_test")),
                "score_unit": rs[0].get("score_unit", "test items"),
                "fit_seconds": float(np.mean([r["fit_seconds"] for r in rs])),
                "cpu_seconds": float(np.mean([r["cpu_seconds"] for r in rs])),
                "peak_rss_mb": float(np.max([r["peak_rss_mb"] for r in rs])),
                "energy_kwh": float(np.mean(energies)) if energies else None,
                "co2_g": float(np.mean(co2)) if co2 else None,
                "energy_label": energy_label,
            }
        )
    return rows


def _mean_or_none(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _shower(metric: str) -> Any:
    """How a score of `metric` reads: accuracy and F1 as percentages, R² as a number (it can be negative)."""
    return (lambda x: f"R² {x:.3f}") if metric == "r2" else _pct


def _points(gain: float, metric: str) -> str:
    return f"{gain:.3f} in R²" if metric == "r2" else f"{100 * gain:.1f} points"


def _spread(width: float, metric: str) -> str:
    """A noise width in the units `_points` shows a gain in: "4.2" (points) or "0.120" (R²)."""
    return f"{width:.3f}" if metric == "r2" else f"{100 * width:.1f}"


def _on(noise: Noise) -> str:
    """ "1000 test items", "20 test documents, 3 seeds"."""
    return f"{noise.n} {noise.unit}" + (f", {noise.seeds} seeds" if noise.seeds > 1 else "")


def _secs(x: float) -> str:
    return f"{x:.1f} s" if x < 120 else f"{x / 60:.1f} min"


def _budget_words(budget: str, unit: str = "labels per class") -> str:
    if budget == "all":
        return "all labels"
    if budget == str(NO_LABELS):
        return "no labels"
    return f"{budget} {unit}"


@dataclass(frozen=True)
class Noise:
    """Two standard errors of the difference of two rows' scores (independent errors: a conservative yardstick,
    since both models answer the same test items), measured over `n` `unit`, with the seeds behind each mean."""

    width: float
    n: int
    unit: str
    seeds: int

    def sample(self) -> str:
        """ "a 12-item test split", "20 test documents"."""
        return f"a {self.n}-item test split" if self.unit == "test items" else f"{self.n} {self.unit}"

    def basis(self) -> str:
        """ "n test documents = 20", "n test items = 40, 3 seeds"."""
        return f"n {self.unit} = {self.n}" + (f", {self.seeds} seeds" if self.seeds > 1 else "")


def _row_error(row: dict[str, Any], n_test: int | None, metric: str) -> tuple[float, int, str, int] | None:
    """A row's standard error, its n, unit and the seeds behind it: the summary's (task-measured, with the seeds'
    spread), else for a proportion of test items (results recorded before cells kept their error) the binomial
    error over `n_test`."""
    if row.get("score_se") is not None:
        n = int(row.get("score_n") or n_test or 0)
        return float(row["score_se"]), n, str(row.get("score_unit", "test items")), int(row.get("seeds", 1))
    if n_test and metric in ITEM_PROPORTIONS:
        error = proportion_error(row["accuracy"], n_test)
        return None if error is None else (error.se, error.n, error.unit, 1)
    return None


def noise_between(
    a: dict[str, Any], b: dict[str, Any], n_test: int | None = None, metric: str = "accuracy"
) -> Noise | None:
    """Two standard errors of the difference of rows `a` and `b`'s scores; None when either row's is unknown."""
    error_a, error_b = _row_error(a, n_test, metric), _row_error(b, n_test, metric)
    if error_a is None or error_b is None:
        return None
    (se_a, n_a, unit, seeds_a), (se_b, n_b, _, seeds_b) = error_a, error_b
    return Noise(2 * math.hypot(se_a, se_b), min(n_a, n_b) or max(n_a, n_b), unit, min(seeds_a, seeds_b))


def verdict(
    summary: list[dict[str, Any]],
    *,
    target_accuracy: float | None = None,
    time_limit_per_fit: float | None = None,
    tolerance: float = MATCH_TOLERANCE,
    n_test: int | None = None,
    metric: str = "accuracy",
    budget_unit: str = "labels per class",
    backbone_hint: str = "`headstart rank`",
) -> dict[str, Any]:
    """The plain-language answer: what to use under the user's target, and whether transfer helped at all.

    Recommendation: with `target_accuracy`, the fewest labels per class at which some strategy's mean
    reaches it, then the fastest such strategy; without, the best mean accuracy at the largest budget
    (a strategy within `tolerance` of it that fits faster wins). `time_limit_per_fit` drops slower rows.
    Noise: where the rows carry their score's standard error (`score_se`: the task's `score_error` on the test
    split with the seeds' spread, from `summarize`), or for accuracy from `n_test`, a difference between the best
    transfer and reference rows smaller than two standard errors is said to be within noise: that budget shows
    neither a gain nor negative transfer (`within_noise_budgets`), and the headline names the rivals within noise
    of its choice. Negative transfer: at a budget where `scratch` or `baseline` is above the best transfer strategy
    by more than the noise, or within `tolerance` of it (zero-shot counts at every budget). `metric` is what the
    rows' `accuracy` holds (micro-F1 for multi-label, R² for regression): the text names and formats it as such;
    `budget_unit` is what a budget counts ("documents" for fields), `backbone_hint` where another backbone is found
    (`rank` ranks backbones for the task kinds it scores).
    """

    def _budget_text(budget: str) -> str:
        return _budget_words(budget, budget_unit)

    show, name = _shower(metric), display_name(metric)
    result: dict[str, Any] = {
        "recommended": None,
        "headline": "",
        "details": [],
        "warnings": [],
        "negative_transfer": False,
        "negative_transfer_budgets": [],
        "within_noise_budgets": [],  # where the best transfer and reference rows differ by less than the noise
        "target_accuracy": target_accuracy,
        "time_limit_per_fit": time_limit_per_fit,
        "tolerance": tolerance,
    }
    if not summary:
        result["headline"] = "No cell finished, so there is nothing to recommend yet."
        return result

    zero_shot = [r for r in summary if strategy_name(r["strategy"]) == "zero-shot"]
    budgets = sorted({r["budget"] for r in summary if r not in zero_shot}, key=_budget_order)
    for b in budgets:
        transfer = [r for r in summary if r["budget"] == b and r["transfer"]] + zero_shot
        reference = [r for r in summary if r["budget"] == b and not r["transfer"]]
        if not transfer or not reference:
            continue
        best_t = max(transfer, key=lambda r: r["accuracy"])
        best_r = max(reference, key=lambda r: r["accuracy"])
        gain = best_t["accuracy"] - best_r["accuracy"]
        noise = noise_between(best_t, best_r, n_test, metric)
        if noise is not None and abs(gain) < noise.width:  # neither a winner nor negative transfer: say so
            result["within_noise_budgets"].append(b)
            lead, other = (best_t, best_r) if gain >= 0 else (best_r, best_t)
            result["details"].append(
                f"{lead['strategy']} and {other['strategy']} are within noise at {_budget_text(b)} "
                f"({noise.basis()}): {lead['strategy']} ({show(lead['accuracy'])}) leads {other['strategy']} "
                f"({show(other['accuracy'])}) by {_points(abs(gain), metric)} (within the noise of "
                f"{noise.sample()}, ±{_spread(noise.width, metric)}: more {noise.unit} would tell), so this budget "
                "shows neither that transfer helps nor that it hurts."
            )
        elif best_r["accuracy"] >= best_t["accuracy"] - tolerance:
            result["negative_transfer_budgets"].append(b)
            verb = "beats" if best_r["accuracy"] > best_t["accuracy"] else "matches"
            measured = "" if noise is None else f", ±{_spread(noise.width, metric)} on {noise.basis()}"
            result["warnings"].append(
                f"Negative transfer at {_budget_text(b)}: {best_r['strategy']} (no pretrained network, "
                f"{show(best_r['accuracy'])}) {verb} every transfer strategy (best: {best_t['strategy']}, "
                f"{show(best_t['accuracy'])}{measured}). The pretrained backbone does not help on this data at this "
                f"budget; prefer the cheaper model, or try another backbone ({backbone_hint})."
            )
        else:
            hedge = "" if noise is None else f" (±{_spread(noise.width, metric)} on {_on(noise)})"
            result["details"].append(
                f"At {_budget_text(b)}, transfer ({best_t['strategy']}, {show(best_t['accuracy'])}) beats the best "
                f"model without pretraining ({best_r['strategy']}, {show(best_r['accuracy'])}) by "
                f"{_points(gain, metric)}{hedge}."
            )
    result["negative_transfer"] = bool(result["negative_transfer_budgets"])

    candidates = list(summary)
    if time_limit_per_fit is not None:
        candidates = [r for r in candidates if r["fit_seconds"] <= time_limit_per_fit]
        if not candidates:
            fastest = min(summary, key=lambda r: r["fit_seconds"])
            result["headline"] = (
                f"No strategy fits within {_secs(time_limit_per_fit)}; the fastest was {fastest['strategy']} "
                f"at {_budget_text(fastest['budget'])} ({_secs(fastest['fit_seconds'])}, "
                f"{show(fastest['accuracy'])})."
            )
            return result
    limit_text = f" within {_secs(time_limit_per_fit)} per fit" if time_limit_per_fit is not None else ""

    if target_accuracy is not None:
        reaching = [r for r in candidates if r["accuracy"] >= target_accuracy]
        if not reaching:
            best = max(candidates, key=lambda r: r["accuracy"])
            result["headline"] = (
                f"No strategy reached {show(target_accuracy)}{limit_text}. The best was {best['strategy']} with "
                f"{_budget_text(best['budget'])}: {show(best['accuracy'])} (mean of {best['seeds']} seed(s)). "
                "More labels, another backbone or a lower target may be needed."
            )
            result["recommended"] = _pick(best)
            return result
        fewest = min(_budget_order(r["budget"]) if r not in zero_shot else 0 for r in reaching)
        at_fewest = [r for r in reaching if (0 if r in zero_shot else _budget_order(r["budget"])) == fewest]
        choice = min(at_fewest, key=lambda r: r["fit_seconds"])
        result["headline"] = (
            f"Use {choice['strategy']} with {_budget_text(choice['budget'])}: it reaches {show(choice['accuracy'])} "
            f"(target {show(target_accuracy)}, mean of {choice['seeds']} seed(s)) in {_secs(choice['fit_seconds'])} "
            f"per fit{limit_text} — the fewest labels that meet the target, and the fastest strategy there."
        )
    else:
        largest = max(_budget_order(r["budget"]) for r in candidates if r not in zero_shot) if any(
            r not in zero_shot for r in candidates
        ) else 0  # fmt: skip
        at_largest = [r for r in candidates if r not in zero_shot and _budget_order(r["budget"]) == largest]
        at_largest = at_largest or candidates
        best = max(at_largest, key=lambda r: r["accuracy"])
        close = [r for r in at_largest if r["accuracy"] >= best["accuracy"] - tolerance]
        choice = min(close, key=lambda r: r["fit_seconds"])
        why = f"the best {name}" if choice is best else (
            f"within {100 * tolerance:.0f} point of the best ({best['strategy']}, {show(best['accuracy'])}) "
            "and faster to fit"
        )  # fmt: skip
        result["headline"] = (
            f"Use {choice['strategy']}: with {_budget_text(choice['budget'])} it reaches {show(choice['accuracy'])} "
            f"(mean of {choice['seeds']} seed(s)) in {_secs(choice['fit_seconds'])} per fit{limit_text} — {why}."
            + _rivals_within_noise(choice, [r for r in at_largest if r not in close], n_test, metric, show)
        )
    result["recommended"] = _pick(choice)
    if result["negative_transfer"] and result["recommended"] and result["recommended"]["transfer"]:
        result["details"].append(
            "Transfer is recommended overall, but see the negative-transfer warning for the budgets listed."
        )
    return result


def _rivals_within_noise(
    choice: dict[str, Any], others: list[dict[str, Any]], n_test: int | None, metric: str, show: Any
) -> str:
    """ " rules (80.0%) is within noise of it (n test documents = 20): more test documents would tell them apart." when
    another strategy's score is not told apart from the recommended one's, else ""."""
    rivals = []
    for row in others:
        noise = noise_between(choice, row, n_test, metric)
        if noise is not None and abs(choice["accuracy"] - row["accuracy"]) < noise.width:
            rivals.append((row, noise))
    if not rivals:
        return ""
    names = ", ".join(f"{row['strategy']} ({show(row['accuracy'])})" for row, _ in rivals)
    noise = rivals[0][1]
    return (
        f" {names} {'is' if len(rivals) == 1 else 'are'} within noise of it ({noise.basis()}): "
        f"more {noise.unit} would tell them apart."
    )


def _pick(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "strategy",
        "budget",
        "accuracy",
        "accuracy_std",
        "fit_seconds",
        "seeds",
        "transfer",
    )
    return {k: row[k] for k in keys}
