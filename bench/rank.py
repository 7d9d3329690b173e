"""Do transferability scores rank (backbone, cut) candidates the way the accuracy they reach does, and cheaply?

For each dataset: one fixed test split (capped by a seeded stratified subsample) and, per seed in `--seeds`, one
seeded draw of `--labels` labels per class from the training pool. For every candidate (backbone, cut stage) and
draw:

- ranking: pooled features of the training draw at every cut of a backbone from ONE forward pass
  (`extract_features_at_cuts`, one ONNX graph with a pooled output per cut), then LogME, kNN, H-score, TransRate,
  NCE, LEEP (and two diagnostic TransRate variants, see `EXTRA_SCORES`);
- ground truth 1, **fine-tuning**: the package's own fit from that cut, `partial:K` with the K = n - cut stages
  after the cut trainable (the default recipe: probe-initialised head, AdamW, early stopping on a 20 % hold-out
  when the draw has >= 20 items; `--max-epochs`, default: the strategy's own 15), and `linear` at the last cut;
  accuracy on the test split;
- ground truth 2, linear probe: `LinearHead` (logreg, C by CV) on the training features at that cut.

`--finetune-strategy SPEC` fits every candidate with one fixed recipe instead (e.g. `partial:2`, `full`), whatever its
cut. `--candidates backbones` is the setting the LogME paper addresses, ranking pretrained models for fine-tuning at
a fixed recipe: each backbone (e.g. `efficientnet-lite0@128`, `efficientnet-lite0@192`, ...) is one candidate,
scored at its last cut (the pooled features before the head), and fine-tuned with `--finetune-strategy` (default
`partial:2`, the product's default fine-tune).

Per metric: Spearman and Kendall correlation of score vs each ground truth across candidates, whether its top
pick is the best, and the accuracy lost by trusting it; with several seeds, on the per-candidate MEANS of the
scores and of the accuracies over the draws (denoised ground truth), plus the per-seed correlations (spread).
Cost: ranking with one metric (the shared one-pass features + that metric's scores) as a fraction of fitting
every candidate (the sum of the strategies' `fit` wall times, each with an empty feature store so it pays its
own extraction). ONNX exports are one-time and
warmed before anything is timed. The 1-minute load average is recorded next to every timed figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
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
    p.add_argument(
        "--candidates",
        choices=("cuts", "backbones"),
        default="cuts",
        help="cuts: every (backbone, cut), fine-tuned with partial:K from the cut; backbones: one candidate per "
        "backbone at its last cut, fine-tuned with --finetune-strategy (default partial:2)",
    )
    p.add_argument(
        "--finetune-strategy",
        default=None,
        help="one fixed fine-tuning recipe for every candidate, e.g. partial:2 or full (default: partial:K from "
        "each cut; with --candidates backbones: partial:2)",
    )
    p.add_argument("--seed", type=int, default=0, help="one draw (ignored when --seeds is given)")
    p.add_argument("--seeds", default=None, help="comma-separated draw seeds, e.g. 0,1,2: means over the draws")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "rank-finetune.json")
    p.add_argument("--report", type=Path, nargs="*", help="print Markdown tables from these JSON results and exit")
    p.add_argument("--merge", type=Path, nargs="+", help="pool the draws of these results files into --out and exit")
    args = p.parse_args(argv)
    if args.candidates == "backbones":
        args.image_cuts = args.text_cuts = "last"
        args.finetune_strategy = args.finetune_strategy or "partial:2"
    return args


def finetune_spec(args: argparse.Namespace, n_stages: int, cut: int) -> str:
    """A candidate's fine-tuning: the fixed recipe, else partial:K from its cut (linear at the last cut)."""
    if args.finetune_strategy:
        return str(args.finetune_strategy)
    k = n_stages - cut
    return "linear" if k == 0 else f"partial:{k}"


def _f(value: Any, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cell(c: dict[str, Any] | None, per_seed: list[dict[str, Any]] | None = None) -> str:
    if c is None or c["spearman"] is None:
        return "n/a"
    pick = "✓" if c["top1"] else f"✗ −{_f(c['regret'], 3)}"
    text = f"{_f(c['spearman'])} / {_f(c['kendall'])} {pick}" + ("" if c["n"] > 3 else f" (n={c['n']})")
    rhos = [x["spearman"] for x in per_seed or [] if x["spearman"] is not None]
    if len(rhos) > 1:
        text += f" [{min(rhos):.2f}..{max(rhos):.2f}]"
    return text


def report(paths: list[Path]) -> None:
    """Markdown tables (correlations per metric vs each ground truth, cost) from one or more results files."""
    import json

    from headstart.transferability import METRICS

    results = [r for p in paths for r in json.loads(p.read_text())["results"]]
    names = (*METRICS, *EXTRA_SCORES)
    for truth in ("finetune", "probe"):
        print(f"Ground truth: {truth} accuracy (cells: Spearman / Kendall on the means, top pick, [per-seed range])\n")
        print("| dataset (train/test, seeds) | candidates | best (mean acc) | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for r in results:
            key = f"{truth}_accuracy"
            if r["candidates"][0].get(key) is None:
                continue
            best = max(r["candidates"], key=lambda c: c[key])
            per_seed = r.get(f"per_seed_correlation_vs_{truth}", {})
            cells = [_cell(r[f"correlation_vs_{truth}"].get(m), per_seed.get(m)) for m in names]
            fixed = f", {r['finetune_strategy']}" if r.get("finetune_strategy") else ""
            print(
                f"| {r['dataset']} ({r['n_train']}/{r['n_test']}, {len(r.get('seeds', [0]))}{fixed}) | "
                f"{len(r['candidates'])} | {best['backbone']}@{best['stage']} {best[key]:.3f} | "
                + " | ".join(cells)
                + " |"
            )
        print()
    print("Ground-truth reliability: Spearman between two draws' accuracies over the candidates (mean of pairs)\n")
    print("| dataset | seeds | finetune | probe |")
    print("|---|---|---|---|")
    for r in results:
        cells = [_f(reliability(r.get("per_seed_candidates", []), f"{t}_accuracy")) for t in ("finetune", "probe")]
        print(f"| {r['dataset']} | {len(r.get('seeds', [0]))} | " + " | ".join(cells) + " |")
    print()
    print("Which cut within one backbone (Spearman on the means, averaged over backbones; layer selection)\n")
    print("| dataset | ground truth | backbones x cuts | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for r in results:
        for truth in ("finetune", "probe"):
            cells = [within_backbone(r["candidates"], m, f"{truth}_accuracy") for m in names]
            if r["candidates"][0].get(f"{truth}_accuracy") is None:
                continue
            shape = f"{len({c['backbone'] for c in r['candidates']})} x {len({c['cut'] for c in r['candidates']})}"
            print(f"| {r['dataset']} | {truth} | {shape} | " + " | ".join(_f(x) for x in cells) + " |")
    print()
    backbone_runs = [r for r in results if all(c["cut"] == c["n_stages"] for c in r["candidates"])]
    if backbone_runs:  # one candidate per backbone, at its last cut (--candidates backbones)
        report_backbone_groups(backbone_runs, names)
    for r in results:
        print(f"{r['dataset']}: per candidate, mean over seeds {r.get('seeds', [0])} (sd across seeds)\n")
        print("| candidate | strategy | finetune acc | probe acc | " + " | ".join(names) + " |")
        print("|---|---|---|---|" + "---|" * len(names))
        for c in r["candidates"]:
            ft = (
                "—"
                if c.get("finetune_accuracy") is None
                else (f"{c['finetune_accuracy']:.3f} ({_f(c.get('finetune_accuracy_sd'), 3)})")
            )
            scores = [_f(c["scores"].get(m), 3) for m in names]
            print(
                f"| {c['backbone']}@{c['stage']} | {c.get('strategy', '—')} | {ft} | "
                f"{c['probe_accuracy']:.3f} ({_f(c.get('probe_accuracy_sd'), 3)}) | " + " | ".join(scores) + " |"
            )
        print()
    print(
        "| dataset | ranking s: one-pass features + LogME / + kNN / + H-score / + TransRate / all | "
        "per-cut features s (old) | fine-tune every candidate s | fraction (LogME / kNN / H-score / TransRate / all) | "
        "probe every candidate s | load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cost"]
        rk = c["rank_seconds_by_metric"]
        fr = c["rank_fraction_of_finetune_by_metric"] or {}
        pct = " / ".join(
            "—" if fr.get(m) is None else f"{100 * fr[m]:.1f} %" for m in ("logme", "knn", "hscore", "transrate", "all")
        )
        print(
            f"| {r['dataset']} | {rk['logme']:.1f} / {rk['knn']:.1f} / {rk['hscore']:.1f} / "
            f"{_f(rk.get('transrate'), 1)} / {rk['all']:.1f} | "
            f"{c['per_cut_extract_seconds']:.1f} | {_f(c['finetune_every_candidate_seconds'], 1)} | {pct} | "
            f"{c['probe_every_candidate_seconds']:.1f} | {c['load_range']} |"
        )
    cpu_runs = [r for r in results if r["cost"].get("rank_fraction_of_finetune_cpu_by_metric")]
    if cpu_runs:
        print("\nSame in CPU seconds (process_time of the 1-thread process: features and fits; scores in wall s)\n")
        print("| dataset | ranking CPU s (LogME / kNN / all) | fine-tune all CPU s | fraction (LogME / all) |")
        print("|---|---|---|---|")
    for r in cpu_runs:
        c = r["cost"]
        rk, fr = c["rank_cpu_seconds_by_metric"], c["rank_fraction_of_finetune_cpu_by_metric"]
        print(
            f"| {r['dataset']} | {rk['logme']:.1f} / {rk['knn']:.1f} / {rk['all']:.1f} | "
            f"{c['finetune_every_candidate_cpu_seconds']:.1f} | {100 * fr['logme']:.1f} % / {100 * fr['all']:.1f} % |"
        )


def report_backbone_groups(results: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    """Backbone candidates: which input size for one architecture, which architecture at one input size."""
    print("Within groups of backbones (Spearman on the means, averaged over the groups)\n")
    print("| dataset | ground truth | question (groups x size) | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    questions = {"which input size, per architecture": architecture, "which architecture, per input size": resolution}
    for r in results:
        for truth in ("finetune", "probe"):
            if r["candidates"][0].get(f"{truth}_accuracy") is None:
                continue
            for question, group in questions.items():
                groups = [group(c) for c in r["candidates"]]
                shape = f"{len(set(groups))} x {max(map(groups.count, groups))}"
                cells = [within_backbone(r["candidates"], m, f"{truth}_accuracy", group) for m in names]
                print(f"| {r['dataset']} | {truth} | {question} ({shape}) | " + " | ".join(_f(x) for x in cells) + " |")
    print()


def reliability(per_seed: list[dict[str, Any]], key: str) -> float | None:
    """Mean Spearman between the accuracy vectors of every pair of draws: how reproducible the ground truth is."""
    from itertools import combinations

    seeds = list(dict.fromkeys(c["seed"] for c in per_seed))
    by_seed = {s: [c.get(key) for c in per_seed if c["seed"] == s] for s in seeds}
    rhos = [correlations(by_seed[a], by_seed[b])["spearman"] for a, b in combinations(seeds, 2)]
    rhos = [r for r in rhos if r is not None]
    return float(np.mean(rhos)) if rhos else None


def architecture(candidate: dict[str, Any]) -> str:
    """`efficientnet-lite0@192` -> `efficientnet-lite0`: the network whatever its input size."""
    return str(candidate["backbone"]).partition("@")[0]


def resolution(candidate: dict[str, Any]) -> str:
    """`efficientnet-lite0@192` -> `192`; a name without `@` runs at its native size."""
    return str(candidate["backbone"]).partition("@")[2] or "native"


def within_backbone(
    candidates: list[dict[str, Any]], metric: str, key: str, group: Callable[[dict[str, Any]], str] | None = None
) -> float | None:
    """Mean over groups (default: backbones) of the Spearman correlation between `metric` and `key` in the group."""
    group = group or (lambda c: str(c["backbone"]))
    rhos = []
    for name in dict.fromkeys(group(c) for c in candidates):
        rows = [c for c in candidates if group(c) == name]
        rho = correlations([c["scores"].get(metric) for c in rows], [c.get(key) for c in rows])["spearman"]
        if rho is not None and not np.isnan(rho):
            rhos.append(rho)
    return float(np.mean(rhos)) if rhos else None


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
    backbone_name: str,
    cut: int,
    n_stages: int,
    train: Any,
    test: Any,
    args: argparse.Namespace,
    shared_onnx: Path,
    seed: int,
) -> dict[str, Any]:
    """Fit with `finetune_spec` (partial:K from `cut`, linear at the last, or the fixed recipe), empty store."""
    from headstart.backbones import get_backbone
    from headstart.config import FitConfig
    from headstart.strategies import FitInputs, resolve_strategy

    spec = finetune_spec(args, n_stages, cut)
    strategy, params = resolve_strategy(spec)
    saved = os.environ.get("HEADSTART_CACHE")
    tmp = fresh_cache(shared_onnx)
    try:
        with tempfile.TemporaryDirectory() as out:
            config = FitConfig(
                backbone=backbone_name,
                strategy=spec,
                seed=seed,
                threads=args.threads,
                out=str(Path(out) / "model"),
                progress=False,
                max_epochs=args.max_epochs if spec != "linear" else None,
            )
            load = load_average()
            t0, c0 = time.perf_counter(), time.process_time()
            model = strategy.fit(
                FitInputs(
                    train=train, backbone=get_backbone(backbone_name), config=config, params=params, validation=None
                )
            )
            fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
            pred = model.predict_dataset(test, cache=True)
        y = np.array([test.labels[i] for i in pred.kept])
        labels = np.array(model.labels)
        accuracy = float((labels[np.argmax(pred.proba, axis=1)] == y).mean())
        report = model.report
        return {
            "strategy": spec,
            "finetune_accuracy": accuracy,
            "fit_seconds": fit_s,
            "fit_cpu_seconds": fit_cpu,
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


def _transrate_uncentred(features: np.ndarray, labels: np.ndarray) -> float:
    """The authors' 10-line TransRate: classes NOT centred on their own means, all dimensions, unit-norm rows."""
    from headstart.transferability import _encode, coding_rate

    codes, k = _encode(labels)
    z = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    z = z - z.mean(axis=0)
    return coding_rate(z) - sum(np.mean(codes == c) * coding_rate(z[codes == c]) for c in range(k))


def _transrate_all_dims(features: np.ndarray, labels: np.ndarray) -> float:
    from headstart.transferability import transrate

    return transrate(features, labels, dim=None)


# diagnostic variants of TransRate, scored and correlated like the product's metrics but not offered by `rank`
EXTRA_SCORES = {"transrate_alldims": _transrate_all_dims, "transrate_uncentred": _transrate_uncentred}


def _mean(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _sd(values: list[float | None]) -> float | None:
    return None if len(values) < 2 or any(v is None for v in values) else float(np.std(values, ddof=1))


def score_draw(features: np.ndarray, labels: np.ndarray, proba: Any, seed: int) -> tuple[dict, dict]:
    """Every product metric and diagnostic variant on one candidate's training features (None when undefined)."""
    from headstart.transferability import METRICS, score_features

    scores, seconds = score_features(features, labels, proba, METRICS, seed=seed)
    for name, fn in EXTRA_SCORES.items():
        t0 = time.perf_counter()
        scores[name] = fn(np.asarray(features, dtype=np.float64), labels)
        seconds[name] = time.perf_counter() - t0
    return {k: (None if np.isnan(v) else float(v)) for k, v in scores.items()}, seconds


def aggregate(per_seed: list[dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """One row per (backbone, cut): scores and accuracies averaged over the draws, with their sd across draws."""
    out = []
    keys = list(dict.fromkeys((c["backbone"], c["cut"]) for c in per_seed))  # first-seen order
    for backbone, cut in keys:
        rows = [c for c in per_seed if (c["backbone"], c["cut"]) == (backbone, cut)]
        first = rows[0]
        names = first["scores"].keys()
        agg = {k: first[k] for k in ("backbone", "cut", "stage", "n_stages", "feature_dim")}
        agg["strategy"] = first.get("strategy")
        agg["scores"] = {m: _mean([r["scores"][m] for r in rows]) for m in names}
        agg["scores_sd"] = {m: _sd([r["scores"][m] for r in rows]) for m in names}
        for key in ("probe_accuracy", "finetune_accuracy"):
            agg[key] = _mean([r.get(key) for r in rows])
            agg[f"{key}_sd"] = _sd([r.get(key) for r in rows])
        agg["seeds"] = [r["seed"] for r in rows]
        agg["fit_seconds"] = _mean([r.get("fit_seconds") for r in rows])
        out.append(agg)
    return out


def run_dataset(spec: DatasetSpec, args: argparse.Namespace, shared_onnx: Path) -> dict[str, Any]:
    from scipy.special import softmax

    from headstart.backbones import get_backbone
    from headstart.data import labels_per_class, load_dataset
    from headstart.feature_store import FeatureStore
    from headstart.features import extract_features, extract_features_at_cuts
    from headstart.runtime import FrozenRunner, MultiCutRunner
    from headstart.strategies import resolve_strategy
    from headstart.strategies.auto import decide
    from headstart.strategies.finetune import GradientStrategy
    from headstart.strategies.linear import LinearHead
    from headstart.transferability import ScoreRow, resolve_cuts

    path = args.data_root / spec.relpath
    require_data(path, spec.name)
    ds = load_dataset(str(path))
    max_test = args.max_test_image if spec.modality == "image" else args.max_test_text
    pool, test_idx, notes = make_splits(ds, spec, max_test)
    n_labels = args.labels if spec.modality == "image" else (args.text_labels or args.labels)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    trains = {
        seed: replace(labels_per_class(pool, n_labels, seed=seed, classes=ds.classes), splits=None) for seed in seeds
    }
    test = replace(ds.subset(test_idx.tolist()), splits=None)
    names = (args.image_backbones if spec.modality == "image" else args.text_backbones).split(",")
    cuts_spec = args.image_cuts if spec.modality == "image" else args.text_cuts
    per_seed: list[dict[str, Any]] = []
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
        if args.finetune_strategy and not args.no_finetune:  # the fixed recipe's frozen prefix, if it has one
            strategy, params = resolve_strategy(args.finetune_strategy)
            frozen = strategy.cut(backbone, params) if isinstance(strategy, GradientStrategy) else n
            if 0 < frozen < n:
                FrozenRunner(backbone, stop=frozen, pooled=False, threads=args.threads)
        export_s = time.perf_counter() - t0
        head = backbone.source_head
        with tempfile.TemporaryDirectory() as test_store:
            t0 = time.perf_counter()  # the fixed test split, once for all draws
            test_x = extract_features_at_cuts(
                backbone, test, cuts, store=FeatureStore(test_store), threads=args.threads, progress=False
            )
            test_s = time.perf_counter() - t0
            for seed, train in trains.items():
                with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                    load = load_average()
                    t0, c0 = time.perf_counter(), time.process_time()
                    train_x = extract_features_at_cuts(
                        backbone, train, cuts, store=FeatureStore(a), threads=args.threads, progress=False
                    )
                    one_pass_s, one_pass_cpu = time.perf_counter() - t0, time.process_time() - c0
                    per_cut_s = None
                    if seed == seeds[0] and len(cuts) > 1:  # the old way, one forward pass per cut (first draw only)
                        t0 = time.perf_counter()
                        for cut in cuts:
                            extract_features(
                                backbone, train, store=FeatureStore(b), threads=args.threads, progress=False, stop=cut
                            )
                        per_cut_s = time.perf_counter() - t0
                per_backbone.append(
                    {
                        "backbone": backbone.name,
                        "seed": seed,
                        "cuts": cuts,
                        "export_seconds": export_s if seed == seeds[0] else 0.0,
                        "train_one_pass_seconds": one_pass_s,
                        "train_one_pass_cpu_seconds": one_pass_cpu,
                        "train_per_cut_seconds": per_cut_s,
                        "test_one_pass_seconds": test_s if seed == seeds[0] else 0.0,
                        "load": load,
                    }
                )
                for cut in cuts:
                    xtr, xte = train_x[cut], test_x[cut]
                    ytr = np.array([train.labels[i] for i in xtr.kept])
                    yte = np.array([test.labels[i] for i in xte.kept])
                    proba = None
                    if head is not None and cut == n:
                        proba = softmax(xtr.features.astype(np.float64) @ head.weight.T + head.bias, axis=1)
                    scores, score_s = score_draw(xtr.features, ytr, proba, seed)
                    t0 = time.perf_counter()
                    probe = LinearHead(seed=seed).fit(xtr.features, ytr)
                    probe_s = time.perf_counter() - t0
                    row = {
                        "backbone": backbone.name,
                        "seed": seed,
                        "cut": cut,
                        "stage": backbone.stages[cut - 1],
                        "n_stages": n,
                        "feature_dim": int(xtr.features.shape[1]),
                        "scores": scores,
                        "score_seconds": score_s,
                        "probe_accuracy": float((probe.predict(xte.features) == yte).mean()),
                        "probe_fit_seconds": probe_s,
                        "finetune_accuracy": None,
                    }
                    if not args.no_finetune:
                        row.update(fit_candidate(name, cut, n, train, test, args, shared_onnx, seed))
                    per_seed.append(row)
                    print(
                        f"  {spec.name} seed={seed} {backbone.name}@{row['stage']} probe={row['probe_accuracy']:.3f} "
                        f"ft={_f(row['finetune_accuracy'], 3)} ({row.get('strategy')}, "
                        f"{_f(row.get('fit_seconds'), 1)}s, load {row.get('load_before')}) "
                        + " ".join(f"{k}={v:.3f}" for k, v in scores.items() if v is not None),
                        flush=True,
                    )
    first = [c for c in per_seed if c["seed"] == seeds[0]]
    rows = [
        ScoreRow(
            c["backbone"],
            c["cut"],
            c["stage"],
            c["n_stages"],
            c["feature_dim"],
            len(trains[seeds[0]]),
            {k: (float("nan") if v is None else v) for k, v in c["scores"].items()},
            0.0,
            {},
        )
        for c in first
    ]
    decision = decide(rows, min(trains[seeds[0]].class_counts().values()), None)
    return {
        "dataset": spec.name,
        "n_train": len(trains[seeds[0]]),
        "n_test": len(test),
        "labels_per_class": n_labels,
        "max_epochs": args.max_epochs,
        "candidate_mode": args.candidates,
        "finetune_strategy": None if args.no_finetune else args.finetune_strategy,
        "notes": notes,
        **summarise(per_seed, per_backbone),
        "auto_decision_at_this_budget": decision.to_dict(),
    }


def _first_per_backbone(per_backbone: list[dict[str, Any]], key: str) -> float:
    """Sum over backbones of the first non-zero measurement of `key` (timed once per backbone and run)."""
    seen: dict[str, float] = {}
    for b in per_backbone:
        if b.get(key) and b["backbone"] not in seen:
            seen[b["backbone"]] = b[key]
    return sum(seen.values())


def _total(values: list[float | None]) -> float | None:
    """Sum, or None when any value is missing (results written before CPU seconds were recorded)."""
    return None if not values or any(v is None for v in values) else float(sum(values))


def summarise(per_seed: list[dict[str, Any]], per_backbone: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over draws, correlations on the means and per draw, and the cost, from the per-draw rows."""
    seeds = list(dict.fromkeys(c["seed"] for c in per_seed))
    candidates = aggregate(per_seed, seeds)
    score_names = list(candidates[0]["scores"])
    out: dict[str, Any] = {"seeds": seeds, "candidates": candidates, "per_seed_candidates": per_seed}
    for truth in ("finetune", "probe"):
        acc = [c[f"{truth}_accuracy"] for c in candidates]
        out[f"correlation_vs_{truth}"] = {
            m: correlations([c["scores"][m] for c in candidates], acc) for m in score_names
        }
        out[f"per_seed_correlation_vs_{truth}"] = {
            m: [
                correlations(
                    [c["scores"][m] for c in per_seed if c["seed"] == seed],
                    [c[f"{truth}_accuracy"] for c in per_seed if c["seed"] == seed],
                )
                for seed in seeds
            ]
            for m in score_names
        }
    features_s = sum(b["train_one_pass_seconds"] for b in per_backbone)
    scores_s = {m: sum(c["score_seconds"][m] for c in per_seed) for m in score_names}
    rank_s = {m: features_s + scores_s[m] for m in score_names}
    rank_s["all"] = features_s + sum(v for m, v in scores_s.items() if m not in EXTRA_SCORES)
    finetuned = all(c.get("fit_seconds") is not None for c in per_seed)
    fit_all = sum(c["fit_seconds"] for c in per_seed) if finetuned else None
    features_cpu = _total([b.get("train_one_pass_cpu_seconds") for b in per_backbone])
    fit_cpu = _total([c.get("fit_cpu_seconds") for c in per_seed])
    rank_cpu = None if features_cpu is None else {m: features_cpu + scores_s[m] for m in score_names}
    if rank_cpu is not None:
        rank_cpu["all"] = rank_s["all"] - features_s + features_cpu
    loads = [x for c in per_seed for x in (c.get("load_before"), c.get("load_after")) if x]
    loads += [b["load"] for b in per_backbone if b["load"]]
    out["per_backbone"] = per_backbone
    out["cost"] = {
        "rank_features_one_pass_seconds": features_s,
        "per_cut_extract_seconds": _first_per_backbone(per_backbone, "train_per_cut_seconds"),
        "per_cut_note": "per-cut extraction timed on one draw only; one-pass, scores and fits summed over draws",
        "score_seconds_per_metric": scores_s,
        "rank_seconds_by_metric": rank_s,
        "finetune_every_candidate_seconds": fit_all,
        "rank_fraction_of_finetune_by_metric": None if not fit_all else {m: v / fit_all for m, v in rank_s.items()},
        "probe_every_candidate_seconds": features_s
        + _first_per_backbone(per_backbone, "test_one_pass_seconds") * len(seeds)
        + sum(c["probe_fit_seconds"] for c in per_seed),
        "export_seconds_total": _first_per_backbone(per_backbone, "export_seconds"),
        "cpu_note": "CPU seconds (process_time) of features and fits; metric scores are wall seconds (<0.1 s)",
        "rank_cpu_seconds_by_metric": rank_cpu,
        "finetune_every_candidate_cpu_seconds": fit_cpu,
        "rank_fraction_of_finetune_cpu_by_metric": None
        if not (fit_cpu and rank_cpu)
        else {m: v / fit_cpu for m, v in rank_cpu.items()},
        "load_range": f"{min(x[0] for x in loads):.1f}-{max(x[0] for x in loads):.1f}" if loads else None,
    }
    return out


def merge(paths: list[Path], out: Path) -> None:
    """Pool the draws of the same dataset from several results files (distinct seeds) and recompute the summary."""
    import json

    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        for r in json.loads(path.read_text())["results"]:
            if "per_seed_candidates" not in r:
                raise SystemExit(f"{path}: {r['dataset']} has no per-seed rows (written before --seeds); re-run it")
            if r["dataset"] not in merged:
                merged[r["dataset"]] = {**r, "merged_from": [str(path)]}
                continue
            m = merged[r["dataset"]]
            clash = set(m["seeds"]) & set(r["seeds"])
            if clash or (m["n_train"], m["n_test"]) != (r["n_train"], r["n_test"]):
                raise SystemExit(f"{path}: {r['dataset']} repeats seeds {sorted(clash)} or has another split size")
            if m.get("finetune_strategy") != r.get("finetune_strategy"):
                default = "partial:K from each cut"
                raise SystemExit(
                    f"{path}: {r['dataset']} was fine-tuned with {r.get('finetune_strategy') or default}, the files "
                    f"before it with {m.get('finetune_strategy') or default}; merge results of one recipe only"
                )
            m["merged_from"].append(str(path))
            m.update(
                summarise(m["per_seed_candidates"] + r["per_seed_candidates"], m["per_backbone"] + r["per_backbone"])
            )
    write_json(out, {"merged_from": [str(p) for p in paths], "results": list(merged.values())})
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        report(args.report or [args.out])
        return 0
    if args.merge:
        merge(args.merge, args.out)
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
