"""Ray engine overhead and scaling on one machine: extraction throughput and a small study's wall time.

Extraction: the same N distinct flowers images through `extract_features` into a fresh temporary
FeatureStore each time (nothing cached), with

* **local** — the default engine in this process (ONNX Runtime, `--threads` intra-op threads);
* **ray ×1 / ray ×2** — the Ray engine with an actor pool of 1 or 2 workers (1 CPU and 1 ORT thread each),
  on a local Ray instance started by this script with `--ray-cpus` CPUs.

Ray times include everything a user waits for: sharding, actor start (each extraction builds its pool:
import headstart, load the backbone, open the ONNX session), the run, and the driver re-reading the chunks.
The ONNX export is done once before timing. The engines' features are compared bit for bit.

Study: one small grid on a stratified flowers subset, run locally and over Ray from a cold feature cache,
wall time of `headstart.study`; the two results tables are compared.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scale.py                  # N=1024, study on 40 images/class
    OMP_NUM_THREADS=1 .venv/bin/python bench/scale.py --n 256 --repeats 1 --study-per-class 20   # quick
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from goals import record_scale  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1024, help="flowers images to extract (default 1024)")
    p.add_argument("--backbone", default="efficientnet-lite0", help="image backbone (default efficientnet-lite0)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--threads", type=int, default=2, help="ORT threads of the local engine (default 2)")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per configuration (default 2)")
    p.add_argument("--study-per-class", type=int, default=40, help="images per class in the study subset")
    p.add_argument("--study-strategies", default="linear,baseline", help="study strategies (default linear,baseline)")
    p.add_argument("--study-budgets", default="5,20", help="study budgets (default 5,20)")
    p.add_argument("--study-seeds", type=int, default=2, help="study seeds (default 2)")
    p.add_argument("--no-study", action="store_true", help="skip the study comparison")
    p.add_argument(
        "--data-root", type=Path, default=DEFAULT_DATA_ROOT, help=f"shared data (default {DEFAULT_DATA_ROOT})"
    )
    p.add_argument("--cache", type=Path, default=Path("/tmp/headstart-bench-cache"), help="ONNX/weights cache")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing items (default 0)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "scale.json", help="JSON output path")
    return p.parse_args(argv)


def sample(dataset: Any, n: int, seed: int) -> Any:
    """A seeded sample of `n` items with distinct content (the store dedups identical items)."""
    from headstart.data.modalities import get_modality

    modality = get_modality(dataset.modality)
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    chosen: list[int] = []
    for i in rng.permutation(len(dataset)):
        digest = modality.digest(dataset.items[int(i)])
        if digest not in seen:
            seen.add(digest)
            chosen.append(int(i))
        if len(chosen) == n:
            break
    return dataset.subset(chosen)


def timed_extract(backbone: Any, dataset: Any, engine: Any, args: argparse.Namespace) -> tuple[np.ndarray, float]:
    """Cold extraction into a temporary store under `engine`; (features, seconds)."""
    from headstart.engines import use_engine
    from headstart.feature_store import FeatureStore
    from headstart.features import extract_features

    with tempfile.TemporaryDirectory(prefix="headstart-scale-") as tmp, use_engine(engine):
        started = time.perf_counter()
        ext = extract_features(
            backbone, dataset, store=FeatureStore(tmp), batch_size=args.batch_size, threads=args.threads, progress=False
        )
        seconds = time.perf_counter() - started
        features = np.array(ext.features)
    if ext.n_computed != len(dataset):
        raise RuntimeError(f"expected a cold extraction of {len(dataset)} items, got {ext.n_computed}")
    return features, seconds


def bench_extraction(args: argparse.Namespace) -> dict[str, Any]:
    """local, ray ×1 and ray ×2 on the same items, `--repeats` times each (configurations interleaved)."""
    from headstart.backbones import get_backbone
    from headstart.data import load_dataset
    from headstart.engines import LocalEngine
    from headstart.engines.ray import RayEngine
    from headstart.runtime import FrozenRunner

    dataset = sample(load_dataset(str(args.data_root / "flowers")), args.n, args.seed)
    backbone = get_backbone(args.backbone)
    FrozenRunner(backbone, threads=args.threads)  # export once, outside the timings
    engines = {"local": LocalEngine(), "ray x1": RayEngine(workers=1), "ray x2": RayEngine(workers=2)}
    seconds: dict[str, list[float]] = {k: [] for k in engines}
    reference: np.ndarray | None = None
    identical = True
    loads = []
    for _ in range(args.repeats):
        for name, engine in engines.items():
            features, s = timed_extract(backbone, dataset, engine, args)
            seconds[name].append(s)
            loads.append(load_average())
            print(f"  {name:7s} {len(dataset) / s:7.1f} items/s ({s:.1f} s)", flush=True)
            if reference is None:
                reference = features
            identical = identical and features.tobytes() == reference.tobytes()
    rows = {
        name: {
            "seconds": [round(x, 2) for x in s],
            "median_seconds": round(statistics.median(s), 2),
            "items_per_second": round(len(dataset) / statistics.median(s), 1),
        }
        for name, s in seconds.items()
    }
    return {
        "n": len(dataset),
        "backbone": args.backbone,
        "batch_size": args.batch_size,
        "local_threads": args.threads,
        "ray_cpus_per_worker": 1,
        "configs": rows,
        "bit_identical": identical,
        "load_averages": loads,
    }


def study_subset(args: argparse.Namespace, root: Path) -> Path:
    """`root/<class>/` symlinks to the first `--study-per-class` images of each flowers class."""
    source = args.data_root / "flowers"
    for cls in sorted(p for p in source.iterdir() if p.is_dir()):
        (root / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[: args.study_per_class]:
            (root / cls.name / f.name).symlink_to(f)
    return root


def bench_study(args: argparse.Namespace) -> dict[str, Any]:
    """The same grid locally and over Ray, each from a cold feature cache; wall time and table equality."""
    from headstart import api

    grid = {
        "backbone": args.backbone,
        "strategies": args.study_strategies,
        "budgets": args.study_budgets,
        "seeds": args.study_seeds,
        "energy": False,
        "progress": False,
        "threads": 1,
    }
    out: dict[str, Any] = {
        "grid": {k: v for k, v in grid.items() if k != "progress"},
        "per_class": args.study_per_class,
    }
    tables = {}
    with tempfile.TemporaryDirectory(prefix="headstart-scale-study-") as tmp:
        data = study_subset(args, Path(tmp) / "flowers")
        for engine in ("local", "ray"):
            features = Path(tmp) / f"cache-{engine}"
            os.environ["HEADSTART_CACHE"] = str(features)  # cold features; the ONNX export is copied in
            (features / "onnx").mkdir(parents=True)
            for f in (args.cache / "onnx").glob("*.onnx"):
                (features / "onnx" / f.name).symlink_to(f)
            started = time.perf_counter()
            result = api.study(data, out=str(Path(tmp) / engine), engine=engine, **grid)
            wall = time.perf_counter() - started
            out[engine] = {
                "wall_seconds": round(wall, 1),
                "cells": result.cells_done,
                "status": result.status,
                "load_average": load_average(),
            }
            print(f"  study {engine:5s} {wall:6.1f} s, {result.cells_done} cells", flush=True)
            with open(Path(tmp) / engine / "results.csv") as f:
                keep = ("key", "status", "accuracy", "macro_f1", "n_train")
                tables[engine] = sorted(tuple(r[k] for k in keep) for r in csv.DictReader(f))
        os.environ["HEADSTART_CACHE"] = str(args.cache)
    out["same_results_table"] = tables["local"] == tables["ray"]
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_data(args.data_root / "flowers", "flowers")
    os.environ["HEADSTART_CACHE"] = str(args.cache)
    os.environ.setdefault("HEADSTART_NO_TRACK", "1")
    import ray

    info = machine_info()
    started = time.perf_counter()
    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_init = time.perf_counter() - started
    print(f"ray {ray.__version__} started in {ray_init:.1f} s with {args.ray_cpus} CPUs; load {load_average()}")
    payload: dict[str, Any] = {
        "machine": info,
        "ray": ray.__version__,
        "ray_init_seconds": round(ray_init, 1),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "command": " ".join(sys.argv),
    }
    print("extraction:")
    payload["extraction"] = bench_extraction(args)
    if not args.no_study:
        print("study:")
        payload["study"] = bench_study(args)
    payload["load_average_at_end"] = load_average()
    ray.shutdown()
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    record_scale(payload, args.out)


if __name__ == "__main__":
    main()
