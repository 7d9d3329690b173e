"""Benchmark `headstart expand` against retraining on all classes at once.

For each dataset, strategy and seed: fit on the old classes (model A), expand A with the new classes (model B),
and fit on old + new at once (model C, the full retrain a user would otherwise run: `headstart fit` on all the
data with the same options). Reports old-class test accuracy of A and B (and of C), all-class test accuracy of B
and C, and the time of the expand vs the full retrain, the latter two ways:
- warm: a feature cache holding exactly what A's fit left behind (the old items' features/activations), as on
  the machine that trained A; the new items are uncached for the retrain just as they are for the expand;
- cold: no cached features at all (the compiled ONNX prefix is kept: it is a one-off per backbone).
Tracking is off for every call (`HEADSTART_NO_TRACK=1`): the fits and the expand are timed on equal terms.
Goals (issue 7): old-class accuracy drops at most 2 points, all-class accuracy within 2 points of the full
retrain, expand at most 30% of the retrain's time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/expand.py [--datasets flowers,banking77] \
        [--strategies linear,partial:2] [--seeds 0,1,2] [--max-epochs N] [--expand-option head_only=true] \
        [--keep] [--no-cold] [--out bench/results/expand.json]

`--no-cold` skips the cold-cache retrain (a third full fit): its figures are then null in the JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_DATA_ROOT,
    RESULTS_DIR,
    load_average,
    machine_info,
    require_data,
    write_json,
)
from goals import record_expand  # noqa: E402

import headstart  # noqa: E402
from headstart.data import load_dataset, split_dataset  # noqa: E402

SETUPS = {
    "flowers": {
        "path": "flowers",
        "backbone": "efficientnet-lite0@128",
        "old": ["daisy", "dandelion", "rose"],
        "new": ["sunflower", "tulip"],
    },
    "banking77": {"path": "banking77/banking77.csv", "backbone": "minilm-l6", "n_old": 60},
}


def _choose_classes(setup: dict[str, Any], classes: list[str], seed: int = 0) -> tuple[list[str], list[str]]:
    if "old" in setup:
        return setup["old"], setup["new"]
    order = np.random.default_rng(seed).permutation(len(classes))
    old = sorted(classes[i] for i in order[: setup["n_old"]])
    return old, sorted(set(classes) - set(old))


def _materialise(ds: Any, indices: list[int], target: Path) -> Path:
    """Write items at `indices` as a folder of symlinks (images) or a CSV (texts)."""
    assert ds.labels is not None
    if ds.modality == "image":
        for i in indices:
            folder = target / ds.labels[i]
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / Path(ds.items[i]).name
            if not link.exists():
                link.symlink_to(ds.items[i])
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in indices:
            writer.writerow([ds.items[i], ds.labels[i]])
    return target


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of all this process's threads).

    On a shared machine wall time mostly measures the other jobs; CPU time measures the work done.
    """
    started, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started, time.process_time() - cpu


def _snapshot(source: Path, target: Path, parts: tuple[str, ...]) -> None:
    """Hard-link copy of cache sub-folders (the store never rewrites a file in place, so links are safe)."""
    for part in parts:
        if (source / part).exists():
            subprocess.run(["cp", "-al", str(source / part), str(target / part)], check=True)


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text())


def _bundle_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)


def run(
    name: str,
    data_root: Path,
    strategy: str,
    seed: int,
    max_test: int | None,
    max_epochs: int | None,
    memory: int | None,
    work: Path,
    expand_options: dict[str, Any] | None = None,
    cold: bool = True,
) -> dict[str, Any]:
    setup = SETUPS[name]
    path = data_root / setup["path"]
    require_data(path, name)
    ds = load_dataset(str(path))
    assert ds.labels is not None
    splits = split_dataset(ds, test_size=0.2, seed=seed)
    train, test = splits.train, splits.test
    assert train.labels is not None and test.labels is not None
    old, new = _choose_classes(setup, ds.classes, seed)
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    for label in ds.classes:
        members = [i for i, lab in enumerate(test.labels) if lab == label]
        test_idx.extend(rng.permutation(members)[:max_test].tolist())
    ext = "" if ds.modality == "image" else ".csv"
    folders = {
        "old_train": [i for i, lab in enumerate(train.labels) if lab in old],
        "new_train": [i for i, lab in enumerate(train.labels) if lab in new],
        "all_train": list(range(len(train))),
    }
    paths = {k: _materialise(train, v, work / f"{k}{ext}") for k, v in folders.items()}
    paths["test_old"] = _materialise(test, [i for i in test_idx if test.labels[i] in old], work / f"test_old{ext}")
    paths["test_all"] = _materialise(test, test_idx, work / f"test_all{ext}")
    common: dict[str, Any] = {
        "backbone": setup["backbone"],
        "strategy": strategy,
        "progress": False,
        "track": False,
        "seed": seed,
    }
    if max_epochs is not None:
        common["max_epochs"] = max_epochs
    if memory is not None:
        common["memory"] = memory

    caches = {k: work / f"cache-{k}" for k in ("A", "warm", "cold")}
    for cache in caches.values():
        cache.mkdir()
    os.environ["HEADSTART_CACHE"] = str(caches["A"])
    fit_old, t_fit_old, c_fit_old = _timed(headstart.fit, str(paths["old_train"]), out=str(work / "A"), **common)
    _snapshot(caches["A"], caches["warm"], ("features", "onnx", "hashes"))  # what A's fit left behind
    _snapshot(caches["A"], caches["cold"], ("onnx", "hashes"))  # no features
    loads = {"after_fit_old": round(os.getloadavg()[0], 2)}
    load_at_expand = os.getloadavg()[0]
    expanded, t_expand, c_expand = _timed(
        headstart.expand,
        str(work / "A"),
        str(paths["new_train"]),
        out=str(work / "B"),
        progress=False,
        seed=seed,
        **(expand_options or {}),
    )
    loads["after_expand"] = round(os.getloadavg()[0], 2)
    os.environ["HEADSTART_CACHE"] = str(caches["warm"])
    full_warm, t_full_warm, c_full_warm = _timed(headstart.fit, str(paths["all_train"]), out=str(work / "C"), **common)
    loads["after_retrain_warm"] = round(os.getloadavg()[0], 2)
    full_cold, t_full_cold, c_full_cold = None, None, None
    if cold:
        os.environ["HEADSTART_CACHE"] = str(caches["cold"])
        everything = str(paths["all_train"])
        full_cold, t_full_cold, c_full_cold = _timed(headstart.fit, everything, out=str(work / "C-cold"), **common)
        loads["after_retrain_cold"] = round(os.getloadavg()[0], 2)
    os.environ["HEADSTART_CACHE"] = str(caches["A"])

    def acc(bundle: str, data: str) -> float:
        return float(headstart.evaluate(str(work / bundle), str(paths[data]), progress=False).report.accuracy)

    def acc_among_old(bundle: str) -> float:
        """Old-class accuracy with the answer restricted to the old labels: forgetting, without new-class confusion."""
        predictor = headstart.load(work / bundle)
        data = load_dataset(str(paths["test_old"]))
        assert data.labels is not None
        prediction = predictor.predict_dataset(data, cache=True)
        columns = [predictor.labels.index(label) for label in old]
        answer = np.array(old)[prediction.proba[:, columns].argmax(axis=1)]
        return float(np.mean(answer == np.array([data.labels[i] for i in prediction.kept])))

    manifests = {k: _manifest(work / k) for k in ("A", "B", "C")}
    result = {
        "dataset": name,
        "backbone": setup["backbone"],
        "strategy": strategy,
        "seed": seed,
        "max_epochs": max_epochs,
        "memory_option": memory,
        "expand_options": expand_options or {},
        "old_classes": len(old),
        "new_classes": len(new),
        "train_items": {k: len(v) for k, v in folders.items()},
        "test_items": {"old": sum(1 for i in test_idx if test.labels[i] in old), "all": len(test_idx)},
        "old_acc_before": acc("A", "test_old"),
        "old_acc_after": acc("B", "test_old"),
        "old_acc_full": acc("C", "test_old"),
        "old_acc_after_among_old": acc_among_old("B"),
        "old_acc_full_among_old": acc_among_old("C"),
        "all_acc_expand": acc("B", "test_all"),
        "all_acc_full": acc("C", "test_all"),
        "all_acc_full_cold": acc("C-cold", "test_all") if cold else None,
        "seconds": {
            "fit_old": t_fit_old,
            "expand": t_expand,
            "full_retrain_warm_cache": t_full_warm,
            "full_retrain_cold_cache": t_full_cold,
        },
        "cpu_seconds": {
            "fit_old": c_fit_old,
            "expand": c_expand,
            "full_retrain_warm_cache": c_full_warm,
            "full_retrain_cold_cache": c_full_cold,
        },
        "timings": {
            "expand": expanded.timings,
            "full_retrain_warm_cache": full_warm.timings,
            "full_retrain_cold_cache": full_cold.timings if full_cold is not None else None,
        },
        "features": {
            "full_retrain_warm_cache": {k: full_warm.counts.get(k) for k in ("features_cached", "features_computed")},
            "full_retrain_cold_cache": (
                {k: full_cold.counts.get(k) for k in ("features_cached", "features_computed")}
                if full_cold is not None
                else None
            ),
        },
        "load_average_at_expand": round(load_at_expand, 2),
        "load_average_1min": loads,
        "expand_method": expanded.method,
        "expand_counts": expanded.counts,
        "expand_checks": expanded.metrics.get("old_class_exemplars"),
        "C": {k: m["head"].get("C") for k, m in manifests.items()},
        "epochs_run": {
            "A": manifests["A"]["strategy"].get("epochs_run"),
            "B": (manifests["B"]["strategy"].get("expand") or {}).get("epochs_run"),
            "C": manifests["C"]["strategy"].get("epochs_run"),
        },
        "memory": {
            k: {f: (m["head"].get("memory") or {}).get(f) for f in ("per_class", "n", "bytes", "complete")}
            for k, m in manifests.items()
            if k != "C"
        },
        "bundle_mb": {k: _bundle_mb(work / k) for k in ("A", "B", "C")},
    }
    result["old_drop_points"] = 100 * (result["old_acc_before"] - result["old_acc_after"])
    result["old_gap_to_full_points"] = 100 * (result["old_acc_full"] - result["old_acc_after"])
    result["gap_to_full_points"] = 100 * (result["all_acc_full"] - result["all_acc_expand"])
    result["time_ratio_warm"] = t_expand / t_full_warm
    result["time_ratio_cold"] = t_expand / t_full_cold if t_full_cold else None
    cpu = result["cpu_seconds"]
    result["cpu_ratio_warm"] = cpu["expand"] / cpu["full_retrain_warm_cache"]
    result["cpu_ratio_cold"] = cpu["expand"] / c_full_cold if c_full_cold else None
    print(json.dumps({k: v for k, v in result.items() if k not in ("timings", "expand_checks")}), flush=True)
    return result


def _mean(values: list[float | None]) -> float | None:
    """Mean of the measured values (None = not run, e.g. the cold retrain under `--no-cold`); None if none."""
    measured = [v for v in values if v is not None]
    return float(np.mean(measured)) if measured else None


def _spread(values: list[float | None]) -> dict[str, float] | None:
    """Mean, min and max of the measured values, or None when no seed measured them."""
    measured = np.array([v for v in values if v is not None], dtype=float)
    if not measured.size:
        return None
    return {"mean": float(measured.mean()), "min": float(measured.min()), "max": float(measured.max())}


def _summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over seeds per (dataset, strategy)."""
    keys = (
        "old_acc_before",
        "old_acc_after",
        "old_acc_full",
        "old_acc_after_among_old",
        "old_acc_full_among_old",
        "all_acc_expand",
        "all_acc_full",
        "old_drop_points",
        "gap_to_full_points",
        "time_ratio_warm",
        "time_ratio_cold",
        "cpu_ratio_warm",
        "cpu_ratio_cold",
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["strategy"]), []).append(r)
    out = []
    for (dataset, strategy), rs in groups.items():
        row: dict[str, Any] = {"dataset": dataset, "strategy": strategy, "seeds": [r["seed"] for r in rs]}
        for k in keys:
            row[k] = _spread([r[k] for r in rs])
        for k in ("expand", "full_retrain_warm_cache", "full_retrain_cold_cache"):
            row[f"seconds_{k}"] = _mean([r["seconds"][k] for r in rs])
            row[f"cpu_seconds_{k}"] = _mean([r["cpu_seconds"][k] for r in rs])
        out.append(row)
    return out


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings as keyword arguments (VALUE as JSON when it parses, else the string)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--expand-option takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="flowers,banking77")
    p.add_argument("--strategies", default="linear")
    p.add_argument("--seeds", default="0", help="comma-separated: the data split, class choice and fit seed")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--max-test", type=int, default=None, help="test items per class at most (default: all)")
    p.add_argument("--max-epochs", type=int, default=None, help="epoch cap of the gradient fits (default: theirs)")
    p.add_argument("--memory", type=int, default=None, help="`fit --memory N` (default: the strategy's)")
    p.add_argument(
        "--expand-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an `expand` option (ExpandConfig field), repeatable; VALUE is read as JSON when it parses "
        "(e.g. head_only=true, max_epochs=1)",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "expand.json")
    p.add_argument("--keep", action="store_true", help="keep each run's work folder (bundles A, B, C and caches)")
    p.add_argument(
        "--no-cold",
        action="store_true",
        help="skip the cold-cache retrain (saves a full fit; cold figures are null)",
    )
    args = p.parse_args()
    expand_options = _parse_options(args.expand_option)
    os.environ["HEADSTART_NO_TRACK"] = "1"
    machine = machine_info()
    results = []
    for name in args.datasets.split(","):
        for strategy in args.strategies.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                work = Path(tempfile.mkdtemp(prefix=f"bench-expand-{name}-"))
                try:
                    options = (args.max_test, args.max_epochs, args.memory)
                    cold = not args.no_cold
                    results.append(run(name, args.data_root, strategy, seed, *options, work, expand_options, cold))
                finally:
                    if args.keep:
                        print(f"kept {work}", flush=True)
                    else:
                        shutil.rmtree(work, ignore_errors=True)
                payload = {"machine": machine, "summary": _summary(results), "results": results}
                write_json(args.out, {**payload, "load_average_at_end": load_average()})
    for row in _summary(results):
        print(json.dumps(row))
    print(f"wrote {args.out}")
    record_expand({"machine": machine, "summary": _summary(results)}, args.out)


if __name__ == "__main__":
    main()
