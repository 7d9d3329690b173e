"""Do transferability scores rank (backbone, cut) candidates the way the accuracy they reach does?

For each dataset: one fixed test split (capped by a seeded stratified subsample) and one seeded draw of
`--labels` labels per class from the training pool. For every candidate (backbone, cut stage):

- ranking: pooled features of the training draw at that cut, then LogME, kNN, H-score, NCE, LEEP;
- ground truth: a linear probe (`LinearHead`, logreg with C by CV) on the same training features,
  accuracy on the test split. This is a cheap proxy for "fine-tuning runs": it says which frozen features
  transfer best, not which network fine-tunes best.

Per metric: Spearman and Kendall correlation of score vs probe accuracy across candidates, whether its
top pick is the best probe, and the accuracy lost by trusting it. Cost: ranking (train features + scores)
as a fraction of fitting every candidate (train + test features + probe fit); ONNX exports are one-time and
reported apart. Features go to a fresh FeatureStore so extraction is really timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
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
    p.add_argument("--datasets", default="flowers,mnist,sst2,banking77")
    p.add_argument("--image-backbones", default="efficientnet-lite0,efficientnet-lite1,efficientnet-lite2")
    p.add_argument("--image-cuts", default="4,6,8,9", help="stage indices (efficientnet: 9 stages)")
    p.add_argument("--text-backbones", default="minilm-l6")
    p.add_argument("--text-cuts", default="all")
    p.add_argument("--labels", type=int, default=20, help="labels per class in the training draw")
    p.add_argument("--max-test-image", type=int, default=500)
    p.add_argument("--max-test-text", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "rank.json")
    p.add_argument("--features", type=Path, default=None,
                   help="FeatureStore folder (default: a fresh temporary one, so extraction is really timed)")
    p.add_argument("--report", type=Path, nargs="*", help="print Markdown tables from these JSON results and exit")
    return p.parse_args(argv)


def _f(value: Any, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(paths: list[Path]) -> None:
    """Markdown tables (correlations per metric, cost) from one or more results files."""
    import json

    from headstart.transferability import METRICS

    results = [r for p in paths for r in json.loads(p.read_text())["results"]]
    print("| dataset (train/test) | candidates | best probe | " + " | ".join(METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for r in results:
        best = max(r["candidates"], key=lambda c: c["probe_accuracy"])
        cells = []
        for m in METRICS:
            c = r["correlation_all_cuts"][m]
            cells.append("n/a" if c["spearman"] is None else
                         f"{_f(c['spearman'])} / {_f(c['kendall'])} {'✓' if c['top1'] else '✗'} (−{_f(c['regret'], 3)}, n={c['n']})")
        print(f"| {r['dataset']} ({r['n_train']}/{r['n_test']}) | {len(r['candidates'])} | "
              f"{best['backbone']}@{best['stage']} {best['probe_accuracy']:.3f} | " + " | ".join(cells) + " |")
    print()
    print("| dataset | rank s (train feats + all scores) | fit-every-candidate s | fraction | scores only s "
          "(logme / knn / hscore) | probe fits s | exports s (one-time) | auto decision |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cost"]
        s = c["score_seconds_per_metric"]
        d = r["auto_decision_at_this_budget"]
        print(f"| {r['dataset']} | {c['rank_seconds']:.1f} | {c['fit_every_candidate_seconds']:.1f} | "
              f"{100 * c['rank_fraction']:.0f} % | {s['logme']:.2f} / {s['knn']:.2f} / {s['hscore']:.2f} | "
              f"{c['probe_fit_seconds_total']:.1f} | {c['export_seconds_total']:.0f} | "
              f"{d['strategy']} on {d['backbone']} ({d['rule']}) |")


def correlations(scores: list[float], accuracy: list[float]) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    pairs = [(s, a) for s, a in zip(scores, accuracy, strict=True) if s is not None and not np.isnan(s)]
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


def run_dataset(spec: DatasetSpec, args: argparse.Namespace, store: Any) -> dict[str, Any]:
    from headstart.backbones import get_backbone
    from headstart.data import labels_per_class, load_dataset
    from headstart.features import extract_features
    from headstart.runtime import FrozenRunner
    from headstart.strategies.auto import decide
    from headstart.strategies.linear import LinearHead
    from headstart.transferability import METRICS, ScoreRow, resolve_cuts, score_features

    path = args.data_root / spec.relpath
    require_data(path, spec.name)
    ds = load_dataset(str(path))
    max_test = args.max_test_image if spec.modality == "image" else args.max_test_text
    pool, test_idx, notes = make_splits(ds, spec, max_test)
    train = labels_per_class(pool, args.labels, seed=args.seed, classes=ds.classes)
    test = ds.subset(test_idx.tolist())
    names = (args.image_backbones if spec.modality == "image" else args.text_backbones).split(",")
    cuts_spec = args.image_cuts if spec.modality == "image" else args.text_cuts
    candidates = []
    for name in names:
        backbone = get_backbone(name)
        cuts = resolve_cuts(backbone, cuts_spec if cuts_spec in ("all", "last") else cuts_spec.split(","))
        head = backbone.source_head
        for cut in cuts:
            t0 = time.perf_counter()
            FrozenRunner(backbone, stop=cut, pooled=True, threads=args.threads)  # one-time export, timed apart
            export_s = time.perf_counter() - t0
            xtr = extract_features(backbone, train, store=store, threads=args.threads, progress=False, stop=cut)
            ytr = np.array([train.labels[i] for i in xtr.kept])
            proba = None
            if head is not None and cut == len(backbone.stages):
                from scipy.special import softmax

                proba = softmax(xtr.features.astype(np.float64) @ head.weight.T + head.bias, axis=1)
            scores, score_s = score_features(xtr.features, ytr, proba, METRICS, seed=args.seed)
            xte = extract_features(backbone, test, store=store, threads=args.threads, progress=False, stop=cut)
            yte = np.array([test.labels[i] for i in xte.kept])
            t0 = time.perf_counter()
            probe = LinearHead(seed=args.seed).fit(xtr.features, ytr)
            fit_s = time.perf_counter() - t0
            accuracy = float((probe.predict(xte.features) == yte).mean())
            row = {
                "backbone": backbone.name,
                "cut": cut,
                "stage": backbone.stages[cut - 1],
                "n_stages": len(backbone.stages),
                "feature_dim": int(xtr.features.shape[1]),
                "scores": {k: (None if np.isnan(v) else v) for k, v in scores.items()},
                "score_seconds": score_s,
                "probe_accuracy": accuracy,
                "export_seconds": export_s,
                "train_extract_seconds": xtr.seconds,
                "test_extract_seconds": xte.seconds,
                "probe_fit_seconds": fit_s,
            }
            candidates.append(row)
            print(
                f"  {spec.name} {backbone.name}@{row['stage']} acc={accuracy:.3f} "
                + " ".join(f"{k}={v:.3f}" for k, v in scores.items() if not np.isnan(v))
                + f" (train feats {xtr.seconds:.1f}s, test feats {xte.seconds:.1f}s, fit {fit_s:.1f}s)",
                flush=True,
            )
    accuracy = [c["probe_accuracy"] for c in candidates]
    per_metric = {m: correlations([c["scores"][m] for c in candidates], accuracy) for m in METRICS}
    last = [c for c in candidates if c["cut"] == c["n_stages"]]
    per_metric_last = {
        m: correlations([c["scores"][m] for c in last], [c["probe_accuracy"] for c in last]) for m in METRICS
    }
    rank_s = sum(c["train_extract_seconds"] + sum(c["score_seconds"].values()) for c in candidates)
    fit_all_s = sum(c["train_extract_seconds"] + c["test_extract_seconds"] + c["probe_fit_seconds"] for c in candidates)
    scores_s = {m: sum(c["score_seconds"][m] for c in candidates) for m in METRICS}
    rows = [
        ScoreRow(c["backbone"], c["cut"], c["stage"], c["n_stages"], c["feature_dim"], len(train),
                 {k: (float("nan") if v is None else v) for k, v in c["scores"].items()}, 0.0, {})
        for c in candidates
    ]
    decision = decide(rows, min(train.class_counts().values()), None)
    return {
        "dataset": spec.name,
        "n_train": len(train),
        "n_test": len(test),
        "labels_per_class": args.labels,
        "notes": notes,
        "candidates": candidates,
        "correlation_all_cuts": per_metric,
        "correlation_last_cut_only": per_metric_last,
        "cost": {
            "rank_seconds": rank_s,
            "fit_every_candidate_seconds": fit_all_s,
            "rank_fraction": rank_s / fit_all_s if fit_all_s else None,
            "score_seconds_per_metric": scores_s,
            "probe_fit_seconds_total": sum(c["probe_fit_seconds"] for c in candidates),
            "export_seconds_total": sum(c["export_seconds"] for c in candidates),
        },
        "auto_decision_at_this_budget": decision.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        report(args.report or [args.out])
        return 0
    from headstart.features import FeatureStore

    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="headstart-rank-bench-") as tmp:
        store = FeatureStore(args.features or tmp)
        for name in [d for d in args.datasets.split(",") if d]:
            print(f"{name}:", flush=True)
            results.append(run_dataset(DATASETS[name], args, store))
            r = results[-1]
            for m, c in r["correlation_all_cuts"].items():
                print(f"  {m:7s} spearman={c['spearman']} kendall={c['kendall']} top1={c['top1']} n={c['n']}")
            print(f"  cost: rank {r['cost']['rank_seconds']:.1f}s vs fit-all {r['cost']['fit_every_candidate_seconds']:.1f}s")
            write_json(args.out, {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()},
                                  "results": results, "partial": True})
    payload = {
        "machine": machine_info(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
        "load_average_at_end": load_average(),
        "wall_seconds": time.perf_counter() - started,
    }
    write_json(args.out, payload)
    print(f"wrote {args.out} in {payload['wall_seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
