"""The verdict on synthetic results: recommendations under targets, and the negative-transfer warning."""

from __future__ import annotations

from typing import Any

from headstart.services.study import verdict


def row(strategy: str, budget: str, accuracy: float, seconds: float = 1.0, seeds: int = 3) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "transfer": strategy not in ("scratch", "baseline"),
        "budget": budget,
        "accuracy": accuracy,
        "accuracy_std": 0.01,
        "fit_seconds": seconds,
        "seeds": seeds,
    }


def test_baseline_beating_every_transfer_strategy_is_a_negative_transfer_warning() -> None:
    summary = [
        row("linear", "5", 0.40), row("partial:2", "5", 0.42, 20), row("baseline", "5", 0.55, 0.2),
        row("linear", "all", 0.70), row("partial:2", "all", 0.74, 60), row("baseline", "all", 0.90, 0.5),
    ]  # fmt: skip
    result = verdict(summary)
    assert result["negative_transfer"] is True
    assert result["negative_transfer_budgets"] == ["5", "all"]
    assert any("Negative transfer" in w and "baseline" in w and "beats" in w for w in result["warnings"])
    assert result["recommended"]["strategy"] == "baseline"


def test_scratch_matching_within_a_point_also_warns() -> None:
    result = verdict([row("full", "all", 0.800, 50), row("scratch", "all", 0.795, 80)])
    assert result["negative_transfer"] and "matches" in result["warnings"][0]


def test_zero_shot_counts_as_transfer_at_every_budget() -> None:
    result = verdict([row("zero-shot", "0", 0.9, 2, 1), row("baseline", "5", 0.6, 0.1)])
    assert not result["negative_transfer"]


def test_transfer_that_helps_gives_no_warning_and_a_gain() -> None:
    summary = [row("linear", "5", 0.85, 2), row("baseline", "5", 0.40, 0.1), row("scratch", "5", 0.30, 30)]
    result = verdict(summary)
    assert not result["negative_transfer"] and result["warnings"] == []
    assert result["recommended"]["strategy"] == "linear"
    assert "45.0 points" in result["details"][0]


def test_target_accuracy_picks_the_fewest_labels_then_the_fastest() -> None:
    summary = [
        row("linear", "5", 0.80, 2), row("partial:2", "5", 0.86, 30),
        row("linear", "20", 0.91, 3), row("partial:2", "20", 0.93, 60), row("full", "20", 0.95, 300),
    ]  # fmt: skip
    result = verdict(summary, target_accuracy=0.9)
    assert (result["recommended"]["strategy"], result["recommended"]["budget"]) == ("linear", "20")
    assert "20 labels per class" in result["headline"]
    unreachable = verdict(summary, target_accuracy=0.99)
    assert "No strategy reached" in unreachable["headline"] and unreachable["recommended"]["strategy"] == "full"


def test_time_limit_drops_slow_strategies() -> None:
    summary = [row("linear", "all", 0.90, 2), row("full", "all", 0.95, 300)]
    assert verdict(summary)["recommended"]["strategy"] == "full"
    limited = verdict(summary, time_limit_per_fit=60)
    assert limited["recommended"]["strategy"] == "linear" and "within 60.0 s" in limited["headline"]
    assert "No strategy fits" in verdict(summary, time_limit_per_fit=1)["headline"]


def test_empty_results_say_so() -> None:
    assert "No cell finished" in verdict([])["headline"]


def test_a_gain_within_the_test_splits_noise_is_hedged() -> None:
    """16.7 points on 12 test items is two items: within the noise; the same gain on 1,000 items is not."""
    summary = [row("linear", "all", 0.750), row("baseline", "all", 0.583)]
    small = " ".join(verdict(summary, n_test=12)["details"])
    assert "by 16.7 points (within the noise of a 12-item test split" in small
    large = " ".join(verdict(summary, n_test=1000)["details"])
    assert "by 16.7 points (±4.2 on 1000 test items)" in large and "noise" not in large
    assert "(" not in " ".join(verdict(summary)["details"]).split("points")[1]  # no n_test: no claim either way


def test_regression_scores_are_named_and_shown_as_r2_not_accuracy() -> None:
    summary = [row("linear", "all", 0.743, 2), row("baseline", "all", -0.120, 0.1)]
    result = verdict(summary, metric="r2", n_test=40)
    assert "R² 0.743" in result["headline"] and "the best R²" in result["headline"] and "%" not in result["headline"]
    assert any("beats the best model without pretraining" in d and "0.863 in R²" in d for d in result["details"])
    assert not any("noise" in d for d in result["details"])  # binomial noise is for accuracy only


def test_a_fields_verdict_counts_documents_and_points_to_another_backbone_not_rank() -> None:
    summary = [
        {**row("linear", "10", 0.775), "transfer": True}, {**row("rules", "10", 0.80, 0.1), "transfer": False},
        {**row("linear", "30", 0.86), "transfer": True}, {**row("rules", "30", 0.66, 0.1), "transfer": False},
    ]  # fmt: skip
    result = verdict(summary, metric="entity_f1", budget_unit="documents", backbone_hint="--backbone NAME")
    assert result["negative_transfer_budgets"] == ["10"]
    warning = result["warnings"][0]
    assert "at 10 documents: rules" in warning and "(--backbone NAME)" in warning and "rank" not in warning
    assert result["details"][0].startswith("At 30 documents, transfer (linear, 86.0%)")
    assert "the best entity F1" in result["headline"]
