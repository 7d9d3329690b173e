"""The study report: one self-contained HTML file (Jinja2 template, matplotlib figures as base64 PNG)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from headstart.report import figures
from headstart.score_names import display_name

GRADIENT_FAMILIES = ("partial", "full")
FIGURE_NAMES = {  # {score}: the study's score as the report names it (`score_names.display_name`)
    "budget": "{score} vs labels",
    "time": "{score} vs training time",
    "energy": "energy",
    "curves": "learning curves",
}
OPTIONAL_COLUMNS = ("macro_f1", "energy_kwh", "co2_g")  # results columns shown only when some row has a value


def _has_validation(record: dict[str, Any]) -> bool:
    """Whether a cell's history holds a validation accuracy (gradient fits on few items train without one)."""
    return any(h.get("val_accuracy") is not None for h in record.get("history") or [])


def _curve_pair(records: list[dict[str, Any]], strategies: list[str]) -> dict[str, Any] | None:
    """The fine-tune and scratch records to draw: the first fine-tune spec, at the largest budget both have.

    Only cells whose history has a validation accuracy count; None when no cell has one.
    """
    with_history = [r for r in records if r["status"] == "ok" and _has_validation(r)]
    tuned_specs = [s for s in strategies if s.partition(":")[0] in GRADIENT_FAMILIES]
    tuned_specs = [s for s in tuned_specs if any(r["strategy"] == s for r in with_history)]
    scratch = [r for r in with_history if r["family"] == "scratch"]
    if not tuned_specs and not scratch:
        return None
    spec = tuned_specs[0] if tuned_specs else None
    tuned = [r for r in with_history if r["strategy"] == spec]
    budgets = [b for b in dict.fromkeys(r["budget"] for r in tuned + scratch)]
    if tuned and scratch:
        budgets = [
            b for b in budgets if any(r["budget"] == b for r in tuned) and any(r["budget"] == b for r in scratch)
        ]
        budgets = budgets or list(dict.fromkeys(r["budget"] for r in tuned))
    budget = max(budgets, key=lambda b: float("inf") if b == "all" else float(b))
    pick_t = [r for r in tuned if r["budget"] == budget]
    pick_s = [r for r in scratch if r["budget"] == budget]
    rows = []
    for group in (pick_t, pick_s):
        if group:
            q = figures.transfer_quantities([{"val_accuracy": v} for v in figures.mean_curve(group)])
            if q:
                rows.append({"strategy": group[0]["strategy"], **q})
    return {"transfer": pick_t, "scratch": pick_s, "budget": budget, "quantities": rows}


def _no_curves(records: list[dict[str, Any]], metric: str) -> dict[str, str] | None:
    """Why the gradient cells drew no learning curve, or None when curves exist or no gradient cell ran.

    Curves plot the validation accuracy per epoch, which only single-label classification fits record (`metric`
    "accuracy"): multi-label and regression fits record a validation loss at most ({"cause": "task"}). A
    classification fit records none when it had too few training items to hold a validation split out
    ({"cause": "validation", "note": the cells' own note}).
    """
    trained = [r for r in records if r["status"] == "ok" and r.get("history")]
    if not trained or any(_has_validation(r) for r in trained):
        return None
    if metric != "accuracy":
        return {"cause": "task"}
    notes = [n for r in trained for n in r.get("notes") or [] if n.startswith("no validation split")]
    note = notes[0] if notes else "no validation split: too few training items to hold some out"
    return {"cause": "validation", "note": note}


def _filled_columns(summary: list[dict[str, Any]]) -> set[str]:
    """The results table's optional columns that hold a value in some row; the others are left out.

    macro-F1 is None for a task without classes (regression, fields), energy and CO2 when CodeCarbon could not run.
    """
    return {column for column in OPTIONAL_COLUMNS if any(r.get(column) is not None for r in summary)}


def _draw(
    images: dict[str, str], problems: dict[str, str], name: str, score: str, draw: Callable[[], str | None]
) -> None:
    """Draw one figure into `images[name]`; a failure leaves it out and says why in `problems[name]`."""
    try:
        image = draw()
    except Exception as err:  # a broken figure must not lose the report (results are in study.json)
        figures.plt.close("all")
        shown = FIGURE_NAMES[name].format(score=score)
        problems[name] = f"the {shown} figure could not be drawn ({type(err).__name__}: {err})"
        return
    if image:
        images[name] = image


def _score_text(value: float, metric: str) -> str:
    """A score as the figures show it: a percentage, except R² (which can be negative), a plain number."""
    return f"{value:.3f}" if metric == "r2" else f"{100 * value:.1f}%"


def _methods(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for r in records:
        if r["status"] == "ok":
            key = (r.get("energy_label", "unavailable"), r.get("method") or "")
            counts[key] = counts.get(key, 0) + 1
    return [{"label": k[0], "method": k[1], "cells": n} for k, n in counts.items()]


def render_report(doc: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """The HTML text of the report for a study document (`study.json`) and its cell records."""
    strategies = list(doc["grid"]["strategies"])
    summary = doc["summary"]
    styles = figures.strategy_styles(strategies)
    intensities = [r["carbon_intensity_g_per_kwh"] for r in records if r.get("carbon_intensity_g_per_kwh")]
    intensity = intensities[0] if intensities else None
    curves = _curve_pair(records, strategies)
    images: dict[str, str] = {}
    problems: dict[str, str] = {}
    metric = doc.get("frame", {}).get("score_metric") or "accuracy"  # what each record's `accuracy` holds
    score = display_name(metric)
    if summary:
        unit = doc.get("frame", {}).get("budget_unit") or figures.PER_CLASS
        _draw(images, problems, "budget", score,
              lambda: figures.accuracy_vs_budget(summary, records, styles, metric, unit))  # fmt: skip
        _draw(images, problems, "time", score, lambda: figures.accuracy_vs_time(summary, styles, metric, unit))
        _draw(images, problems, "energy", score,
              lambda: figures.energy_per_strategy(summary, styles, intensity, doc["country"]))  # fmt: skip
    if curves:
        pair = (curves["transfer"], curves["scratch"])
        _draw(images, problems, "curves", score, lambda: figures.learning_curves(*pair, styles))
    env = Environment(
        loader=PackageLoader("headstart.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    env.filters["score"] = lambda x: "–" if x is None else _score_text(x, metric)
    env.filters["name"] = display_name
    env.filters["num"] = lambda x, d=1: "–" if x is None else f"{x:,.{d}f}"
    template = env.get_template("report.html.j2")
    methods = _methods(records)
    return template.render(
        doc=doc,
        summary=summary,
        verdict=doc["verdict"],
        images=images,
        curves=curves,
        styles=styles,
        failed=[r for r in records if r["status"] == "failed"],
        methods=methods,
        estimated=any(m["label"] == "estimated" for m in methods),
        measured=any(m["label"] == "measured" for m in methods),
        intensity=intensity,
        no_curves=None if curves else _no_curves(records, metric),
        columns=_filled_columns(summary),
        figure_problems=problems,
        metric=metric,
        score=score,
        score_title=score[:1].upper() + score[1:],
    )


def write_report(path: str | Path, doc: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """Write `report.html` atomically and return its path."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(render_report(doc, records), encoding="utf-8")
    tmp.replace(target)
    return target


__all__ = ["render_report", "write_report"]
