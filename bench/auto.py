"""`--strategy auto` against every fixed strategy on the same draws and test sets: does it pick the best?

For each dataset and label budget (bench/strategies.py's fixed test sets and `labels_per_class` draws, the same
backbone for every strategy: flowers `efficientnet-lite0@128`, texts `minilm-l6`), fit `auto` and each fixed
strategy (zero-shot, linear, partial:2, full) through `run_headstart`, i.e. the `headstart fit` code path minus
its own split; auto gets the same sst2 label descriptions as zero-shot (for its zero-shot check, rule RZ).
`fashion` (Fashion-MNIST's 10,000 test images, from the Debian package `dataset-fashion-mnist`, written once as
an image folder under `--cache`) is a far-domain set that no rule of auto was chosen on.
Every cell starts from an empty feature store (ONNX exports stay warm), so its train seconds include its own
feature extraction, and auto's include its ranking. Gradient strategies, including the one auto
delegates to, share one epoch cap (`--max-epochs`). Cells are appended to a JSONL as they finish; a rerun skips
finished cells.

    OMP_NUM_THREADS=1 .venv/bin/python bench/auto.py                 # writes bench/results/auto.jsonl
    .venv/bin/python bench/auto.py --summary                         # Markdown tables from the JSONL
    .venv/bin/python bench/auto.py --pooled s0.jsonl s1.jsonl        # one table over seeds (one JSONL per seed)
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
from goals import record_auto  # noqa: E402
from strategies import (  # noqa: E402
    DATASETS,
    SST2_DESCRIPTIONS,
    CellTimeout,
    DatasetSpec,
    _alarm,
    load_task,
    run_headstart,
)

FIXED = ("zero-shot", "linear", "partial:2", "full")
BUDGETS = {"flowers": (5, 20), "sst2": (8, 64), "banking77": (8, 16), "fashion": (5, 20), "mnist": (5,)}
FASHION_IDX = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
DATASETS = {
    **DATASETS,
    "fashion": DatasetSpec("fashion", "fashion", "efficientnet-lite0@128", (5, 20), None, 500),
    "mnist": DatasetSpec("mnist", "mnist", "efficientnet-lite0@128", (5,), None, 500),
}


def fashion_folder(cache: Path) -> Path:
    """Fashion-MNIST's t10k split as `<cache>/fashion-data/fashion/<class>/<n>.png` (written once); its root."""
    import gzip

    import numpy as np
    from PIL import Image

    root = cache / "fashion-data"
    if (root / "fashion" / FASHION_CLASSES[-1]).is_dir():
        return root
    with gzip.open(FASHION_IDX / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION_IDX / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / "fashion" / FASHION_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    return root


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
    p.add_argument(
        "--pooled",
        type=Path,
        nargs="+",
        default=None,
        help="print one table over several JSONLs (one seed each): mean accuracy per strategy, auto's hits per seed",
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
                "cpu": {s: c.get("train_cpu_seconds") for s, c in {**measured, "auto": auto}.items()},
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


def _secs(row: dict[str, Any], strategy: str) -> str:
    """'wall s / CPU s' of one cell's fit (CPU: process time of the 1-thread process, the figure under load)."""
    wall = row["auto"][1] if strategy == "auto" else row["fixed"][strategy][1]
    cpu = row.get("cpu", {}).get(strategy)
    return f"{wall:.1f} s" if cpu is None else f"{wall:.1f} / {cpu:.1f} s"


def print_summary(result: dict[str, Any]) -> None:
    print(
        "| data | n/class | " + " | ".join(FIXED) + " | auto: choice (rule) | auto acc (wall / CPU s; ranking s) | "
        "best fixed | auto − best: acc, s |"
    )
    print("|---|---:|" + "---|" * len(FIXED) + "---|---|---|---|")
    for r in result["rows"]:
        cells = ["—" if r["fixed"][s] is None else f"{r['fixed'][s][0]:.3f} ({_secs(r, s)})" for s in FIXED]
        acc, secs, rank_s = r["auto"]
        print(
            f"| {r['dataset']} | {r['budget']} | " + " | ".join(cells) + f" | {r['auto_choice']} ({r['auto_rule']}) | "
            f"{acc:.3f} ({_secs(r, 'auto')}; {rank_s:.1f} s) | {r['best_fixed']} | "
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


def pooled_summary(paths: list[Path]) -> list[dict[str, Any]]:
    """Per (dataset, budget) over the seeds of several JSONLs: mean ± sd accuracy (mean CPU s) per strategy, auto's
    choices, and per seed whether auto matched the best fixed strategy measured at that seed and by how much.
    Printed as a table; returned as rows for the goal's record."""
    import statistics

    cells = {
        (c["dataset"], c["budget"], c["seed"], c["strategy"]): c for p in paths for c in _read(p) if "accuracy" in c
    }
    groups = sorted({(c[0], c[1]) for c in cells}, key=lambda g: (list(BUDGETS).index(g[0]), g[1]))
    print(
        "| data | n/class | seeds | " + " | ".join(FIXED) + " | auto | auto's choices (rule) | auto best or tied "
        "| auto − best fixed, per seed |"
    )
    print("|---|---:|---|" + "---|" * len(FIXED) + "---|---|---|---|")
    hits = total = 0
    pooled = []
    for name, budget in groups:
        seeds = sorted(s for (d, b, s, st) in cells if (d, b, st) == (name, budget, "auto"))
        means, accuracy = [], {}
        for strategy in (*FIXED, "auto"):
            got = [cells[(name, budget, s, strategy)] for s in seeds if (name, budget, s, strategy) in cells]
            acc = [c["accuracy"] for c in got]
            sd = f" ±{statistics.stdev(acc):.3f}" if len(acc) > 1 else ""
            cpu = statistics.mean(c["train_cpu_seconds"] for c in got) if got else 0.0
            means.append(f"{statistics.mean(acc):.3f}{sd} ({cpu:.1f} s, n={len(acc)})" if acc else "—")
            if acc:
                accuracy[strategy] = (statistics.mean(acc), f"{statistics.mean(acc):.3f}{sd}")
        choices, gaps, ok = [], [], 0
        for seed in seeds:
            auto = cells[(name, budget, seed, "auto")]
            fixed = {s: cells[(name, budget, seed, s)]["accuracy"] for s in FIXED if (name, budget, seed, s) in cells}
            best = max(fixed.values())
            decision = auto["auto_decision"]
            choices.append(f"{decision['strategy']} ({decision['rule']})")
            ok += auto["accuracy"] >= best
            gaps.append(f"{auto['accuracy'] - best:+.3f}" + ("" if len(fixed) == len(FIXED) else f" (of {len(fixed)})"))
        hits, total = hits + ok, total + len(seeds)
        print(
            f"| {name} | {budget} | {','.join(map(str, seeds))} | "
            + " | ".join(means)
            + f" | {', '.join(choices)} | {ok}/{len(seeds)} | {' / '.join(gaps)} |"
        )
        best_fixed = max((s for s in FIXED if s in accuracy), key=lambda s: accuracy[s][0])
        pooled.append(
            {
                "dataset": name,
                "budget": budget,
                "seeds": seeds,
                "choices": choices,
                "auto": accuracy["auto"][1],
                "best_fixed": f"{best_fixed} {accuracy[best_fixed][1]}",
                "best_or_tied": ok,
            }
        )
    print(f"\nauto matched or beat the best measured fixed strategy in {hits} of {total} (dataset, budget, seed) cells")
    return pooled


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pooled:
        record_auto(pooled_summary(args.pooled), args.pooled)
        return 0
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
            root = fashion_folder(Path(args.cache)) if cell[0] == "fashion" else args.data_root
            tasks[cell[0]] = load_task(DATASETS[cell[0]], root)
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
