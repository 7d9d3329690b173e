"""Do transferability scores rank (backbone, cut) candidates the way the accuracy they reach does, and cheaply?

For each dataset: one fixed test split (capped by a seeded stratified subsample) and one seeded draw of
`--labels` labels per class from the training pool. For every candidate (backbone, cut stage):

- ranking: pooled features of the training draw at every cut of a backbone from ONE forward pass
  (`extract_features_at_cuts`, one ONNX graph with a pooled output per cut), then LogME, kNN, H-score, NCE, LEEP;
- ground truth 1, **fine-tuning**: the package's own fit from that cut, `partial:K` with the K = n - cut stages
  after the cut trainable (the default recipe: probe-initialised head, AdamW, early stopping on a 20 % hold-out
  when the draw has >= 20 items; `--max-epochs`, default: the strategy's own 15), and `linear` at the last cut;
  accuracy on the test split;
- ground truth 2, linear probe: `LinearHead` (logreg, C by CV) on the training features at that cut.

Per metric: Spearman and Kendall correlation of score vs each ground truth across candidates, whether its top
pick is the best, and the accuracy lost by trusting it. Cost: ranking with one metric (the shared one-pass
features + that metric's scores) as a fraction of fitting every candidate (the sum of the strategies' `fit`
wall times, each with an empty feature store so it pays its own extraction). ONNX exports are one-time and
warmed before anything is timed. The 1-minute load average is recorded next to every timed figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from probe import make_splits  # noqa: E402


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    relpath: str
    modality: str
    test_split: str | None


DATASETS = {
    "flowers": DatasetSpec("flowers", "flowers", "image", None),
    "mnist": DatasetSpec("mnist", "mnist", "image", None),
    "sst2": DatasetSpec("sst2", "sst2/sst2.csv", "text", "validation"),
    "banking77": DatasetSpec("banking77", "banking77/banking77.csv", "text", "test"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="flowers,sst2")
    p.add_argument("--image-backbones", default="efficientnet-lite0@128,efficientnet-lite1@128,efficientnet-lite2@128")
    p.add_argument("--image-cuts", default="4,6,7,8,9", help="stage indices (efficientnet: 9 stages)")
    p.add_argument("--text-backbones", default="minilm-l6")
    p.add_argument("--text-cuts", default="all")
    p.add_argument("--labels", type=int, default=20, help="labels per class in the training draw")
    p.add_argument("--text-labels", type=int, default=None, help="labels per class for text sets (default --labels)")
    p.add_argument("--max-test-image", type=int, default=500)
    p.add_argument("--max-test-text", type=int, default=872)
    p.add_argument("--max-epochs", type=int, default=None, help="fine-tuning epoch cap (default: partial's 15)")
    p.add_argument("--no-finetune", action="store_true", help="probe ground truth only (the old benchmark)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "rank-finetune.json")
    p.add_argument("--report", type=Path, nargs="*", help="print Markdown tables from these JSON results and exit")
    return p.parse_args(argv)


def _f(value: Any, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cell(c: dict[str, Any]) -> str:
    if c["spearman"] is None:
        return "n/a"
    pick = "✓" if c["top1"] else f"✗ −{_f(c['regret'], 3)}"
    return f"{_f(c['spearman'])} / {_f(c['kendall'])} {pick}" + ("" if c["n"] > 3 else f" (n={c['n']})")


def report(paths: list[Path]) -> None:
    """Markdown tables (correlations per metric vs each ground truth, cost) from one or more results files."""
    import json

    from headstart.transferability import METRICS

    results = [r for p in paths for r in json.loads(p.read_text())["results"]]
    for truth in ("finetune", "probe"):
        print(f"Ground truth: {truth} accuracy\n")
        print("| dataset (train/test) | candidates | best | " + " | ".join(METRICS) + " |")
        print("|---|---|---|" + "---|" * len(METRICS))
        for r in results:
            key = f"{truth}_accuracy"
            if r["candidates"][0].get(key) is None:
                continue
            best = max(r["candidates"], key=lambda c: c[key])
            cells = [_cell(r[f"correlation_vs_{truth}"][m]) for m in METRICS]
            print(
                f"| {r['dataset']} ({r['n_train']}/{r['n_test']}) | {len(r['candidates'])} | "
                f"{best['backbone']}@{best['stage']} {best[key]:.3f} | " + " | ".join(cells) + " |"
            )
        print()
    print(
        "| dataset | ranking s: one-pass features + LogME / + kNN / + H-score / all 5 | per-cut features s "
        "(old) | fine-tune every candidate s | fraction (LogME / kNN / H-score / all) | probe every candidate s | "
        "load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cost"]
        rk = c["rank_seconds_by_metric"]
        fr = c["rank_fraction_of_finetune_by_metric"] or {}
        pct = " / ".join(
            "—" if fr.get(m) is None else f"{100 * fr[m]:.1f} %" for m in ("logme", "knn", "hscore", "all")
        )
        print(
            f"| {r['dataset']} | {rk['logme']:.1f} / {rk['knn']:.1f} / {rk['hscore']:.1f} / {rk['all']:.1f} | "
            f"{c['per_cut_extract_seconds']:.1f} | {_f(c['finetune_every_candidate_seconds'], 1)} | {pct} | "
            f"{c['probe_every_candidate_seconds']:.1f} | {c['load_range']} |"
        )


def correlations(scores: list[float | None], accuracy: list[float | None]) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    pairs = [
        (s, a) for s, a in zip(scores, accuracy, strict=True) if s is not None and a is not None and not np.isnan(s)
    ]
    if len(pairs) < 3:
        return {"n": len(pairs), "spearman": None, "kendall": None, "top1": None, "regret": None}
    s, a = map(np.array, zip(*pairs, strict=True))
    pick = int(np.argmax(s))
    return {
        "n": len(pairs),
        "spearman": float(spearmanr(s, a).statistic),
        "kendall": float(kendalltau(s, a).statistic),
        "top1": bool(a[pick] == a.max()),
        "regret": float(a.max() - a[pick]),
    }


def fresh_cache(shared_onnx: Path) -> tempfile.TemporaryDirectory:
    """An empty HEADSTART_CACHE whose `onnx/` is the warm shared export folder (so fits pay extraction, not export)."""
    tmp = tempfile.TemporaryDirectory(prefix="headstart-rank-fit-")
    (Path(tmp.name) / "onnx").symlink_to(shared_onnx, target_is_directory=True)
    os.environ["HEADSTART_CACHE"] = tmp.name
    return tmp


def fit_candidate(
    backbone_name: str, cut: int, n_stages: int, train: Any, test: Any, args: argparse.Namespace, shared_onnx: Path
) -> dict[str, Any]:
    """Fit from `cut` with the package's strategy (`partial:K`, or `linear` at the last cut) on an empty store."""
    from headstart.backbones import get_backbone
    from headstart.config import FitConfig
    from headstart.strategies import FitInputs, resolve_strategy

    k = n_stages - cut
    spec = "linear" if k == 0 else f"partial:{k}"
    strategy, params = resolve_strategy(spec)
    saved = os.environ.get("HEADSTART_CACHE")
    tmp = fresh_cache(shared_onnx)
    try:
        with tempfile.TemporaryDirectory() as out:
            config = FitConfig(
                backbone=backbone_name,
                strategy=spec,
                seed=args.seed,
                threads=args.threads,
                out=str(Path(out) / "model"),
                progress=False,
                max_epochs=args.max_epochs if k else None,
            )
            load = load_average()
            t0 = time.perf_counter()
            model = strategy.fit(
                FitInputs(
                    train=train, backbone=get_backbone(backbone_name), config=config, params=params, validation=None
                )
            )
            fit_s = time.perf_counter() - t0
            pred = model.predict_dataset(test, cache=True)
        y = np.array([test.labels[i] for i in pred.kept])
        labels = np.array(model.labels)
        accuracy = float((labels[np.argmax(pred.proba, axis=1)] == y).mean())
        report = model.report
        return {
            "strategy": spec,
            "finetune_accuracy": accuracy,
            "fit_seconds": fit_s,
            "load_before": load,
            "load_after": load_average(),
            "epochs_run": len(report.history) if report and report.history else None,
        }
    finally:
        tmp.cleanup()
        if saved is None:
            os.environ.pop("HEADSTART_CACHE", None)
        else:
            os.environ["HEADSTART_CACHE"] = saved


def run_dataset(spec: DatasetSpec, args: argparse.Namespace, shared_onnx: Path) -> dict[str, Any]:
    from scipy.special import softmax

    from headstart.backbones import get_backbone
    from headstart.data import labels_per_class, load_dataset
    from headstart.features import FeatureStore, extract_features, extract_features_at_cuts
    from headstart.runtime import FrozenRunner, MultiCutRunner
    from headstart.strategies.auto import decide
    from headstart.strategies.linear import LinearHead
    from headstart.transferability import METRICS, ScoreRow, resolve_cuts, score_features

    path = args.data_root / spec.relpath
    require_data(path, spec.name)
    ds = load_dataset(str(path))
    max_test = args.max_test_image if spec.modality == "image" else args.max_test_text
    pool, test_idx, notes = make_splits(ds, spec, max_test)
    n_labels = args.labels if spec.modality == "image" else (args.text_labels or args.labels)
    train = replace(labels_per_class(pool, n_labels, seed=args.seed, classes=ds.classes), splits=None)
    test = replace(ds.subset(test_idx.tolist()), splits=None)
    names = (args.image_backbones if spec.modality == "image" else args.text_backbones).split(",")
    cuts_spec = args.image_cuts if spec.modality == "image" else args.text_cuts
    candidates: list[dict[str, Any]] = []
    per_backbone: list[dict[str, Any]] = []
    for name in names:
        backbone = get_backbone(name)
        n = len(backbone.stages)
        cuts = resolve_cuts(backbone, cuts_spec if cuts_spec in ("all", "last") else cuts_spec.split(","))
        t0 = time.perf_counter()  # one-time exports, timed apart: the multi-cut graph and each cut's graphs
        MultiCutRunner(backbone, cuts, threads=args.threads)
        for cut in cuts:
            FrozenRunner(backbone, stop=cut, pooled=True, threads=args.threads)
            if cut < n and not args.no_finetune:
                FrozenRunner(backbone, stop=cut, pooled=False, threads=args.threads)
        export_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            load = load_average()
            t0 = time.perf_counter()
            train_x = extract_features_at_cuts(
                backbone, train, cuts, store=FeatureStore(a), threads=args.threads, progress=False
            )
            one_pass_s = time.perf_counter() - t0
            t0 = time.perf_counter()  # the old way, for comparison: one forward pass per cut
            for cut in cuts:
                extract_features(backbone, train, store=FeatureStore(b), threads=args.threads, progress=False, stop=cut)
            per_cut_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            test_x = extract_features_at_cuts(
                backbone, test, cuts, store=FeatureStore(a), threads=args.threads, progress=False
            )
            test_s = time.perf_counter() - t0
        per_backbone.append(
            {
                "backbone": backbone.name,
                "cuts": cuts,
                "export_seconds": export_s,
                "train_one_pass_seconds": one_pass_s,
                "train_per_cut_seconds": per_cut_s,
                "test_one_pass_seconds": test_s,
                "load": load,
            }
        )
        head = backbone.source_head
        for cut in cuts:
            xtr, xte = train_x[cut], test_x[cut]
            ytr = np.array([train.labels[i] for i in xtr.kept])
            yte = np.array([test.labels[i] for i in xte.kept])
            proba = None
            if head is not None and cut == n:
                proba = softmax(xtr.features.astype(np.float64) @ head.weight.T + head.bias, axis=1)
            scores, score_s = score_features(xtr.features, ytr, proba, METRICS, seed=args.seed)
            t0 = time.perf_counter()
            probe = LinearHead(seed=args.seed).fit(xtr.features, ytr)
            probe_s = time.perf_counter() - t0
            row = {
                "backbone": backbone.name,
                "cut": cut,
                "stage": backbone.stages[cut - 1],
                "n_stages": n,
                "feature_dim": int(xtr.features.shape[1]),
                "scores": {k: (None if np.isnan(v) else v) for k, v in scores.items()},
                "score_seconds": score_s,
                "probe_accuracy": float((probe.predict(xte.features) == yte).mean()),
                "probe_fit_seconds": probe_s,
                "finetune_accuracy": None,
            }
            if not args.no_finetune:
                row.update(fit_candidate(name, cut, n, train, test, args, shared_onnx))
            candidates.append(row)
            print(
                f"  {spec.name} {backbone.name}@{row['stage']} probe={row['probe_accuracy']:.3f} "
                f"ft={_f(row['finetune_accuracy'], 3)} ({row.get('strategy')}, {_f(row.get('fit_seconds'), 1)}s, "
                f"load {row.get('load_before')}) "
                + " ".join(f"{k}={v:.3f}" for k, v in scores.items() if not np.isnan(v)),
                flush=True,
            )
    ft = [c["finetune_accuracy"] for c in candidates]
    probe_acc = [c["probe_accuracy"] for c in candidates]
    vs_ft = {m: correlations([c["scores"][m] for c in candidates], ft) for m in METRICS}
    vs_probe = {m: correlations([c["scores"][m] for c in candidates], probe_acc) for m in METRICS}
    features_s = sum(b["train_one_pass_seconds"] for b in per_backbone)
    scores_s = {m: sum(c["score_seconds"][m] for c in candidates) for m in METRICS}
    rank_s = {m: features_s + scores_s[m] for m in METRICS}
    rank_s["all"] = features_s + sum(scores_s.values())
    fit_all = None if args.no_finetune else sum(c["fit_seconds"] for c in candidates)
    loads = [x for c in candidates for x in (c.get("load_before"), c.get("load_after")) if x]
    loads += [b["load"] for b in per_backbone if b["load"]]
    rows = [
        ScoreRow(
            c["backbone"],
            c["cut"],
            c["stage"],
            c["n_stages"],
            c["feature_dim"],
            len(train),
            {k: (float("nan") if v is None else v) for k, v in c["scores"].items()},
            0.0,
            {},
        )
        for c in candidates
    ]
    decision = decide(rows, min(train.class_counts().values()), None)
    return {
        "dataset": spec.name,
        "n_train": len(train),
        "n_test": len(test),
        "labels_per_class": n_labels,
        "max_epochs": args.max_epochs,
        "notes": notes,
        "candidates": candidates,
        "per_backbone": per_backbone,
        "correlation_vs_finetune": vs_ft,
        "correlation_vs_probe": vs_probe,
        "cost": {
            "rank_features_one_pass_seconds": features_s,
            "per_cut_extract_seconds": sum(b["train_per_cut_seconds"] for b in per_backbone),
            "score_seconds_per_metric": scores_s,
            "rank_seconds_by_metric": rank_s,
            "finetune_every_candidate_seconds": fit_all,
            "rank_fraction_of_finetune_by_metric": None if not fit_all else {m: v / fit_all for m, v in rank_s.items()},
            "probe_every_candidate_seconds": features_s
            + sum(b["test_one_pass_seconds"] for b in per_backbone)
            + sum(c["probe_fit_seconds"] for c in candidates),
            "export_seconds_total": sum(b["export_seconds"] for b in per_backbone),
            "load_range": f"{min(x[0] for x in loads):.1f}-{max(x[0] for x in loads):.1f}" if loads else None,
        },
        "auto_decision_at_this_budget": decision.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        report(args.report or [args.out])
        return 0
    from headstart.cache import cache_dir

    shared_onnx = cache_dir("onnx")  # the warm export folder of the HEADSTART_CACHE this run started with
    started = time.perf_counter()
    results = []
    header = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()}}
    for name in [d for d in args.datasets.split(",") if d]:
        print(f"{name}:", flush=True)
        results.append(run_dataset(DATASETS[name], args, shared_onnx))
        r = results[-1]
        for m in r["correlation_vs_finetune"]:
            print(f"  {m:7s} vs finetune {r['correlation_vs_finetune'][m]}  vs probe {r['correlation_vs_probe'][m]}")
        print(f"  cost: {r['cost']}", flush=True)
        write_json(args.out, {**header, "results": results, "partial": True})
    payload = {
        **header,
        "results": results,
        "load_average_at_end": load_average(),
        "wall_seconds": time.perf_counter() - started,
    }
    write_json(args.out, payload)
    print(f"wrote {args.out} in {payload['wall_seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
