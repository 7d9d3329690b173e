"""`--strategy auto` against every fixed strategy on the same draws and test sets: does it pick the best?

For each dataset and label budget (bench/strategies.py's fixed test sets and `labels_per_class` draws, the same
backbone for every strategy: flowers `efficientnet-lite0@128`, texts `minilm-l6`), fit `auto` and each fixed
strategy (zero-shot, linear, partial:2, full) through `run_headstart`, i.e. the `headstart fit` code path minus
its own split; auto gets the same sst2 label descriptions as zero-shot (for its zero-shot check, rule RZ).
Every cell starts from an empty feature store (ONNX exports stay warm), so its train seconds include its own
feature extraction, and auto's include its ranking. Gradient strategies, including the one auto
delegates to, share one epoch cap (`--max-epochs`). Cells are appended to a JSONL as they finish; a rerun skips
finished cells.

    OMP_NUM_THREADS=1 .venv/bin/python bench/auto.py                 # writes bench/results/auto.jsonl
    .venv/bin/python bench/auto.py --summary                         # Markdown tables from the JSONL
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, write_json  # noqa: E402
from strategies import DATASETS, SST2_DESCRIPTIONS, CellTimeout, _alarm, load_task, run_headstart  # noqa: E402

FIXED = ("zero-shot", "linear", "partial:2", "full")
BUDGETS = {"flowers": (5, 20), "sst2": (8, 64), "banking77": (8, 16)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--datasets", default="flowers,sst2,banking77")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=10, help="cap for partial, full and what auto delegates to")
    p.add_argument("--cache", default="/tmp/headstart-bench-cache", help="HEADSTART_CACHE whose onnx/ is reused")
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "auto.jsonl")
    p.add_argument("--cell-timeout", type=float, default=900.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated strategies (default: auto and every fixed one)")
    p.add_argument("--summary", action="store_true")
    p.add_argument(
        "--auto-results",
        type=Path,
        default=None,
        help="summary: take the auto cells from this JSONL (e.g. a rerun after a rule change); the "
        "auto cells of --results are then shown as 'old rules'",
    )
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """Cheap cells first (zero-shot, linear, auto, partial:2 per dataset and budget), then every `full`."""
    names = [d for d in args.datasets.split(",") if d]
    only = {s for s in args.only.split(",") if s}
    cells = [(n, s, b) for n in names for b in BUDGETS[n] for s in ("zero-shot", "linear", "auto", "partial:2")]
    cells += [(n, "full", b) for n in names for b in BUDGETS[n]]
    return [c for c in cells if not only or c[1] in only]


def key(cell: tuple[str, str, int], seed: int) -> str:
    return f"{cell[0]}|{cell[1]}|{cell[2]}|{seed}"


def run_cell(
    cell: tuple[str, str, int], task: tuple[Any, Any, Any, list[str]], args: argparse.Namespace, descriptions: Path
) -> dict[str, Any]:
    """One fit + test prediction on an empty feature store whose onnx/ is the warm shared one."""
    import strategies

    from headstart.data import labels_per_class

    name, strategy, budget = cell
    ds, pool, test, _ = task
    train = labels_per_class(pool, budget, seed=args.seed, classes=ds.classes)
    strategies.MAX_EPOCHS = {"partial:2": args.max_epochs, "full": args.max_epochs, "auto": args.max_epochs}
    with tempfile.TemporaryDirectory(prefix="headstart-auto-bench-") as tmp:
        (Path(tmp) / "onnx").symlink_to(Path(args.cache) / "onnx", target_is_directory=True)
        os.environ["HEADSTART_CACHE"] = tmp
        try:
            record = run_headstart(
                DATASETS[name],
                strategy,
                train,
                test,
                args.seed,
                Path(tmp),
                str(descriptions) if name == "sst2" else None,
                args.threads,
            )
        finally:
            os.environ["HEADSTART_CACHE"] = args.cache
    auto = (record.get("manifest_strategy") or {}).get("auto")
    if auto:
        record["auto_decision"] = auto["decision"]
        record["auto_rank_seconds"] = auto["rank_seconds"]
        record["auto_zero_shot_train_accuracy"] = auto.get("zero_shot_train_accuracy")
        record["auto_zero_shot_seconds"] = auto.get("zero_shot_seconds")
        record["auto_notes"] = auto.get("notes")
        record["auto_scores"] = [
            {k: r[k] for k in ("backbone", "cut", "stage", "scores", "seconds")} for r in auto["scores"]
        ]
    record.pop("manifest_strategy", None)
    return record


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(path: Path, auto_path: Path | None = None) -> dict[str, Any]:
    """Per (dataset, budget): every strategy's accuracy/time, the best fixed one, auto's pick and its gaps."""
    cells = _read(path)
    done = {(c["dataset"], c["strategy"], c["budget"]): c for c in cells if "accuracy" in c}
    old = {}
    if auto_path is not None:
        old = {k: c for k, c in done.items() if k[1] == "auto"}
        newer = _read(auto_path)
        done.update({(c["dataset"], c["strategy"], c["budget"]): c for c in newer if "accuracy" in c})
        cells += newer
    groups = sorted({(c["dataset"], c["budget"]) for c in cells}, key=lambda g: (list(BUDGETS).index(g[0]), g[1]))
    rows = []
    for name, budget in groups:
        fixed = {s: done.get((name, s, budget)) for s in FIXED}
        auto = done.get((name, "auto", budget))
        measured = {s: c for s, c in fixed.items() if c}
        if not measured or not auto:
            continue
        missing = [s for s in FIXED if s not in measured]
        best = max(measured, key=lambda s: measured[s]["accuracy"])
        chosen = auto["auto_decision"]["strategy"]
        same = measured.get(chosen)
        rows.append(
            {
                "dataset": name,
                "budget": budget,
                "fixed": {s: (c["accuracy"], c["train_seconds"]) if c else None for s, c in fixed.items()},
                "auto": (auto["accuracy"], auto["train_seconds"], auto["auto_rank_seconds"]),
                "auto_choice": chosen,
                "auto_rule": auto["auto_decision"]["rule"],
                "auto_reason": auto["auto_decision"]["reason"],
                "best_fixed": best,
                "missing_fixed": missing,
                "picked_best": chosen == best or auto["accuracy"] >= measured[best]["accuracy"],
                "accuracy_gap": auto["accuracy"] - measured[best]["accuracy"],
                "time_gap": auto["train_seconds"] - measured[best]["train_seconds"],
                "chosen_fixed_accuracy": same["accuracy"] if same else None,
                "old_rules": _old(old.get((name, "auto", budget)), measured, best),
            }
        )
    return {"rows": rows, "cells": len(cells), "failed": [c["key"] for c in cells if "error" in c]}


def _old(cell: dict[str, Any] | None, measured: dict[str, Any], best: str) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {
        "choice": cell["auto_decision"]["strategy"],
        "rule": cell["auto_decision"]["rule"],
        "accuracy": cell["accuracy"],
        "train_seconds": cell["train_seconds"],
        "accuracy_gap": cell["accuracy"] - measured[best]["accuracy"],
    }


def print_summary(result: dict[str, Any]) -> None:
    print(
        "| data | n/class | " + " | ".join(FIXED) + " | auto: choice (rule) | auto acc (train s, of it ranking s) | "
        "best fixed | auto − best: acc, s |"
    )
    print("|---|---:|" + "---|" * len(FIXED) + "---|---|---|---|")
    for r in result["rows"]:
        cells = ["—" if r["fixed"][s] is None else f"{r['fixed'][s][0]:.3f} ({r['fixed'][s][1]:.1f} s)" for s in FIXED]
        acc, secs, rank_s = r["auto"]
        print(
            f"| {r['dataset']} | {r['budget']} | " + " | ".join(cells) + f" | {r['auto_choice']} ({r['auto_rule']}) | "
            f"{acc:.3f} ({secs:.1f} s, {rank_s:.1f} s) | {r['best_fixed']} | "
            f"{r['accuracy_gap']:+.3f}, {r['time_gap']:+.1f} s |"
        )
    hits = sum(r["picked_best"] for r in result["rows"])
    print(
        f"\nauto matched or beat the best measured fixed strategy in {hits} of {len(result['rows'])} "
        "(dataset, budget) pairs"
    )
    for r in result["rows"]:
        if r["missing_fixed"]:
            print(f"- {r['dataset']} n={r['budget']}: not measured: {', '.join(r['missing_fixed'])}")
    for r in result["rows"]:
        print(f"- {r['dataset']} n={r['budget']}: {r['auto_rule']}: {r['auto_reason']}")
        if r["old_rules"]:
            o = r["old_rules"]
            print(
                f"  old rules: {o['choice']} ({o['rule']}) {o['accuracy']:.3f} in {o['train_seconds']:.1f} s, "
                f"{o['accuracy_gap']:+.3f} vs best fixed"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summary:
        result = summary(args.results, args.auto_results)
        print_summary(result)
        write_json(args.results.with_suffix(".json"), result)
        return 0
    os.environ["HEADSTART_CACHE"] = args.cache
    done = set()
    if args.results.exists():
        done = {json.loads(line)["key"] for line in args.results.read_text().splitlines() if line.strip()}
    descriptions = Path(args.cache) / "sst2-label-descriptions.json"
    descriptions.write_text(json.dumps(SST2_DESCRIPTIONS))
    write_json(args.results.with_suffix(".machine.json"), {"machine": machine_info(), "args": vars(args)})
    signal.signal(signal.SIGALRM, _alarm)
    tasks: dict[str, Any] = {}
    for cell in plan(args):
        k = key(cell, args.seed)
        if k in done:
            continue
        if cell[0] not in tasks:
            tasks[cell[0]] = load_task(DATASETS[cell[0]], args.data_root)
        before = load_average()
        started = time.perf_counter()
        record: dict[str, Any] = {
            "key": k,
            "dataset": cell[0],
            "strategy": cell[1],
            "budget": cell[2],
            "seed": args.seed,
            "max_epochs": args.max_epochs,
            "load_before": before,
        }
        signal.alarm(int(args.cell_timeout))
        try:
            record.update(run_cell(cell, tasks[cell[0]], args, descriptions))
        except CellTimeout:
            record["error"] = f"timeout after {args.cell_timeout:.0f} s"
        except Exception as err:  # a failed cell is recorded, the others still run
            record["error"] = f"{type(err).__name__}: {err}"
            record["traceback"] = traceback.format_exc()
        finally:
            signal.alarm(0)
        record["load_after"] = load_average()
        record["wall_seconds"] = time.perf_counter() - started
        with open(args.results, "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        print(
            f"{k}: acc={record.get('accuracy')} train={record.get('train_seconds')} "
            f"{record.get('auto_decision', {}).get('strategy', '')} {record.get('error', '')} load={before}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
