"""The study report names the study's score where the user reads it (headings, the results table, the verdict's
notes): accuracy for classification, entity F1, micro-F1 or R² for the other task kinds. Records keep the score
under `accuracy` (saved studies read back); only the HTML changes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from headstart.report import figures, render_report
from headstart.score_names import display_name
from headstart.services.study.verdict import summarize, verdict

UNITS = {"entity_f1": "documents"}  # what a budget counts, when not labels per class
TASKS = {"accuracy": "classification", "entity_f1": "fields", "micro_f1": "multilabel", "r2": "regression"}


def _record(strategy: str, budget: str, seed: int, score: float, **fields: Any) -> dict[str, Any]:
    return {"strategy": strategy, "family": strategy.partition(":")[0], "budget": budget, "seed": seed,
            "status": "ok", "accuracy": score, "macro_f1": None, "n_train": 8, "n_labelled": int(budget),
            "n_test": 40, "fit_seconds": 1.5, "cpu_seconds": 2.0, "peak_rss_mb": 300.0, "energy_kwh": None,
            "co2_g": None, "energy_label": "unavailable", "history": [], **fields}  # fmt: skip


def _study(
    metric: str, target: float | None = None, strategies: tuple[str, ...] = ("linear", "baseline"), **fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished study of `strategies` whose records hold `metric` under `accuracy` (and `fields`)."""
    records = [_record(s, b, seed, score + 0.01 * seed, **fields)
               for s, low in zip(strategies, (0.61, 0.42)) for b, score in (("4", low), ("8", low + 0.2))
               for seed in (0, 1)]  # fmt: skip
    summary = summarize(records)
    unit = UNITS.get(metric, figures.PER_CLASS)
    doc = {
        "status": "complete", "updated": "2026-12-07T12:00:00", "country": "FRA", "notes": [],
        "grid": {"strategies": list(strategies), "budgets": ["4", "8"], "seeds": 2, "done": 8, "cells": 8},
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


def test_the_report_the_verdict_and_the_tables_read_metric_names_from_one_map() -> None:
    assert [display_name(m) for m in ("accuracy", "micro_f1", "macro_f1", "r2", "map", "ece", "entity_f1")] == [
        "accuracy", "micro-F1", "macro-F1", "R²", "mAP", "ECE", "entity F1"]  # fmt: skip
    assert display_name("kappa") == "kappa"  # a metric the map does not list reads as its key
    for metric in ("micro_f1", "r2"):  # the verdict without a target says "the best <score>"
        assert f"the best {display_name(metric)}." in _study(metric)[0]["verdict"]["headline"]


def test_a_regression_table_leaves_out_the_macro_f1_and_energy_columns_no_row_fills() -> None:
    html = render_report(*_study("r2"))
    header, rows = _results_header(html), _results_rows(html)
    assert header == ["strategy", "labels/class", "seeds", "R²", "± sd", "fit time", "CPU time", "peak RSS"]
    assert all(len(row) == len(header) for row in rows) and "–" not in {cell for row in rows for cell in row[3:]}


def test_a_classification_table_keeps_the_columns_that_hold_values() -> None:
    measured = {"macro_f1": 0.5, "energy_kwh": 0.002, "co2_g": 0.1, "energy_label": "measured"}
    html = render_report(*_study("accuracy", **measured))
    header, rows = _results_header(html), _results_rows(html)
    assert header[5:] == ["macro-F1", "fit time", "CPU time", "peak RSS", "energy", "CO2", "energy is"]
    assert rows[0][5:] == ["50.0%", "1.50 s", "2.00 s", "300 MB", "2.000 Wh", "0.100 g"]
    assert '<td class="l"><span class="tag measured">measured</span></td></tr>' in html


def _trained_study(metric: str, history: list[dict[str, Any]], notes: list[str]) -> tuple[dict, list[dict]]:
    """Gradient cells (partial:1, scratch) that trained with `history` per epoch and no validation accuracy."""
    return _study(metric, strategies=("partial:1", "scratch"), history=history, notes=notes)


TRAIN_ONLY = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2)]
WITH_VAL_LOSS = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in (1, 2)]


def test_a_classification_study_without_validation_scores_blames_the_missing_validation_split() -> None:
    notes = ["no validation split: 18 training items are too few"]
    html = render_report(*_trained_study("accuracy", TRAIN_ONLY, notes))
    assert "No learning curves are available at this data size (no validation split)" in html
    assert "From the cells: no validation split: 18 training items are too few." in html
    assert "single-label classification" not in html


@pytest.mark.parametrize(("metric", "history"), [("r2", WITH_VAL_LOSS), ("micro_f1", TRAIN_ONLY)])
def test_a_regression_or_multilabel_study_says_curves_are_for_single_label_classification(
    metric: str, history: list[dict[str, Any]]
) -> None:
    notes = [] if history is WITH_VAL_LOSS else ["no validation split: 18 training items are too few"]
    html = render_report(*_trained_study(metric, history, notes))
    curves = " ".join(html.split('<section id="learning-curves">', 1)[1].split("</section>", 1)[0].split())
    assert "the validation accuracy after each epoch, which only single-label classification fits record" in curves
    assert f"this study's gradient strategies ({TASKS[metric]} task) record a validation loss at most" in curves
    assert "no validation split" not in curves.lower() and "No gradient strategy ran" not in curves
