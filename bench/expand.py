"""Benchmark `headstart expand` against retraining on all classes at once.

For each dataset: fit on the old classes (model A), expand A with the new classes (model B), and fit on old +
new at once (model C, the full retrain). Reports old-class test accuracy of A and B, all-class test accuracy of
B and C, and the time of the expand vs the full retrain — the latter both with a warm feature cache (the old
items' features cached by A's fit, as on the machine that trained A) and cold (a fresh cache: what a full
retrain costs when those features are gone). Goals (issue 7): old-class accuracy drops at most 2 points,
all-class accuracy within 2 points of the full retrain, at most 30% of its time.

    .venv/bin/python bench/expand.py [--datasets flowers,banking77] [--strategies linear,partial:2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, machine_info, require_data  # noqa: E402

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


def _choose_classes(setup: dict[str, Any], classes: list[str]) -> tuple[list[str], list[str]]:
    if "old" in setup:
        return setup["old"], setup["new"]
    order = np.random.default_rng(0).permutation(len(classes))
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


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def run(name: str, data_root: Path, strategy: str, max_test: int, work: Path) -> dict[str, Any]:
    setup = SETUPS[name]
    path = data_root / setup["path"]
    require_data(path, name)
    ds = load_dataset(str(path))
    assert ds.labels is not None
    splits = split_dataset(ds, test_size=0.2, seed=0)
    train, test = splits.train, splits.test
    assert train.labels is not None and test.labels is not None
    old, new = _choose_classes(setup, ds.classes)
    rng = np.random.default_rng(0)
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
    common = {"backbone": setup["backbone"], "strategy": strategy, "progress": False, "track": False, "seed": 0}
    if strategy.startswith("partial"):
        common.update(max_epochs=6)

    caches = {k: work / f"cache-{k}" for k in ("shared", "cold")}
    os.environ["HEADSTART_CACHE"] = str(caches["shared"])
    fit_old, t_fit_old = _timed(headstart.fit, str(paths["old_train"]), out=str(work / "A"), **common)
    expanded, t_expand = _timed(
        headstart.expand, str(work / "A"), str(paths["new_train"]), out=str(work / "B"), progress=False
    )
    full_warm, t_full_warm = _timed(headstart.fit, str(paths["all_train"]), out=str(work / "C"), **common)
    os.environ["HEADSTART_CACHE"] = str(caches["cold"])
    _, t_full_cold = _timed(headstart.fit, str(paths["all_train"]), out=str(work / "C-cold"), **common)
    os.environ["HEADSTART_CACHE"] = str(caches["shared"])

    def acc(bundle: str, data: str) -> float:
        return float(headstart.evaluate(str(work / bundle), str(paths[data]), progress=False).report.accuracy)

    result = {
        "dataset": name,
        "backbone": setup["backbone"],
        "strategy": strategy,
        "old_classes": len(old),
        "new_classes": len(new),
        "train_items": {k: len(v) for k, v in folders.items()},
        "test_items": {"old": sum(1 for i in test_idx if test.labels[i] in old), "all": len(test_idx)},
        "old_acc_before": acc("A", "test_old"),
        "old_acc_after": acc("B", "test_old"),
        "all_acc_expand": acc("B", "test_all"),
        "all_acc_full": acc("C", "test_all"),
        "old_acc_full": acc("C", "test_old"),
        "seconds": {
            "fit_old": t_fit_old,
            "expand": t_expand,
            "full_retrain_warm_cache": t_full_warm,
            "full_retrain_cold_cache": t_full_cold,
        },
        "expand_method": expanded.method,
        "expand_metrics": expanded.metrics.get("old_class_exemplars"),
        "memory_per_class": (json.loads((work / "A" / "manifest.json").read_text())["head"].get("memory") or {}).get(
            "per_class"
        ),
    }
    result["old_drop_points"] = 100 * (result["old_acc_before"] - result["old_acc_after"])
    result["gap_to_full_points"] = 100 * (result["all_acc_full"] - result["all_acc_expand"])
    result["time_ratio_warm"] = t_expand / t_full_warm
    result["time_ratio_cold"] = t_expand / t_full_cold
    print(json.dumps({k: v for k, v in result.items() if k != "expand_metrics"}, indent=1), flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="flowers,banking77")
    p.add_argument("--strategies", default="linear")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--max-test", type=int, default=100, help="test items per class at most")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "expand.json")
    args = p.parse_args()
    results = []
    for name in args.datasets.split(","):
        for strategy in args.strategies.split(","):
            work = Path(tempfile.mkdtemp(prefix=f"bench-expand-{name}-"))
            try:
                results.append(run(name, args.data_root, strategy, args.max_test, work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_info(), "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
