"""Accuracy and wall time of every headstart strategy (plus SetFit on texts) per label budget, same splits.

For each dataset one fixed test set (capped with a seeded stratified subsample) and a training pool;
each cell (dataset, strategy, budget, seed) trains on `labels_per_class(pool, budget, seed)` and is
scored on the test set. The gradient strategies carve their own validation split out of that draw
(20 %), as `headstart fit` does; nothing ever sees the test set while training.

Cells are appended to a JSONL file as they finish, and finished cells are skipped on a rerun, so a
time-out or a kill loses at most the running cell. Cells are run cheapest-first (see `plan`).

    .venv/bin/python bench/strategies.py                    # everything in the plan, resumable
    .venv/bin/python bench/strategies.py --summary          # only print the tables from the JSONL
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from goals import record_setfit  # noqa: E402

SETFIT_PYTHON = Path("/tmp/setfit-venv/bin/python")
SETFIT_RUNNER = Path(__file__).resolve().parent / "setfit_runner.py"
# SetFit's default sampling pairs every example with every other: ~375k pairs (~23k steps) for banking77 at
# 8 per class, hours on 2 CPU cores. There it runs with max_steps capped; elsewhere with pure defaults.
SETFIT_MAX_STEPS = {"banking77": 400}
SST2_DESCRIPTIONS = {"0": "negative, bad movie review", "1": "positive, good movie review"}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str  # relative to the data root
    backbone: str
    budgets: tuple[int, ...]
    test_split: str | None  # split-column value used as test set; None → split_dataset(test_size=0.2, seed=0)
    max_test: int


DATASETS = {
    "flowers": DatasetSpec("flowers", "flowers", "efficientnet-lite0@128", (5, 20, 100), None, 500),
    "sst2": DatasetSpec("sst2", "sst2/sst2.csv", "minilm-l6", (8, 16, 64), "validation", 872),
    "banking77": DatasetSpec("banking77", "banking77/banking77.csv", "minilm-l6", (8, 16, 64), "test", 1000),
}
CHEAP = ("zero-shot", "baseline", "linear", "partial:2", "contrastive")
COSTLY = ("full", "scratch")
# Epoch caps (the strategies' defaults are partial 15, full 10, scratch 30): 2 shared CPU cores.
MAX_EPOCHS = {"partial:2": 10, "full": 5, "scratch": 15}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--datasets", default="flowers,sst2,banking77")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--costly-seeds", default="0", help="seeds for full, scratch (and SetFit) in the first pass")
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "strategies.jsonl")
    p.add_argument("--cache", default="/tmp/headstart-bench-strategies-cache", help="HEADSTART_CACHE for this run")
    p.add_argument("--cell-timeout", type=float, default=600.0, help="seconds before a cell is abandoned")
    p.add_argument("--no-setfit", action="store_true")
    p.add_argument("--only", default="", help="comma-separated strategies to run (default: all)")
    p.add_argument("--budgets", default="", help="comma-separated label budgets to run (default: all)")
    p.add_argument("--summary", action="store_true", help="only summarise the JSONL into strategies.json")
    # 1 thread: on the shared, oversubscribed CPU (load 10-17 on 2 cores) 2 intra-op threads made small torch
    # steps ~6x slower than 1 (spin-waiting threads); see bench/archive/2026-11-25-strategies-v1.md
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


# -- data -------------------------------------------------------------------------------------------
def load_task(spec: DatasetSpec, root: Path) -> tuple[Any, Any, Any, list[str]]:
    """(dataset, training pool, fixed test set, notes)."""
    from sklearn.model_selection import train_test_split

    from headstart.data import load_dataset, split_dataset

    path = root / spec.path
    require_data(path, spec.name)
    ds = load_dataset(str(path))
    notes: list[str] = []
    if spec.test_split is None:
        splits = split_dataset(ds, test_size=0.2, seed=0)
        pool, test = splits.train, splits.test
    else:
        assert ds.splits is not None
        pool = ds.subset([i for i, s in enumerate(ds.splits) if s == "train"])
        test = ds.subset([i for i, s in enumerate(ds.splits) if s == spec.test_split])
        notes.append(f"test = rows with split=={spec.test_split!r}; budgets drawn from the split=='train' rows")
    if len(test) > spec.max_test:
        keep, _ = train_test_split(
            np.arange(len(test)), train_size=spec.max_test, stratify=np.array(test.labels), random_state=0
        )
        notes.append(f"test capped at {spec.max_test} of {len(test)} (seeded stratified subsample)")
        test = test.subset(sorted(int(i) for i in keep))
    # the test rows keep no split marks, so no strategy can mistake them for a validation split
    from dataclasses import replace

    pool = replace(pool, splits=None)
    test = replace(test, splits=None)
    return ds, pool, test, notes


# -- cells ------------------------------------------------------------------------------------------
def cell_key(dataset: str, strategy: str, budget: int, seed: int) -> str:
    return f"{dataset}|{strategy}|{budget}|{seed}"


def plan(args: argparse.Namespace) -> list[tuple[str, str, int, int]]:
    """Cheapest first: zero-shot, baseline, linear on every seed; then partial, SetFit, full, scratch on seed 0
    (smallest budgets first); then those on the other seeds."""
    names = [d for d in args.datasets.split(",") if d]
    seeds = [int(s) for s in args.seeds.split(",")]
    costly_seeds = [int(s) for s in args.costly_seeds.split(",")]
    cells: list[tuple[str, str, int, int]] = []
    for name in names:
        spec = DATASETS[name]
        cells.append((name, "zero-shot", 0, 0))
        for budget in spec.budgets:
            for seed in seeds:
                for strategy in ("baseline", "linear"):
                    cells.append((name, strategy, budget, seed))
    extra = [] if args.no_setfit else ["setfit"]
    for seed_group in (costly_seeds, [s for s in seeds if s not in costly_seeds]):
        for seed in seed_group:
            for i in range(3):  # smallest budgets first, so every strategy has a full column early
                for name in names:
                    spec = DATASETS[name]
                    for strategy in ("partial:2", "contrastive", *extra, *COSTLY):
                        if strategy == "setfit" and spec.backbone != "minilm-l6":
                            continue
                        cells.append((name, strategy, spec.budgets[i], seed))
    only = {s for s in args.only.split(",") if s}
    budgets = {int(b) for b in args.budgets.split(",") if b}
    return [c for c in cells if (not only or c[1] in only) and (not budgets or c[2] in budgets or c[2] == 0)]


class CellTimeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise CellTimeout()


def score(y_true: list[str], proba: np.ndarray, labels: list[str]) -> dict[str, float]:
    from headstart.metrics import classification_report

    return classification_report(y_true, proba, labels).summary()


def run_headstart(
    spec: DatasetSpec,
    strategy: str,
    train: Any,
    test: Any,
    seed: int,
    tmp: Path,
    descriptions: str | None,
    threads: int,
) -> dict[str, Any]:
    from headstart.backbones import get_backbone
    from headstart.config import FitConfig
    from headstart.strategies import FitInputs, resolve_strategy

    strat, params = resolve_strategy(strategy)
    backbone = get_backbone(spec.backbone) if strat.needs_backbone else None
    config = FitConfig(
        backbone=spec.backbone,
        strategy=strategy,
        seed=seed,
        threads=threads,
        out=str(tmp / "model"),
        progress=False,
        max_epochs=MAX_EPOCHS.get(strategy),
        label_descriptions=descriptions if strategy in ("zero-shot", "auto") else None,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    model = strat.fit(FitInputs(train=train, backbone=backbone, config=config, params=params, validation=None))
    t1, c1 = time.perf_counter(), time.process_time()
    pred = model.predict_dataset(test, cache=True)
    t2 = time.perf_counter()
    report = model.report
    y_true = [test.labels[i] for i in pred.kept]
    return {
        **score(y_true, pred.proba, model.labels),
        "train_seconds": t1 - t0,
        "train_cpu_seconds": c1 - c0,  # CPU time of this process: comparable across machine loads (1 thread)
        "predict_seconds": t2 - t1,
        "threads": threads,
        "n_train": report.n_train if report else len(train),
        "n_test": len(pred.kept),
        "features_cached": report.features_cached if report else None,
        "features_computed": report.features_computed if report else None,
        "epochs_run": len(report.history) if report and report.history else None,
        "history": report.history if report else None,
        "notes": report.notes if report else [],
        "manifest_strategy": _jsonable(model.manifest().get("strategy")),
    }


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def run_setfit(
    train: Any, test: Any, seed: int, tmp: Path, timeout: float, max_steps: int | None, threads: int
) -> dict[str, Any]:
    if not SETFIT_PYTHON.exists():
        raise RuntimeError(f"SetFit venv not found at {SETFIT_PYTHON}")
    for name, ds in (("train", train), ("test", test)):
        with open(tmp / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(zip(ds.items, ds.labels, strict=True))
    out = tmp / "setfit.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(
        [
            str(SETFIT_PYTHON),
            str(SETFIT_RUNNER),
            str(tmp / "train.csv"),
            str(tmp / "test.csv"),
            str(out),
            "--seed",
            str(seed),
            "--threads",
            str(threads),
            *(["--max-steps", str(max_steps)] if max_steps else []),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"setfit_runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(out.read_text())
    y_true = list(test.labels)
    proba = np.array(result.pop("proba"))
    return {
        **score(y_true, proba, result["labels"]),
        **{k: v for k, v in result.items() if k != "labels"},
        "n_train": len(train),
        "n_test": len(test),
    }


def finished(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("status") == "ok" or str(row.get("status", "")).startswith("timeout"):
                    done[row["key"]] = row  # errors are retried on the next run
    return done


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["HEADSTART_CACHE"] = args.cache
    if args.summary:
        summarise(args.results)
        return 0
    import torch

    from headstart.data import labels_per_class

    torch.set_num_threads(args.threads)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    meta_path = args.results.with_suffix(".machine.json")
    runs = json.loads(meta_path.read_text())["runs"] if meta_path.exists() else []
    runs.append(machine_info())
    write_json(meta_path, {"runs": runs})

    done = finished(args.results)
    cells = [c for c in plan(args) if cell_key(*c) not in done]
    print(f"{len(cells)} cells to run ({len(done)} already finished)", flush=True)
    tasks: dict[str, tuple[Any, Any, Any, list[str]]] = {}
    descriptions_path = Path(args.cache) / "sst2-label-descriptions.json"
    descriptions_path.parent.mkdir(parents=True, exist_ok=True)
    descriptions_path.write_text(json.dumps(SST2_DESCRIPTIONS))
    signal.signal(signal.SIGALRM, _alarm)
    for name, strategy, budget, seed in cells:
        spec = DATASETS[name]
        if name not in tasks:
            tasks[name] = load_task(spec, args.data_root)
        ds, pool, test, notes = tasks[name]
        # zero-shot learns nothing: it gets the smallest draw, which it only uses to list the labels
        train = labels_per_class(pool, budget or min(spec.budgets), seed=seed, classes=ds.classes)
        key = cell_key(name, strategy, budget, seed)
        row: dict[str, Any] = {
            "key": key,
            "dataset": name,
            "strategy": strategy,
            "budget": budget,
            "seed": seed,
            "backbone": spec.backbone if strategy != "setfit" else "setfit/all-MiniLM-L6-v2",
            "load_before": load_average(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "data_notes": notes,
        }
        print(f"[{time.strftime('%H:%M:%S')}] {key} load={row['load_before']}", flush=True)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hs-bench-") as tmp:
            try:
                if strategy == "setfit":
                    row.update(
                        run_setfit(
                            train, test, seed, Path(tmp), args.cell_timeout, SETFIT_MAX_STEPS.get(name), args.threads
                        )
                    )
                else:
                    signal.alarm(int(args.cell_timeout))
                    try:
                        desc = str(descriptions_path) if name == "sst2" else None
                        row.update(run_headstart(spec, strategy, train, test, seed, Path(tmp), desc, args.threads))
                    finally:
                        signal.alarm(0)
                row["status"] = "ok"
            except (CellTimeout, subprocess.TimeoutExpired):
                row["status"] = f"timeout after {args.cell_timeout:.0f} s"
            except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the run goes on
                row["status"] = f"error: {type(err).__name__}: {err}"[:2000]
                traceback.print_exc()
        row["wall_seconds"] = time.perf_counter() - t0
        row["load_after"] = load_average()
        with open(args.results, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
        print(
            f"    -> {row['status']} acc={row.get('accuracy')} train_s={row.get('train_seconds')} "
            f"wall={row['wall_seconds']:.1f}",
            flush=True,
        )
    summarise(args.results)
    return 0


# -- summary ----------------------------------------------------------------------------------------
def summarise(path: Path) -> None:
    rows = [r for r in finished(path).values()]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "ok":
            groups.setdefault((r["dataset"], r["strategy"], r["budget"]), []).append(r)
    summary = []
    for (dataset, strategy, budget), rs in sorted(groups.items()):
        acc = np.array([r["accuracy"] for r in rs])
        summary.append(
            {
                "dataset": dataset,
                "strategy": strategy,
                "budget": budget,
                "seeds": sorted(r["seed"] for r in rs),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else None,
                "macro_f1_mean": float(np.mean([r["macro_f1"] for r in rs])),
                "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
                "train_cpu_seconds_mean": (
                    float(np.mean([r["train_cpu_seconds"] for r in rs]))
                    if all(r.get("train_cpu_seconds") is not None for r in rs)
                    else None
                ),
                "epochs_run": [r.get("epochs_run") for r in rs],
            }
        )
    failed = [{"key": r["key"], "status": r["status"]} for r in rows if r.get("status") != "ok"]
    write_json(path.with_suffix(".json"), {"summary": summary, "failed": failed, "cells": len(rows)})
    budgets_of = {name: spec.budgets for name, spec in DATASETS.items()}
    for dataset in DATASETS:
        lines = [s for s in summary if s["dataset"] == dataset]
        if not lines:
            continue
        print(f"\n## {dataset}")
        strategies = list(dict.fromkeys(s["strategy"] for s in lines))
        for strategy in strategies:
            cells = []
            for b in (0, *budgets_of[dataset]):
                s = next((x for x in lines if x["strategy"] == strategy and x["budget"] == b), None)
                if s is None:
                    continue
                std = f" ± {s['accuracy_std']:.3f}" if s["accuracy_std"] is not None else ""
                cells.append(
                    f"n={b}: {s['accuracy_mean']:.3f}{std} ({len(s['seeds'])} seeds, {s['train_seconds_mean']:.1f} s)"
                )
            print(f"  {strategy:10s} " + " | ".join(cells))
    for f in failed:
        print("FAILED", f)
    record_setfit(summary, path)


if __name__ == "__main__":
    sys.exit(main())
