"""Render extract.py and probe.py results as full Markdown tables (the per-repeat and per-seed detail).

.venv/bin/python bench/tables.py [--extract bench/results/extract.json] [--probe bench/results/probe.json ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def extract_table(payload: dict[str, Any]) -> str:
    """Throughput table: one row per backbone."""
    lines = [
        "| backbone | N | ONNX export (one-time) | ORT items/s (per repeat) | eager items/s (per repeat) | "
        "speedup (median) | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        lines.append(
            f"| `{r['backbone']}` | {r['n_items']} | {r['onnx_export_seconds']:.1f} s | "
            f"**{r['ort_items_per_s_median']:.1f}** ({', '.join(f'{x:.0f}' for x in r['ort_items_per_s'])}) | "
            f"**{r['eager_items_per_s_median']:.1f}** ({', '.join(f'{x:.0f}' for x in r['eager_items_per_s'])}) | "
            f"**{r['speedup_median']:.1f}x** | {r['max_abs_feature_diff_ort_vs_eager']:.1g} |"
        )
    return "\n".join(lines)


def probe_table(payloads: list[dict[str, Any]]) -> str:
    """Accuracy table: dataset × method rows, budgets as columns."""
    results = [res for p in payloads for res in p["results"]]
    budgets = sorted({r["budget"] for res in results for r in res["summary"]})
    header = "| dataset (test n) | method | " + " | ".join(f"n={b}/class" for b in budgets) + " | head fit s at max n |"
    lines = [header, "|---|---|" + "---|" * len(budgets) + "---|"]
    for res in results:
        by = {(r["method"], r["budget"]): r for r in res["summary"]}
        for method in dict.fromkeys(r["method"] for r in res["summary"]):
            cells = []
            for b in budgets:
                r = by.get((method, b))
                cells.append(
                    f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} ({r['macro_f1_mean']:.3f})" if r else "-"
                )
            last = by.get((method, max(b for m, b in by if m == method)))
            lines.append(
                f"| {res['dataset']} ({res['n_test']}) | {method} | "
                + " | ".join(cells)
                + f" | {last['fit_seconds_mean']:.1f} |"
            )
    return "\n".join(lines)


def main() -> int:
    """Print the tables."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--extract", type=Path, nargs="*", default=[RESULTS / "extract.json"])
    p.add_argument("--probe", type=Path, nargs="*", default=[RESULTS / "probe.json"])
    args = p.parse_args()
    for path in args.extract:
        if path.exists():
            print(f"### {path.name}\n\n{extract_table(json.loads(path.read_text()))}\n")
    probes = [json.loads(path.read_text()) for path in args.probe if path.exists()]
    if probes:
        print(f"### accuracy mean ± std over seeds (macro-F1 mean)\n\n{probe_table(probes)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
