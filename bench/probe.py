"""Accuracy per label budget: headstart's linear probe vs a classic non-transfer baseline, same splits.

For each dataset, one fixed test set (the split column where the data has one, else
`split_dataset(ds, test_size=0.2, seed=0)`; capped at `--max-test` items by a seeded stratified
subsample) and, for every budget n and seed s, the training set `labels_per_class(train_pool, n, seed=s)`.
On those identical splits:

* **probe** — `LinearHead(kind="logreg", seed=s)` (standardised features, class_weight="balanced",
  C chosen by stratified CV over the head's grid) on frozen backbone features from `extract_features`,
  cached in a persistent FeatureStore (`--cache`, default /tmp/headstart-bench-cache); only the union of
  the budget draws and the test set is extracted;
* **baseline** — texts: TF-IDF (word 1-2 grams + char_wb 2-5 grams, sublinear tf, fitted on the training
  draw only) + LogisticRegression; images: raw pixels (32x32 RGB, standardised on the training draw) +
  LogisticRegression. The LogisticRegression uses the same class_weight, C grid and CV rule as the probe.

    .venv/bin/python bench/probe.py
    .venv/bin/python bench/probe.py --datasets sms_spam,sst2 --budgets 5,20 --seeds 0,1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from goals import record_probe  # noqa: E402


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark dataset lives and how its test set is defined."""

    name: str
    relpath: str
    modality: str
    test_split: str | None  # split-column value used as test set; None → split_dataset(test_size=0.2, seed=0)


DATASETS: dict[str, DatasetSpec] = {
    "flowers": DatasetSpec("flowers", "flowers", "image", None),
    "sms_spam": DatasetSpec("sms_spam", "sms_spam/sms_spam.csv", "text", None),
    "sst2": DatasetSpec("sst2", "sst2/sst2.csv", "text", "validation"),
    "banking77": DatasetSpec("banking77", "banking77/banking77.csv", "text", "test"),
}
PIXEL_SIDE = 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--datasets", default=",".join(DATASETS), help=f"comma-separated subset of {','.join(DATASETS)} (default: all)"
    )
    p.add_argument("--budgets", default="5,20,100", help="labels per class (default 5,20,100)")
    p.add_argument("--seeds", default="0,1,2", help="seeds for the budget draws and heads (default 0,1,2)")
    p.add_argument(
        "--image-backbones",
        default="efficientnet-lite0,efficientnet-lite0@128",
        help="backbones probed on image data (default efficientnet-lite0,efficientnet-lite0@128)",
    )
    p.add_argument("--text-backbones", default="minilm-l6", help="backbones probed on text data (default minilm-l6)")
    p.add_argument("--max-test", type=int, default=2000, help="cap on test items per dataset (default 2000)")
    p.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"shared datasets folder (default {DEFAULT_DATA_ROOT})",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/headstart-bench-cache"),
        help="persistent FeatureStore root (default /tmp/headstart-bench-cache)",
    )
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    p.add_argument("--no-baseline", action="store_true", help="skip the non-transfer baseline")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "probe.json", help="JSON output path")
    return p.parse_args(argv)


# -- splits -------------------------------------------------------------------------------------------
def index_of_ids(ds: Any) -> dict[str, int]:
    """Map item id → index in the full dataset (ids must be unique)."""
    index = {item_id: i for i, item_id in enumerate(ds.ids)}
    if len(index) != len(ds):
        raise RuntimeError(f"{ds.source}: item ids are not unique; cannot map subsets back")
    return index


def make_splits(ds: Any, spec: DatasetSpec, max_test: int) -> tuple[Any, np.ndarray, list[str]]:
    """(train pool Dataset, test indices into `ds`, notes) for one dataset."""
    from headstart.data import split_dataset

    notes: list[str] = []
    index = index_of_ids(ds)
    if spec.test_split is None:
        splits = split_dataset(ds, test_size=0.2, seed=0)
        notes += splits.notes
        pool = splits.train
        test_idx = np.array([index[i] for i in splits.test.ids])
        notes.append(
            f"test = split_dataset(test_size=0.2, seed=0): {len(test_idx)} items; "
            f"budgets drawn from the other {len(pool)}"
        )
    else:
        assert ds.splits is not None, f"{spec.name} has no split column"
        pool = ds.subset([i for i, s in enumerate(ds.splits) if s == "train"])
        test_idx = np.array([i for i, s in enumerate(ds.splits) if s == spec.test_split])
        notes.append(
            f"test = rows with split=={spec.test_split!r}: {len(test_idx)} items; "
            f"budgets drawn from the {len(pool)} split=='train' rows"
        )
    if len(test_idx) > max_test:
        from sklearn.model_selection import train_test_split

        labels = np.array([ds.labels[i] for i in test_idx])
        test_idx, _ = train_test_split(test_idx, train_size=max_test, stratify=labels, random_state=0)
        notes.append(f"test capped at {max_test} items by a seeded stratified subsample (random_state=0)")
    return pool, np.sort(test_idx), notes


def draw_budgets(
    ds: Any, pool: Any, budgets: list[int], seeds: list[int]
) -> tuple[dict[tuple[int, int], np.ndarray], list[str]]:
    """`labels_per_class(pool, n, seed=s)` for every (n, s), as indices into the full dataset."""
    from headstart.data import labels_per_class

    index = index_of_ids(ds)
    draws: dict[tuple[int, int], np.ndarray] = {}
    notes: list[str] = []
    for s in seeds:
        for n in budgets:
            drawn = labels_per_class(pool, n, seed=s, classes=ds.classes)
            draws[(n, s)] = np.array([index[i] for i in drawn.ids])
            notes += [f"n={n} seed={s}: {note}" for note in drawn.notes]
    return draws, sorted(set(notes))


# -- heads --------------------------------------------------------------------------------------------
def fit_baseline_lr(X: Any, y: np.ndarray, seed: int) -> tuple[Any, float]:
    """LogisticRegression with the probe's rules: balanced weights, C by stratified CV over the same grid."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from headstart.strategies.linear import C_GRID, MAX_FOLDS, MIN_PER_CLASS_FOR_CV

    def make(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)

    smallest = int(min(np.unique(y, return_counts=True)[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if smallest >= MIN_PER_CLASS_FOR_CV:
            folds = StratifiedKFold(n_splits=min(MAX_FOLDS, smallest), shuffle=True, random_state=seed)
            search = GridSearchCV(make(1.0), {"C": list(C_GRID)}, cv=folds, scoring="neg_log_loss")
            search.fit(X, y)
            C = float(search.best_params_["C"])
        else:
            C = 1.0
        return make(C).fit(X, y), C


def text_baseline(
    train_texts: list[str], y: np.ndarray, test_texts: list[str], seed: int
) -> tuple[np.ndarray, list[str], float]:
    """TF-IDF word 1-2 + char_wb 2-5 grams + LogisticRegression; returns (test proba, classes, C)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    vec = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]
    )
    Xtr = vec.fit_transform(train_texts)
    model, C = fit_baseline_lr(Xtr, y, seed)
    return model.predict_proba(vec.transform(test_texts)), [str(c) for c in model.classes_], C


def pixel_baseline(Xtr: np.ndarray, y: np.ndarray, Xte: np.ndarray, seed: int) -> tuple[np.ndarray, list[str], float]:
    """Standardised raw pixels + LogisticRegression; returns (test proba, classes, C)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(Xtr)
    model, C = fit_baseline_lr(scaler.transform(Xtr), y, seed)
    return model.predict_proba(scaler.transform(Xte)), [str(c) for c in model.classes_], C


def pixels(ds: Any, indices: np.ndarray) -> dict[int, np.ndarray]:
    """Images at `indices` decoded, downscaled to 32x32 RGB, flattened to floats in [0, 1]."""
    from PIL import Image

    from headstart.batches import decode_item

    out = {}
    for i in indices:
        img = decode_item(ds, int(i)).resize((PIXEL_SIDE, PIXEL_SIDE), Image.Resampling.BILINEAR)
        out[int(i)] = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
    return out


def score(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 from headstart.metrics."""
    from headstart.metrics import classification_report

    rep = classification_report(y_true, proba, classes)
    return {"accuracy": rep.accuracy, "macro_f1": rep.macro_f1}


# -- one dataset --------------------------------------------------------------------------------------
def run_dataset(spec: DatasetSpec, args: argparse.Namespace, budgets: list[int], seeds: list[int]) -> dict[str, Any]:
    """All cells (method × budget × seed) of one dataset."""
    from headstart.backbones import get_backbone
    from headstart.data import load_dataset
    from headstart.feature_store import FeatureStore
    from headstart.features import extract_features
    from headstart.strategies.linear import LinearHead

    path = args.data_root / spec.relpath
    ds = load_dataset(path)
    pool, test_idx, notes = make_splits(ds, spec, args.max_test)
    draws, draw_notes = draw_budgets(ds, pool, budgets, seeds)
    notes += draw_notes
    needed = np.unique(np.concatenate([test_idx, *draws.values()]))
    labels = np.array(ds.labels)
    print(
        f"\n== {spec.name}: {len(ds)} items, {len(ds.classes)} classes; test {len(test_idx)}; "
        f"extracting {len(needed)} items (union of draws and test)",
        flush=True,
    )
    for note in notes:
        print(f"   note: {note}")

    backbones = [b for b in (args.image_backbones if spec.modality == "image" else args.text_backbones).split(",") if b]
    cells: list[dict[str, Any]] = []
    extraction: dict[str, Any] = {}
    for name in backbones:
        backbone = get_backbone(name)
        sub = ds.subset(needed.tolist())
        ext = extract_features(backbone, sub, store=FeatureStore(args.cache), threads=args.threads, progress=False)
        if ext.skipped:
            notes.append(f"{name}: {len(ext.skipped)} unreadable item(s) skipped, e.g. {ext.skipped[0].id}")
        row_of = {int(needed[k]): r for r, k in enumerate(ext.kept)}
        extraction[name] = {
            "n_items": len(needed),
            "n_computed": ext.n_computed,
            "n_cached": ext.n_cached,
            "seconds": round(ext.seconds, 1),
        }
        print(f"   {name}: features {ext.n_computed} computed, {ext.n_cached} cached, {ext.seconds:.1f}s", flush=True)
        te = np.array([i for i in test_idx if i in row_of])
        Xte = ext.features[[row_of[i] for i in te]]
        for (n, s), tr_all in draws.items():
            tr = np.array([i for i in tr_all if i in row_of])
            t0 = time.perf_counter()
            head = LinearHead(kind="logreg", seed=s).fit(ext.features[[row_of[i] for i in tr]], labels[tr])
            fit_s = time.perf_counter() - t0
            m = score(labels[te], head.predict_proba(Xte), [str(c) for c in head.classes_])
            cells.append(
                {
                    "method": f"probe:{name}",
                    "budget": n,
                    "seed": s,
                    "n_train": len(tr),
                    "n_test": len(te),
                    **m,
                    "C": head.C_,
                    "fit_seconds": round(fit_s, 2),
                }
            )
            print(
                f"   probe:{name:22s} n={n:<4d} seed={s} acc={m['accuracy']:.3f} f1={m['macro_f1']:.3f} "
                f"C={head.C_:g} fit {fit_s:.1f}s",
                flush=True,
            )

    if not args.no_baseline:
        method = "baseline:tfidf-logreg" if spec.modality == "text" else "baseline:pixels32-logreg"
        t0 = time.perf_counter()
        px = pixels(ds, needed) if spec.modality == "image" else None
        if px is not None:
            print(f"   pixels decoded in {time.perf_counter() - t0:.1f}s", flush=True)
        for (n, s), tr in draws.items():
            t0 = time.perf_counter()
            if px is None:
                proba, classes, C = text_baseline(
                    [ds.items[i] for i in tr], labels[tr], [ds.items[i] for i in test_idx], s
                )
            else:
                proba, classes, C = pixel_baseline(
                    np.stack([px[i] for i in tr]), labels[tr], np.stack([px[i] for i in test_idx]), s
                )
            fit_s = time.perf_counter() - t0
            m = score(labels[test_idx], proba, classes)
            cells.append(
                {
                    "method": method,
                    "budget": n,
                    "seed": s,
                    "n_train": len(tr),
                    "n_test": len(test_idx),
                    **m,
                    "C": C,
                    "fit_seconds": round(fit_s, 2),
                }
            )
            print(
                f"   {method:28s} n={n:<4d} seed={s} acc={m['accuracy']:.3f} f1={m['macro_f1']:.3f} "
                f"C={C:g} fit {fit_s:.1f}s",
                flush=True,
            )
    return {
        "dataset": spec.name,
        "n_items": len(ds),
        "n_classes": len(ds.classes),
        "n_test": len(test_idx),
        "n_train_pool": len(pool),
        "notes": notes,
        "extraction": extraction,
        "cells": cells,
        "summary": summarise(cells),
        "load_average_after": load_average(),
    }


def summarise(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample std (ddof=1) over seeds, per method and budget."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["method"], c["budget"]), []).append(c)
    out = []
    for (method, budget), cs in groups.items():
        acc = [c["accuracy"] for c in cs]
        f1 = [c["macro_f1"] for c in cs]
        out.append(
            {
                "method": method,
                "budget": budget,
                "seeds": len(cs),
                "accuracy_mean": statistics.fmean(acc),
                "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                "macro_f1_mean": statistics.fmean(f1),
                "macro_f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0,
                "fit_seconds_mean": statistics.fmean(c["fit_seconds"] for c in cs),
            }
        )
    return out


def print_table(results: list[dict[str, Any]], budgets: list[int]) -> None:
    """dataset × method rows, one column per budget: accuracy mean ± std (macro-F1 mean)."""
    print("\naccuracy mean ± std over seeds [macro-F1 mean]  (fit s = mean head-fit seconds at the largest budget)")
    head = f"{'dataset':10s} {'method':30s}" + "".join(f"{'n=' + str(b):>24s}" for b in budgets) + f"{'fit s':>8s}"
    print(head)
    for res in results:
        by = {(r["method"], r["budget"]): r for r in res["summary"]}
        for method in dict.fromkeys(r["method"] for r in res["summary"]):
            line = f"{res['dataset']:10s} {method:30s}"
            for b in budgets:
                r = by.get((method, b))
                line += (
                    f"{r['accuracy_mean']:>10.3f} ± {r['accuracy_std']:.3f} [{r['macro_f1_mean']:.3f}]"
                    if r
                    else f"{'-':>24s}"
                )
            last = by.get((method, budgets[-1]))
            line += f"{last['fit_seconds_mean']:8.1f}" if last else ""
            print(line)


def main(argv: list[str] | None = None) -> int:
    """Run the accuracy benchmark and write JSON (rewritten after every dataset)."""
    args = parse_args(argv)
    names = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in names if d not in DATASETS]
    if unknown:
        sys.exit(f"bench: unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}")
    budgets = sorted(int(b) for b in args.budgets.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    require_data(args.data_root, "the shared data folder")
    for d in names:
        require_data(args.data_root / DATASETS[d].relpath, f"dataset {d}")
    info = machine_info()
    print(
        f"machine: {info['cpu_model']}, {info['cores_available']} cores, {info['ram_gib']} GiB RAM, no GPU; "
        f"load avg {info['load_average_at_start']}"
    )
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "benchmark": "probe",
        "command": "python bench/probe.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
    }
    for d in names:
        results.append(run_dataset(DATASETS[d], args, budgets, seeds))
        payload["wall_seconds"] = round(time.perf_counter() - started, 1)
        write_json(args.out, payload)
    print_table(results, budgets)
    print(f"\nwall time {time.perf_counter() - started:.0f}s; wrote {args.out}")
    record_probe(payload, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
