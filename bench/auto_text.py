"""`auto` against every fixed strategy on the four text sets (issue 24): bench/strategies.py's draws and test sets.

Cells (dataset, strategy, budget, seed) are appended to a JSONL file as they finish and skipped on a rerun. The
summary reads that file plus any `--reuse` JSONL files of bench/strategies.py (same `load_task`, same draws, same
test sets: their cells are valid when the strategy's code path has not changed since) and writes one JSON with, per
(dataset, budget), each strategy's mean accuracy, the best and the worst fixed strategy, and `auto`'s gap to them.

    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_text.py --datasets sms_spam,ag_news --only linear,contrastive
    .venv/bin/python bench/auto_text.py --summary --reuse bench/results/strategies-v2.jsonl,...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import strategies as fixed  # noqa: E402  (bench/strategies.py: load_task, DatasetSpec, the SST-2 descriptions)
from common import (  # noqa: E402
    DEFAULT_DATA_ROOT,
    RESULTS_DIR,
    load_average,
    machine_info,
    write_json,
    write_result,
)

GOAL = "auto-on-texts"
TITLE = "`auto` on texts against the best fixed strategy"
TARGET = (
    "on every text set (sst2, sms_spam, ag_news, banking77 at 8, 16 and 64 labels per class), `--strategy auto` "
    "within 1 point of the best fixed strategy (zero-shot, baseline, linear, contrastive; partial:2 and full "
    "where measured) and never the worst"
)

DATASETS = {
    **{k: v for k, v in fixed.DATASETS.items() if k in ("sst2", "banking77")},
    "sms_spam": fixed.DatasetSpec("sms_spam", "sms_spam/sms_spam.csv", "minilm-l6", (8, 16, 64), None, 1000),
    "ag_news": fixed.DatasetSpec("ag_news", "ag_news/ag_news.csv", "minilm-l6", (8, 16, 64), None, 1000),
}
STRATEGIES = ("zero-shot", "baseline", "linear", "contrastive", "auto")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--datasets", default="sst2,sms_spam,ag_news,banking77")
    p.add_argument("--budgets", default="8,16,64")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--only", default=",".join(STRATEGIES))
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "auto-text.jsonl")
    p.add_argument("--reuse", default="", help="comma-separated JSONL files of bench/strategies.py cells to include")
    p.add_argument("--cache", default="/tmp/headstart-bench-auto-text-cache", help="HEADSTART_CACHE for this run")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary", action="store_true", help="only summarise the JSONL files into --results .json")
    p.add_argument("--commit", default=None, help="the commit the cells ran at (summary; default: this checkout)")
    p.add_argument("--command", action="append", default=[], help="a command that produced the cells (summary)")
    p.add_argument(
        "--decide-only",
        action="store_true",
        help="auto cells only rank and decide (AutoStrategy.choose); the summary scores them with the fixed cell of "
        "the strategy chosen on the same draw (the same fit: same train items, config and seed)",
    )
    return p.parse_args(argv)


def run_cell(
    spec: fixed.DatasetSpec,
    strategy: str,
    train: Any,
    test: Any,
    seed: int,
    tmp: Path,
    descriptions: str | None,
    threads: int,
    decide_only: bool = False,
) -> dict[str, Any]:
    """Fit `strategy` on `train` as bench/strategies.py does, score on `test`; `auto` also records its choice."""
    from headstart.backbones import get_backbone
    from headstart.config import FitConfig
    from headstart.strategies import FitInputs, resolve_strategy

    strat, params = resolve_strategy(strategy)
    config = FitConfig(
        backbone=spec.backbone,
        strategy=strategy,
        seed=seed,
        threads=threads,
        out=str(tmp / "model"),
        progress=False,
        label_descriptions=descriptions if strategy in ("zero-shot", "auto") else None,
    )
    backbone = get_backbone(spec.backbone) if strat.needs_backbone else None
    t0, c0 = time.perf_counter(), time.process_time()
    if decide_only:
        section = strat.choose(FitInputs(train=train, backbone=backbone, config=config, params=params))  # type: ignore[attr-defined]
        auto = json.loads(json.dumps(section.to_dict(), default=str))
        return {
            "decided_only": True,
            "trained": section.decision.strategy,
            "choose_cpu_seconds": time.process_time() - c0,
            "choose_seconds": time.perf_counter() - t0,
            "n_train": len(train),
            "auto": auto,
        }
    model = strat.fit(FitInputs(train=train, backbone=backbone, config=config, params=params, validation=None))
    t1, c1 = time.perf_counter(), time.process_time()
    pred = model.predict_dataset(test, cache=True)
    y_true = [test.labels[i] for i in pred.kept]
    section = model.manifest().get("strategy", {})
    auto = getattr(model, "chosen_by", None) or getattr(model, "auto", None)
    row = {
        **fixed.score(y_true, pred.proba, model.labels),
        "train_seconds": t1 - t0,
        "train_cpu_seconds": c1 - c0,
        "n_train": len(train),
        "n_test": len(pred.kept),
        "trained": section.get("spec") or section.get("name"),
    }
    if auto is not None:
        row["auto"] = json.loads(json.dumps(auto.to_dict() if hasattr(auto, "to_dict") else auto, default=str))
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["HEADSTART_CACHE"] = args.cache
    if args.summary:
        summarise(args.results, [Path(p) for p in args.reuse.split(",") if p], args)
        return 0
    import torch

    from headstart.data import labels_per_class

    torch.set_num_threads(args.threads)
    done = fixed.finished(args.results)
    names = [d for d in args.datasets.split(",") if d]
    only = [s for s in args.only.split(",") if s]
    budgets = [int(b) for b in args.budgets.split(",") if b]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    cells = [
        (n, s, 0 if s == "zero-shot" else b, 0 if s == "zero-shot" else seed)
        for n in names
        for b in budgets
        for seed in seeds
        for s in only
    ]
    cells = [c for c in dict.fromkeys(cells) if fixed.cell_key(*c) not in done]
    print(f"{len(cells)} cells to run ({len(done)} already finished)", flush=True)
    descriptions = Path(args.cache) / "sst2-label-descriptions.json"
    descriptions.parent.mkdir(parents=True, exist_ok=True)
    descriptions.write_text(json.dumps(fixed.SST2_DESCRIPTIONS))
    machine = machine_info()
    tasks: dict[str, Any] = {}
    for name, strategy, budget, seed in cells:
        spec = DATASETS[name]
        if name not in tasks:
            tasks[name] = fixed.load_task(spec, args.data_root)
        ds, pool, test, notes = tasks[name]
        train = labels_per_class(pool, budget or min(spec.budgets), seed=seed, classes=ds.classes)
        key = fixed.cell_key(name, strategy, budget, seed)
        row: dict[str, Any] = {
            "key": key,
            "dataset": name,
            "strategy": strategy,
            "budget": budget,
            "seed": seed,
            "backbone": spec.backbone,
            "load_before": load_average(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "data_notes": notes,
            "command": " ".join(sys.argv),
            "commit": machine["git_commit"],
            "cpu_model": machine["cpu_model"],
            "threads": args.threads,
        }
        print(f"[{time.strftime('%H:%M:%S')}] {key} load={row['load_before']}", flush=True)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hs-auto-text-") as tmp:
            try:
                desc = str(descriptions) if name == "sst2" else None
                decide = args.decide_only and strategy == "auto"
                row.update(run_cell(spec, strategy, train, test, seed, Path(tmp), desc, args.threads, decide))
                row["status"] = "ok"
            except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the run goes on
                row["status"] = f"error: {type(err).__name__}: {err}"[:2000]
                traceback.print_exc()
        row["wall_seconds"] = time.perf_counter() - t0
        row["load_after"] = load_average()
        with open(args.results, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
        print(
            f"    -> {row['status']} acc={row.get('accuracy')} trained={row.get('trained')} "
            f"cpu={row.get('train_cpu_seconds')}",
            flush=True,
        )
    return 0


def cpu_flags() -> list[str]:
    """The instruction-set flags that change ONNX Runtime / torch speed on this CPU."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(words & {"avx2", "avx512f", "avx512_vnni", "amx_tile"})


def summarise(path: Path, reuse: list[Path], args: argparse.Namespace) -> None:
    """Per (dataset, budget): each strategy's mean over seeds, the best and worst fixed strategy, auto's gaps."""
    rows: dict[str, dict[str, Any]] = {}
    for source in [*reuse, path]:  # this run's cells win over reused ones with the same key
        for key, row in fixed.finished(source).items():
            if row.get("status") == "ok" and row["dataset"] in DATASETS:
                rows[key] = {**row, "source": source.name}
    for key, row in list(rows.items()):  # a decided-only auto cell scores as the identical fixed fit
        if row.get("decided_only"):
            trained = row["trained"]
            same = fixed.cell_key(
                row["dataset"], trained, *((0, 0) if trained == "zero-shot" else (row["budget"], row["seed"]))
            )
            if same not in rows:
                del rows[key]
                continue
            fit = rows[same]
            rows[key] = {
                **row,
                "accuracy": fit["accuracy"],
                "train_cpu_seconds": (fit.get("train_cpu_seconds") or 0) + row["choose_cpu_seconds"],
                "scored_by": same,
            }
    table = []
    for name, spec in DATASETS.items():
        zero = [r for r in rows.values() if r["dataset"] == name and r["strategy"] == "zero-shot"]
        for budget in spec.budgets:
            here = [r for r in rows.values() if r["dataset"] == name and r["budget"] == budget]
            by: dict[str, list[dict[str, Any]]] = {}
            for r in [*here, *zero]:
                by.setdefault(r["strategy"], []).append(r)
            auto_seeds = {r["seed"] for r in by.get("auto", [])}
            strategies = {}
            for strategy, rs in sorted(by.items()):
                # the same draws for every strategy: only the seeds auto ran on (zero-shot learns nothing)
                if auto_seeds and strategy not in ("zero-shot", "setfit"):
                    rs = [r for r in rs if r["seed"] in auto_seeds] or rs
                acc = [r["accuracy"] for r in rs]
                strategies[strategy] = {
                    "accuracy_mean": float(np.mean(acc)),
                    "per_seed": {str(r["seed"]): round(r["accuracy"], 4) for r in sorted(rs, key=lambda r: r["seed"])},
                    "train_cpu_seconds_mean": float(np.mean([r.get("train_cpu_seconds") or np.nan for r in rs])),
                    "load": [r.get("load_before"), r.get("load_after")]
                    if len(rs) == 1
                    else [
                        min(r["load_before"][0] for r in rs if r.get("load_before")),
                        max(r["load_before"][0] for r in rs if r.get("load_before")),
                    ],
                    "sources": sorted({r["source"] for r in rs}),
                    **(
                        {
                            "trained": [r.get("trained") for r in rs],
                            "rules": [(r.get("auto") or {}).get("decision", {}).get("rule") for r in rs],
                            "scored_by": [r.get("scored_by", "its own fit") for r in rs],
                        }
                        if strategy == "auto"
                        else {}
                    ),
                }
            fixed_means = {s: v["accuracy_mean"] for s, v in strategies.items() if s not in ("auto", "setfit")}
            entry: dict[str, Any] = {"dataset": name, "budget": budget, "strategies": strategies}
            if fixed_means:
                best = max(fixed_means, key=fixed_means.__getitem__)
                worst = min(fixed_means, key=fixed_means.__getitem__)
                entry.update(best_fixed=best, worst_fixed=worst)
                if "auto" in strategies:
                    gap = strategies["auto"]["accuracy_mean"] - fixed_means[best]
                    entry.update(
                        auto_minus_best_points=round(100 * gap, 2),
                        auto_is_worst=bool(strategies["auto"]["accuracy_mean"] <= fixed_means[worst]),
                    )
            table.append(entry)
    machine = machine_info()
    write_json(
        path.with_suffix(".json"),
        {
            "command": [*args.command, " ".join(sys.argv)],
            "commit": args.commit or machine["git_commit"],
            "machine": {**machine, "cpu_flags": cpu_flags()},
            "reused": [p.name for p in reuse],
            "table": table,
        },
    )
    record_goal(table, rows, path, reuse, args)
    for e in table:
        cells = ", ".join(f"{s} {v['accuracy_mean']:.3f}" for s, v in e["strategies"].items())
        print(
            f"{e['dataset']:9s} {e['budget']:3d}: {cells} | best {e.get('best_fixed')} "
            f"auto-best {e.get('auto_minus_best_points')}"
        )


def _seconds(value: float) -> str:
    return "not recorded" if np.isnan(value) else f"{value:.1f}"


def _relative(path: Path) -> str:
    root = Path(__file__).resolve().parents[1]
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def record_goal(
    table: list[dict[str, Any]], rows: dict[str, dict[str, Any]], path: Path, reuse: list[Path], args: Any
) -> None:
    """The goal's current figure (bench/results/latest/auto-on-texts.json) from the summary table."""
    out, within, never_worst, loads = [], 0, 0, []
    judged = [e for e in table if "auto" in e["strategies"] and e.get("best_fixed")]
    for e in judged:
        by = e["strategies"]
        auto = by["auto"]
        best = e["best_fixed"]
        gap = e["auto_minus_best_points"]
        within += gap >= -1.0
        never_worst += not e["auto_is_worst"]
        choices = ", ".join(f"{t} ({r})" for t, r in zip(auto["trained"], auto["rules"], strict=True))
        others = ", ".join(f"{s} {v['accuracy_mean']:.3f}" for s, v in by.items() if s not in ("auto", "setfit", best))
        out.append(
            [
                f"{e['dataset']}, {e['budget']}",
                f"{choices} (seeds {', '.join(sorted(auto['per_seed']))})",
                f"{auto['accuracy_mean']:.3f}",
                f"{best} {by[best]['accuracy_mean']:.3f}",
                f"{gap:+.1f}",
                f"{_seconds(auto['train_cpu_seconds_mean'])} / {_seconds(by[best]['train_cpu_seconds_mean'])}",
                others,
            ]
        )
        loads += [r.get("load_before", [None])[0] for r in rows.values() if r["dataset"] == e["dataset"]]
    n = len(judged)
    unmeasured = [f"{e['dataset']} {e['budget']}/class" for e in table if e not in judged]
    complete = n and within == n and never_worst == n
    status = "met" if complete and not unmeasured else "partly met" if within else "not met"
    figure = f"within 1 point of the best fixed strategy in {within} of {n} (data, budget) cells"
    figure += f", never the worst in {never_worst} of {n}"
    misses = [
        f"{e['dataset']} {e['budget']}/class ({e['auto_minus_best_points']:+.1f})"
        for e in judged
        if e["auto_minus_best_points"] < -1.0
    ]
    if misses:
        figure += f"; misses: {', '.join(misses)}"
    if unmeasured:
        figure += f"; not measured: {', '.join(unmeasured)}"
    measured = [x for x in loads if x is not None]
    written = write_result(
        GOAL,
        title=TITLE,
        target=TARGET,
        status=status,
        figure=figure,
        table={
            "columns": [
                "data, labels/class",
                "auto's choice (rule), per seed",
                "auto",
                "best fixed",
                "auto − best (points)",
                "CPU s: auto / best",
                "other fixed strategies",
            ],
            "rows": out,
        },
        notes=[
            "Accuracy on bench/strategies.py's fixed test sets and training draws (sst2: the 872 validation "
            "sentences; banking77: 1,000 stratified test rows; sms_spam and ag_news: a stratified 20 % split, capped "
            "at 1,000), mean over the seeds auto ran on; every fixed strategy is averaged over the same seeds.",
            "auto's cells rank and decide (`AutoStrategy.choose`, --decide-only) and are scored by the fixed cell "
            "of the strategy they chose on the same draw: the same fit (same train items, config and seed); a full "
            "auto fit of sst2 64/class seed 0 is checked against its contrastive cell (auto-text-verify.jsonl).",
            "Reused cells (same load_task, draws and test sets): " + ", ".join(p.name for p in reuse) + "; "
            "banking77's contrastive 16/class cell predates contrastive's layer-wise decay (v3).",
            "1 thread per process (OMP_NUM_THREADS=1), CPU seconds from time.process_time; the machine was "
            "shared with other engineers' test suites (load below).",
        ],
        sources=[_relative(p) for p in [*reuse, path] if p.exists()],
        issue=24,
        order=54,
        load=f"{min(measured):.1f}-{max(measured):.1f} (1-minute, at each cell's start)" if measured else None,
        argv=None,
        commit=args.commit,
    )
    if written is not None and args.command:  # every command that produced the cells, then this summary
        doc = json.loads(written.read_text())
        doc["command"] = [*args.command, *doc["command"]]
        write_json(written, doc)


if __name__ == "__main__":
    sys.exit(main())
