"""The study report: one self-contained HTML file (Jinja2 template, matplotlib figures as base64 PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from headstart.report import figures

GRADIENT_FAMILIES = ("partial", "full")


def _curve_pair(records: list[dict[str, Any]], strategies: list[str]) -> dict[str, Any] | None:
    """The fine-tune and scratch records to draw: the first fine-tune spec, at the largest budget both have."""
    with_history = [r for r in records if r["status"] == "ok" and r.get("history")]
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
    images = {}
    if summary:
        metric = doc.get("frame", {}).get("score_metric") or "accuracy"
        images["budget"] = figures.accuracy_vs_budget(summary, records, styles, metric)
        images["time"] = figures.accuracy_vs_time(summary, styles, metric)
        images["energy"] = figures.energy_per_strategy(summary, styles, intensity, doc["country"])
    if curves:
        images["curves"] = figures.learning_curves(curves["transfer"], curves["scratch"], styles)
    env = Environment(
        loader=PackageLoader("headstart.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
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
    )


def write_report(path: str | Path, doc: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """Write `report.html` atomically and return its path."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(render_report(doc, records), encoding="utf-8")
    tmp.replace(target)
    return target


__all__ = ["render_report", "write_report"]
