"""The study report names the study's score where the user reads it (headings, the results table, the verdict's
notes): accuracy for classification, entity F1, micro-F1 or R² for the other task kinds. Records keep the score
under `accuracy` (saved studies read back); only the HTML changes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from headstart.report import figures, render_report
from headstart.services.study.verdict import summarize, verdict

UNITS = {"entity_f1": "documents"}  # what a budget counts, when not labels per class
TASKS = {"accuracy": "classification", "entity_f1": "fields", "micro_f1": "multilabel", "r2": "regression"}


def _record(strategy: str, budget: str, seed: int, score: float) -> dict[str, Any]:
    return {"strategy": strategy, "family": strategy, "budget": budget, "seed": seed, "status": "ok",
            "accuracy": score, "macro_f1": None, "n_train": 8, "n_labelled": int(budget), "n_test": 40,
            "fit_seconds": 1.5, "cpu_seconds": 2.0, "peak_rss_mb": 300.0, "energy_kwh": None, "co2_g": None,
            "energy_label": "unavailable", "history": []}  # fmt: skip


def _study(metric: str, target: float | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished two-strategy study whose records hold `metric` under `accuracy`."""
    records = [_record(s, b, seed, score + 0.01 * seed)
               for s, low in (("linear", 0.61), ("baseline", 0.42)) for b, score in (("4", low), ("8", low + 0.2))
               for seed in (0, 1)]  # fmt: skip
    summary = summarize(records)
    unit = UNITS.get(metric, figures.PER_CLASS)
    doc = {
        "status": "complete", "updated": "2026-12-07T12:00:00", "country": "FRA", "notes": [],
        "grid": {"strategies": ["linear", "baseline"], "budgets": ["4", "8"], "seeds": 2, "done": 8, "cells": 8},
        "frame": {"data": "data", "backbone": "test-text", "modality": "text", "n_items": 48, "classes": [],
                  "task": TASKS[metric], "score_metric": metric, "budget_unit": unit,
                  "split_counts": {"train": 8, "test": 40}},
        "summary": summary,
        "verdict": verdict(summary, metric=metric, budget_unit=unit, target_accuracy=target),
    }  # fmt: skip
    return doc, records


@pytest.fixture(autouse=True)
def no_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "to_png", lambda fig: figures.plt.close(fig) or "png")


def _results_header(html: str) -> list[str]:
    table = html.split('<section id="results">', 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<th[^>]*>([^<]*)</th>", table)


def _results_rows(html: str) -> list[list[str]]:
    table = html.split('<section id="results">', 1)[1].split("</table>", 1)[0]
    rows = table.split("</tr>")[1:-1]
    return [re.findall(r"<td[^>]*>(?:<span[^>]*></span>)?([^<]*)</td>", row) for row in rows]


@pytest.mark.parametrize(
    ("metric", "name", "title"),
    [("entity_f1", "entity F1", "Entity F1"), ("micro_f1", "micro-F1", "Micro-F1"), ("r2", "R²", "R²")],
)
def test_a_study_scored_by_another_metric_names_it_and_never_says_accuracy(metric: str, name: str, title: str) -> None:
    html = render_report(*_study(metric, target=0.7))
    assert _results_header(html)[3] == name
    assert f"<h2>{title} vs {UNITS.get(metric, 'labels per class')}</h2>" in html
    assert f"<h2>{title} vs training time</h2>" in html and f"{title} is measured on one fixed test split" in html
    assert f"Target {name}: " in html and f"test {name} ({TASKS[metric]} task)" in html
    read = re.sub(r'id="accuracy-vs-(labels|time)"', "", html)  # anchors stay, for links into older reports
    assert "accuracy" not in read.lower()


def test_r2_is_shown_as_a_number_and_the_other_scores_as_percentages() -> None:
    r2_rows = _results_rows(render_report(*_study("r2", target=0.7)))
    assert [row[:4] for row in r2_rows] == [
        ["linear", "4", "2", "0.615"], ["linear", "8", "2", "0.815"],
        ["baseline", "4", "2", "0.425"], ["baseline", "8", "2", "0.625"],
    ]  # fmt: skip
    assert r2_rows[0][4] == "0.007"  # ± sd over the two seeds (0.61, 0.62)
    html = render_report(*_study("r2", target=0.7))
    assert "Target R²: 0.700" in html and "within 0.010 in R²" in html
    f1_rows = _results_rows(render_report(*_study("micro_f1")))
    assert [row[3] for row in f1_rows] == ["61.5%", "81.5%", "42.5%", "62.5%"] and f1_rows[0][4] == "0.7%"


def test_a_classification_study_still_says_accuracy() -> None:
    html = render_report(*_study("accuracy", target=0.7))
    assert _results_header(html)[3] == "accuracy"
    assert "<h2>Accuracy vs labels per class</h2>" in html and "<h2>Accuracy vs training time</h2>" in html
    assert "Accuracy is measured on one fixed test split" in html and "within 1 point of accuracy" in html
    assert "Target accuracy: 70.0%" in html and "test accuracy (classification task)" in html
    assert [row[3] for row in _results_rows(html)] == ["61.5%", "81.5%", "42.5%", "62.5%"]


def test_a_broken_figure_is_named_by_the_score(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise ValueError("no axes")

    monkeypatch.setattr(figures, "accuracy_vs_time", broken)
    html = render_report(*_study("r2"))
    assert "the R² vs training time figure could not be drawn (ValueError: no axes)" in html
