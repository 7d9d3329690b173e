"""The verdict's noise for every task's primary score: each kind measures its score's standard error on the test split
(`Task.score_error`), the summary adds the seeds' spread, and a difference within two standard errors is said to be
within noise, neither a winner nor negative transfer: on a fields study (entity F1) and a regression study (R²)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from headstart import api
from headstart.data.documents import OcrLine
from headstart.services.study import summarize, verdict
from headstart.strategies.fields import strategy as fields_strategy
from headstart.strategies.fields.extractor import DocumentFields, LineEmbedder
from headstart.tasks import get_task, score_error, task_report
from tests.fields_data import PositionExtractor, fields_extractors, write_receipts
from tests.tasks.conftest import make_value_folder


class ForgetfulExtractor(PositionExtractor):
    """The position extractor as kind "linear", which never gives the total of a receipt whose number ends in 0."""

    kind = "linear"

    def extract(
        self, documents: Sequence[Sequence[OcrLine]], embed: LineEmbedder | None = None
    ) -> list[DocumentFields]:
        found = super().extract(documents, embed)
        for lines, row in zip(documents, found, strict=True):
            if lines and lines[0].text.endswith("0"):
                row.pop("total", None)
        return found


@pytest.fixture
def forgetful_linear() -> Iterator[None]:
    with fields_extractors():
        fields_strategy.register_extractor("linear", ForgetfulExtractor)
        yield


def test_a_fields_study_whose_rules_lead_by_a_few_points_on_5_documents_is_within_noise_not_negative_transfer(
    forgetful_linear: None, tmp_path: Path
) -> None:
    receipts = write_receipts(tmp_path / "receipts", 25)  # 5 test receipts: 20 true entities
    result = api.study(receipts, out=str(tmp_path / "s"), strategies="rules,linear", budgets="8", seeds=1,
                       backbone="test-text", progress=False)  # fmt: skip
    cells = {r["strategy"]: r for r in map(json.loads, (tmp_path / "s" / "results.jsonl").read_text().splitlines())}
    assert cells["rules"]["accuracy"] == 1.0 and 0.95 < cells["linear"]["accuracy"] < 1.0  # a one-total gap
    linear, rules = cells["linear"], cells["rules"]
    assert (linear["score_n"], linear["score_unit"], linear["score_se_method"]) == (5, "test documents", "bootstrap")
    # one receipt of five lost its total: F1 2(20-k)/(40-k) with k ~ Binomial(5, 1/5) copies of it drawn
    k = np.arange(6)
    f1, chance = 2 * (20 - k) / (40 - k), np.array([math.comb(5, i) * 0.2**i * 0.8 ** (5 - i) for i in k])
    exact = math.sqrt(chance @ (f1 - chance @ f1) ** 2)
    assert linear["score_se"] == pytest.approx(exact, rel=0.1)  # the bootstrap's 400 draws, within their own noise
    # 5 of 5 receipts right does not measure a model that is never wrong: half a document from the bound
    assert rules["score_se_method"] == "binomial" and rules["score_se"] == pytest.approx(math.sqrt(0.9 * 0.1 / 5))
    said = result.verdict
    assert not said["negative_transfer"] and said["warnings"] == [] and said["within_noise_budgets"] == ["8"]
    assert "rules and linear are within noise at 8 documents (n test documents = 5)" in said["details"][0]
    assert "linear (97.4%) is within noise of it" in said["headline"]


def test_a_regression_study_whose_baseline_matches_within_the_bootstrap_noise_is_not_negative_transfer(
    tmp_path: Path,
) -> None:
    folder = make_value_folder(tmp_path / "values")
    result = api.study(folder, backbone="test-cnn", task="regression", strategies="linear,baseline", budgets="all",
                       seeds=1, out=str(tmp_path / "s"), progress=False)  # fmt: skip
    cells = [json.loads(line) for line in (tmp_path / "s" / "results.jsonl").read_text().splitlines()]
    assert all(c["score_se_method"] == "bootstrap" and c["score_se"] > 0 for c in cells)
    assert all(c["score_n"] == c["n_test"] and c["score_unit"] == "test items" for c in cells)
    said = result.verdict
    assert not said["negative_transfer"] and said["within_noise_budgets"] == ["all"]
    assert "are within noise at all labels (n test items = 6)" in said["details"][0] and "in R²" in said["details"][0]


def row(strategy: str, budget: str, score: float, se: float, *, n: int = 80, unit: str = "test entities",
        seeds: int = 1, transfer: bool | None = None) -> dict[str, Any]:  # fmt: skip
    return {"strategy": strategy, "transfer": strategy == "linear" if transfer is None else transfer, "budget": budget,
            "accuracy": score, "accuracy_std": 0.0, "fit_seconds": 1.0, "seeds": seeds, "score_se": se,
            "score_n": n, "score_unit": unit}  # fmt: skip


def test_a_two_point_f1_gap_on_80_entities_is_noise_and_a_twenty_point_gap_is_not() -> None:
    summary = [row("linear", "10", 0.76, 0.048), row("baseline", "10", 0.78, 0.046),
               row("linear", "30", 0.60, 0.055), row("baseline", "30", 0.80, 0.045)]  # fmt: skip
    said = verdict(summary, metric="entity_f1", budget_unit="documents")
    assert said["within_noise_budgets"] == ["10"] and said["negative_transfer_budgets"] == ["30"]
    assert said["details"][0].startswith("baseline and linear are within noise at 10 documents (n test entities = 80)")
    warning = said["warnings"][0]
    assert "Negative transfer at 30 documents" in warning and "±14.2 on n test entities = 80" in warning


def test_an_r2_gain_is_weighed_against_its_own_noise() -> None:
    summary = [row("linear", "all", 0.74, 0.04, n=40, unit="test items"),
               row("baseline", "all", 0.52, 0.06, n=40, unit="test items")]  # fmt: skip
    said = verdict(summary, metric="r2")
    assert "by 0.220 in R² (±0.144 on 40 test items)" in said["details"][0]
    close = verdict([{**summary[0], "accuracy": 0.60}, summary[1]], metric="r2")
    assert close["within_noise_budgets"] == ["all"] and "±0.144" in close["details"][0]


def test_the_summary_adds_the_seeds_spread_to_the_test_splits_error() -> None:
    records = [{"strategy": "linear", "budget": "10", "status": "ok", "accuracy": score, "score_se": 0.03,
                "score_n": 80, "score_unit": "test entities", "n_train": 10, "fit_seconds": 1.0, "cpu_seconds": 1.0,
                "peak_rss_mb": 1.0} for score in (0.70, 0.76, 0.82)]  # fmt: skip
    (summary,) = summarize(records)
    assert summary["score_se"] == pytest.approx(math.sqrt(0.03**2 + 0.06**2 / 3))
    assert (summary["score_n"], summary["score_unit"]) == (80, "test entities")
    legacy = summarize([{k: v for k, v in r.items() if not k.startswith("score_")} for r in records])
    assert legacy[0]["score_se"] == pytest.approx(0.06 / math.sqrt(3))  # no test error recorded: the seeds' alone


def test_each_kind_measures_its_primary_scores_error() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    values = [repr(float(v)) for v in y]
    noisy = (y + rng.normal(scale=0.5, size=200))[:, None]
    few, some = values[:20], noisy[:20]
    small = score_error("regression", task_report("regression", few, some, []), few, some, [])
    large = score_error("regression", task_report("regression", values, noisy, []), values, noisy, [])
    assert small is not None and large is not None and small.method == "bootstrap"
    assert 0 < large.se < small.se and large.n == 200  # more test items, a smaller error
    assert get_task("regression").score_error(task_report("regression", values, noisy, []), values, noisy, []) == large

    labels, proba = ["a", "b"], np.array([[0.9, 0.1]] * 30 + [[0.2, 0.8]] * 10)
    truth = ["a"] * 36 + ["b"] * 4
    accuracy = score_error("classification", task_report("classification", truth, proba, labels), truth, proba, labels)
    assert accuracy is not None and accuracy.method == "binomial" and accuracy.n == 40
    assert accuracy.se == pytest.approx(math.sqrt(0.85 * 0.15 / 40))

    tags = ["a;b"] * 20 + ["a"] * 20
    scored = np.array([[0.9, 0.9]] * 10 + [[0.9, 0.1]] * 30)
    report = task_report("multilabel", tags, scored, labels)
    micro = score_error("multilabel", report, tags, scored, labels)
    assert micro is not None and micro.method == "bootstrap" and 0.01 < micro.se < 0.1 and micro.n == 40
