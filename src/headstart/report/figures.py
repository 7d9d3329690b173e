"""The study report's figures: matplotlib (Agg) drawings returned as base64 PNG for embedding."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from headstart.score_names import display_name  # noqa: E402

TRANSFER_COLOURS = ("#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d")
REFERENCE_COLOURS = {"scratch": "#6b7280", "baseline": "#92400e"}
EARLY_EPOCHS = 3  # "higher slope": mean gain per epoch over the first epochs


def _family(spec: str) -> str:
    return spec.partition(":")[0]


def strategy_styles(strategies: list[str]) -> dict[str, dict[str, Any]]:
    """Colour and line style per strategy: transfer in colour and solid, references grey/brown and dashed."""
    styles: dict[str, dict[str, Any]] = {}
    i = 0
    for spec in strategies:
        family = _family(spec)
        if family in REFERENCE_COLOURS:
            styles[spec] = {"color": REFERENCE_COLOURS[family], "linestyle": "--", "marker": "s"}
        else:
            styles[spec] = {"color": TRANSFER_COLOURS[i % len(TRANSFER_COLOURS)], "linestyle": "-", "marker": "o"}
            i += 1
    return styles


def _style_axes(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def to_png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _x_of(row: dict[str, Any]) -> float:
    """Labels per class on the x axis: the budget, or the mean per class actually used for `all`."""
    return float(row["budget"]) if row["budget"] not in ("all",) else max(row["labels_per_class"], 1.0)


PER_CLASS = "labels per class"  # what a budget counts, unless the task kind says otherwise (fields: "documents")


def accuracy_vs_budget(
    summary: list[dict[str, Any]],
    records: list[dict[str, Any]],
    styles: dict,
    metric: str = "accuracy",
    unit: str = PER_CLASS,
) -> str:
    """One line per strategy (mean over seeds), a band from the worst to the best seed, dots per seed."""
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    ticks: dict[float, str] = {}
    for spec, style in styles.items():
        rows = [r for r in summary if r["strategy"] == spec]
        if not rows:
            continue
        if _family(spec) == "zero-shot":
            ax.axhline(
                rows[0]["accuracy"], color=style["color"], linestyle=":", linewidth=2, label=f"{spec} (no labels)"
            )
            continue
        xs = [_x_of(r) for r in rows]
        for r, x in zip(rows, xs, strict=True):
            ticks[x] = f"all\n(≈{r['labels_per_class']:.0f})" if r["budget"] == "all" else r["budget"]
        ax.plot(xs, [r["accuracy"] for r in rows], label=spec, linewidth=2, markersize=5, **style)
        if any(r["seeds"] > 1 for r in rows):
            ax.fill_between(xs, [r["accuracy_min"] for r in rows], [r["accuracy_max"] for r in rows],
                            color=style["color"], alpha=0.12, linewidth=0)  # fmt: skip
        seeds = [(x, c["accuracy"]) for r, x in zip(rows, xs, strict=True) for c in records
                 if c["strategy"] == spec and c["budget"] == r["budget"] and c["status"] == "ok"]  # fmt: skip
        if seeds:
            seed_x, seed_y = zip(*seeds, strict=True)
            ax.scatter(seed_x, seed_y, s=9, color=style["color"], alpha=0.45, linewidths=0)
    if ticks:
        ax.set_xscale("log")
        ax.set_xticks(sorted(ticks), [ticks[x] for x in sorted(ticks)])
        ax.minorticks_off()
    name = display_name(metric)
    ax.set_xlabel("labelled examples per class" if unit == PER_CLASS else f"labelled {unit}")
    ax.set_ylabel(f"test {name}")
    _score_axis(ax, metric)
    _style_axes(ax)
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    ax.set_title(f"{name[0].upper()}{name[1:]} vs {unit} (line: mean; band: worst–best seed)", fontsize=11,
                 loc="left")  # fmt: skip
    return to_png(fig)


def _score_axis(ax: Any, metric: str) -> None:
    """Percent ticks for accuracy and micro-F1; R² (which can be negative) keeps plain numbers."""
    if metric != "r2":
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))


def accuracy_vs_time(
    summary: list[dict[str, Any]], styles: dict, metric: str = "accuracy", unit: str = PER_CLASS
) -> str:
    """Mean score against mean fit time per (strategy, budget); the budget is written by each point."""
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for spec, style in styles.items():
        rows = sorted((r for r in summary if r["strategy"] == spec), key=lambda r: r["fit_seconds"])
        if not rows:
            continue
        xs = [max(r["fit_seconds"], 1e-3) for r in rows]
        ax.plot(xs, [r["accuracy"] for r in rows], label=spec, linewidth=1.2, markersize=6, alpha=0.9, **style)
        for r, x in zip(rows, xs, strict=True):
            ax.annotate(r["budget"] if r["budget"] != "0" else "0", (x, r["accuracy"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7, color=style["color"])  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("fit time per model (seconds, log scale)")
    ax.set_ylabel(f"test {display_name(metric)}")
    _score_axis(ax, metric)
    _style_axes(ax)
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    name = display_name(metric)
    ax.set_title(f"{name[0].upper()}{name[1:]} vs training time (numbers: {unit})", fontsize=11, loc="left")
    return to_png(fig)


def energy_per_strategy(
    summary: list[dict[str, Any]], styles: dict, intensity: float | None, country: str
) -> str | None:
    """Energy per fit (Wh) by strategy and budget; CO2 on the right axis (same bars × carbon intensity)."""
    rows = [r for r in summary if r.get("energy_kwh") is not None]
    if not rows:
        return None
    strategies = [s for s in styles if any(r["strategy"] == s for r in rows)]
    budgets = sorted({r["budget"] for r in rows}, key=lambda b: math.inf if b == "all" else float(b))
    width = 0.8 / max(len(budgets), 1)
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    shades = np.linspace(0.45, 1.0, len(budgets))
    for j, b in enumerate(budgets):
        for i, s in enumerate(strategies):
            r = next((r for r in rows if r["strategy"] == s and r["budget"] == b), None)
            if r is None:
                continue
            hatch = "//" if r["energy_label"] == "estimated" else None
            x = i + (j - (len(budgets) - 1) / 2) * width
            ax.bar(x, r["energy_kwh"] * 1000, width * 0.92, color=styles[s]["color"], alpha=float(shades[j]),
                   hatch=hatch, edgecolor="white", linewidth=0.5)  # fmt: skip
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set_ylabel("energy per fit (Wh)")
    estimated = any(r["energy_label"] == "estimated" for r in rows)
    title = "Energy per fit" + (" — ESTIMATED (no power counters; CPU load × TDP)" if estimated else " — measured")
    ax.set_title(title, fontsize=11, loc="left")
    _style_axes(ax)
    if intensity:
        right = ax.secondary_yaxis(
            "right",
            functions=(lambda wh: np.asarray(wh) * intensity / 1000, lambda g: np.asarray(g) * 1000 / intensity),
        )
        right.set_ylabel(f"g CO2e per fit ({country}, {intensity:.0f} g/kWh)")
    legend = ", ".join(f"{b if b != '0' else 'zero-shot'}" for b in budgets)
    ax.text(0.0, -0.16, f"bars left to right within a strategy: labels per class {legend}"
            + ("; hatched = estimated" if estimated else ""), transform=ax.transAxes, fontsize=8,
            color="#4b5563")  # fmt: skip
    return to_png(fig)


def transfer_quantities(history: list[dict[str, Any]]) -> dict[str, float] | None:
    """Start (accuracy after epoch 1), slope (mean gain per epoch over the first epochs), asymptote (best)."""
    acc = [h["val_accuracy"] for h in history if h.get("val_accuracy") is not None]
    if not acc:
        return None
    k = min(EARLY_EPOCHS, len(acc))
    slope = (acc[k - 1] - acc[0]) / (k - 1) if k > 1 else 0.0
    return {"start": acc[0], "slope": slope, "asymptote": max(acc), "epochs": len(acc), "slope_epochs": k}


def mean_curve(records: list[dict[str, Any]]) -> list[float]:
    """Validation accuracy per epoch, averaged over the seeds that reached that epoch."""
    curves = [[h["val_accuracy"] for h in r["history"] if h.get("val_accuracy") is not None] for r in records]
    length = max((len(c) for c in curves), default=0)
    return [float(np.mean([c[e] for c in curves if len(c) > e])) for e in range(length)]


def learning_curves(transfer: list[dict[str, Any]], scratch: list[dict[str, Any]], styles: dict) -> str:
    """A fine-tune against scratch, epoch by epoch, with the three quantities of transfer marked."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    curves = []
    for group in (transfer, scratch):
        curve = mean_curve(group) if group else []
        if curve:  # a fit without a validation split has no curve to draw
            spec = group[0]["strategy"]
            epochs = np.arange(1, len(curve) + 1)
            ax.plot(epochs, curve, label=f"{spec} ({len(group)} seed(s))", linewidth=2, markersize=4, **styles[spec])
            curves.append((spec, curve))
    if len(curves) == 2:  # both non-empty (see above)
        (t_spec, t), (s_spec, s) = curves
        t_colour = styles[t_spec]["color"]
        # higher start
        ax.annotate("", xy=(1, t[0]), xytext=(1, s[0]),
                    arrowprops={"arrowstyle": "<->", "color": "#111827", "lw": 1.2})  # fmt: skip
        ax.text(1.15, (t[0] + s[0]) / 2, f"higher start\n{100 * (t[0] - s[0]):+.1f} pts", fontsize=8, va="center")
        # higher slope: the early segments drawn thick
        k = min(EARLY_EPOCHS, len(t), len(s))
        if k > 1:
            for curve, colour in ((t, t_colour), (s, styles[s_spec]["color"])):
                ax.plot(range(1, k + 1), curve[:k], color=colour, linewidth=5, alpha=0.25, solid_capstyle="round")
            slope_t, slope_s = (t[k - 1] - t[0]) / (k - 1), (s[k - 1] - s[0]) / (k - 1)
            ax.text(0.32, 0.5, f"slope over epochs 1–{k}:\n{t_spec} {100 * slope_t:+.1f} pts/epoch\n"
                    f"{s_spec} {100 * slope_s:+.1f} pts/epoch", transform=ax.transAxes, fontsize=8, va="center",
                    bbox={"facecolor": "white", "edgecolor": "#e5e7eb", "boxstyle": "round"})  # fmt: skip
        # higher asymptote
        for curve, colour in ((t, t_colour), (s, styles[s_spec]["color"])):
            ax.axhline(max(curve), color=colour, linestyle=":", linewidth=1)
        ax.text(max(len(t), len(s)), max(t), f"higher asymptote {100 * (max(t) - max(s)):+.1f} pts",
                fontsize=8, va="bottom", ha="right")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _style_axes(ax)
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    ax.set_title("Learning curves: transfer fine-tune vs scratch", fontsize=11, loc="left")
    return to_png(fig)
