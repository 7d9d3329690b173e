"""Fixed costs on small data (issue 20): warm refit, cold fit, choosing C, predicting one image, study cells.

Every figure is the wall time of a real `headstart` command in a fresh process (`python -m headstart ...`),
with 2 threads, on real images from ../shared/data:

* **warm refit** — `fit DATA --strategy linear` on 400 flowers images (80 per class) whose features are
  cached, tracking on (a fresh local store); the same with `--no-track` gives tracking's share. Each run
  also lists which heavy libraries the process imported (torch, sklearn, mlflow, onnxruntime).
* **cold fit** — the same command after deleting the cached features (the ONNX export stays cached), and,
  in the same run, a plain eager PyTorch loop over the same 400 images (decode, `embed_torch` per batch of
  32, `torch.set_num_threads(2)`): the ratio is eager seconds / cold-fit seconds.
* **choose C** — `LinearHead()._choose_C` (3-fold x 3-value search) on 400 x 1280 features of 10 MNIST
  classes (40 per digit, efficientnet-lite0 at 224 px), in process, with the default thread pools.
* **predict** — `headstart predict MODEL one.jpg` with the warm-refit bundle.
* **study** — `study DATA --strategies linear,baseline,zero-shot --budgets 5,10,20 --seeds 3` on the same
  400 cached items (27 cells, one process): per-cell overhead = (study wall - sum of the cells' fit
  seconds) / cells.

    .venv/bin/python bench/latency.py                     # every measurement, 3 repeats
    .venv/bin/python bench/latency.py --only warm,predict --repeats 5

Writes bench/results/latency.json (each repeat, medians, wall and CPU seconds, the load average beside each figure,
machine with its CPU flags) and the goal's record, bench/results/latest/fixed-costs.json (command, commit, machine,
load), which bench/report.py renders into BENCHMARKS.md. A warm refit also reports what importing the linear head's
scikit-learn costs in a fresh interpreter (its share of the refit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from goals import record_latency  # noqa: E402

HEAVY = ("torch", "sklearn", "scipy.stats", "pandas", "mlflow", "onnxruntime", "transformers")
GOALS = {
    "warm_refit_seconds": 2.5,
    "tracking_seconds": 0.3,
    "cold_fit_seconds": 10.0,
    "cold_vs_eager_ratio": 5.0,
    "choose_C_seconds": 1.0,
    "predict_one_seconds": 1.0,
    "study_overhead_per_cell_seconds": 0.5,
}
# Runs a headstart command and writes the heavy libraries it imported to $LATENCY_MODULES at exit.
WRAPPER = (
    "import atexit, json, os, sys\n"
    "def _dump():\n"
    "    with open(os.environ['LATENCY_MODULES'], 'w') as f:\n"
    f"        json.dump(sorted(m for m in {HEAVY!r} if m in sys.modules), f)\n"
    "atexit.register(_dump)\n"
    "sys.argv[0] = 'headstart'\n"
    "from headstart.cli.main import run\n"
    "run()\n"
)
ONLY = ("warm", "cold", "choose_c", "predict", "study")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each command (default 3)")
    p.add_argument("--per-class", type=int, default=80, help="flowers images per class (default 80: 400 images)")
    p.add_argument("--threads", type=int, default=2, help="threads for every command (default 2)")
    p.add_argument("--only", default=",".join(ONLY), help=f"comma-separated subset of {','.join(ONLY)}")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="shared datasets folder")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "latency.json", help="JSON output path")
    p.add_argument("--no-record", action="store_true", help="leave bench/results/latest/fixed-costs.json as it is")
    return p.parse_args(argv)


def cpu_isa() -> list[str]:
    """The vector instruction sets that decide ONNX Runtime's speed here (int8 above all: VNNI or not)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags.split()]


def subset(source: Path, target: Path, per_class: int) -> Path:
    """The first `per_class` files (sorted) of each class folder, copied (the same items every run)."""
    if target.exists():
        return target
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True)
        for file in sorted(folder.iterdir())[:per_class]:
            shutil.copy2(file, target / folder.name / file.name)
    return target


class Runner:
    """Runs headstart commands in fresh processes with one cache, one tracking store and 2 threads."""

    def __init__(self, work: Path, threads: int) -> None:
        self.work = work
        self.threads = threads
        self.env = {
            **os.environ,
            "HEADSTART_CACHE": str(work / "cache"),
            "HEADSTART_TRACKING_URI": str(work / "runs"),
            "OMP_NUM_THREADS": str(threads),
        }
        self.env.pop("HEADSTART_TRACK_SYNC", None)

    def run(self, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """One command: wall and CPU seconds, its --json document, the heavy modules it imported, the load average.

        CPU seconds (user + system, the command's process and its children) hold up under load; wall time does not.
        """
        modules = self.work / "modules.json"
        load = load_average()
        cpu = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, *args, "--json"],
            env={**self.env, "LATENCY_MODULES": str(modules), **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        cpu = _children_cpu() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"headstart {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "load_before": load,
            "imported": json.loads(modules.read_text()),
            "document": json.loads(done.stdout),
        }

    def drain_tracking(self, timeout: float = 300) -> float:
        """Wait for the background tracking worker to record pending runs; seconds waited."""
        started = time.perf_counter()
        pending = self.work / "runs" / "pending"
        while time.perf_counter() - started < timeout:
            if not any(pending.glob("*/journal.json")) if pending.exists() else True:
                break
            time.sleep(0.1)
        return round(time.perf_counter() - started, 3)


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_seconds(modules: str, baseline: str, repeats: int) -> dict[str, float]:
    """What importing `modules` adds to a fresh interpreter that already imported `baseline`: median wall and CPU
    seconds of `python -c "import baseline; import modules"` minus those of `python -c "import baseline"`."""

    def timed(code: str) -> tuple[float, float]:
        cpu, started = _children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started, _children_cpu() - cpu

    walls, cpus = [], []
    for _ in range(repeats):
        with_wall, with_cpu = timed(f"import {baseline}; import {modules}")
        without_wall, without_cpu = timed(f"import {baseline}")
        walls.append(with_wall - without_wall)
        cpus.append(with_cpu - without_cpu)
    return {"seconds": median(walls), "cpu_seconds": median(cpus)}


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def warm_refit(runner: Runner, data: Path, repeats: int) -> dict[str, Any]:
    """Warm linear refits with tracking on and off, interleaved; the first (cold) fit fills the cache."""
    fit = ("fit", str(data), "--strategy", "linear", "--threads", str(runner.threads))
    first = runner.run(*fit, "--out", str(runner.work / "m-first"))
    runner.drain_tracking()
    tracked, untracked = [], []
    for r in range(repeats):
        tracked.append(runner.run(*fit, "--out", str(runner.work / f"m-track-{r}")))
        runner.drain_tracking()  # the worker's CPU must not land on the next measurement
        untracked.append(runner.run(*fit, "--no-track", "--out", str(runner.work / f"m-notrack-{r}")))
    on = [t["seconds"] for t in tracked]
    off = [t["seconds"] for t in untracked]
    doc = tracked[-1]["document"]
    sklearn = import_seconds(
        "sklearn.linear_model, sklearn.model_selection, sklearn.preprocessing, sklearn.metrics",
        "numpy, scipy.special, scipy.sparse",
        repeats,
    )  # the linear head's scikit-learn, on top of what a warm refit imports anyway
    return {
        "first_fit_seconds": first["seconds"],
        "tracked_seconds": on,
        "untracked_seconds": off,
        "tracked_cpu_seconds": [t["cpu_seconds"] for t in tracked],
        "warm_refit_seconds": median(on),
        "warm_refit_cpu_seconds": median([t["cpu_seconds"] for t in tracked]),
        "tracking_seconds": round(median(on) - median(off), 3),
        "sklearn_import_seconds": sklearn["seconds"],
        "sklearn_import_cpu_seconds": sklearn["cpu_seconds"],
        "loads": [t["load_before"] for t in tracked + untracked],
        "imported": tracked[-1]["imported"],
        "features_cached": doc["counts"]["features_cached"],
        "accuracy": doc["metrics"]["accuracy"],
        "accuracy_first_fit": first["document"]["metrics"]["accuracy"],
        "run_id": doc.get("run_id"),
        "bundle": str(runner.work / "m-track-0"),
    }


def eager_seconds(data: Path, threads: int) -> float:
    """A plain eager PyTorch extraction loop over the same images (as bench/extract.py's eager engine)."""
    import torch

    from headstart.backbones import get_backbone
    from headstart.batches import decode_item
    from headstart.data import load_dataset

    torch.set_num_threads(threads)
    backbone = get_backbone("efficientnet-lite0")
    dataset = load_dataset(str(data))
    backbone.embed_torch([decode_item(dataset, 0)])  # warm-up
    started = time.perf_counter()
    for s in range(0, len(dataset), 32):
        backbone.embed_torch([decode_item(dataset, i) for i in range(s, min(s + 32, len(dataset)))])
    return time.perf_counter() - started


def cold_fit(runner: Runner, data: Path, repeats: int) -> dict[str, Any]:
    """Fits with the feature cache emptied each time (ONNX export kept), and the eager loop between them."""
    fit = ("fit", str(data), "--strategy", "linear", "--no-track", "--threads", str(runner.threads))
    runner.run(*fit, "--out", str(runner.work / "m-export"))  # the export, once
    fits, eager, loads = [], [], []
    for r in range(repeats):
        shutil.rmtree(runner.work / "cache" / "features", ignore_errors=True)
        done = runner.run(*fit, "--out", str(runner.work / f"m-cold-{r}"))
        assert done["document"]["counts"]["features_computed"] == len(list(data.rglob("*.jpg")))
        fits.append(done["seconds"])
        loads.append(done["load_before"])
        loads.append(load_average())
        eager.append(round(eager_seconds(data, runner.threads), 3))
    return {
        "cold_fit_seconds_each": fits,
        "eager_loop_seconds_each": eager,
        "cold_fit_seconds": median(fits),
        "eager_loop_seconds": median(eager),
        "cold_vs_eager_ratio": round(median(eager) / median(fits), 2),
        "loads": loads,
    }


def choose_c(work: Path, data_root: Path, repeats: int, threads: int) -> dict[str, Any]:
    """`_choose_C` on 400 x 1280 efficientnet-lite0 features of 10 MNIST digits (features cached first)."""
    import numpy as np

    from headstart.backbones import get_backbone
    from headstart.data import load_dataset
    from headstart.features import extract_features
    from headstart.strategies.linear import LinearHead

    os.environ["HEADSTART_CACHE"] = str(work / "cache")
    digits = subset(data_root / "mnist", work / "mnist400", 40)
    dataset = load_dataset(str(digits))
    x = extract_features(get_backbone("efficientnet-lite0"), dataset, threads=threads, progress=False)
    y = np.array([dataset.labels[i] for i in x.kept])
    seconds, fits, loads, chosen = [], [], [], []
    for _ in range(repeats):
        loads.append(load_average())
        head = LinearHead(seed=0)
        started = time.perf_counter()
        head.fit(x.features, y)
        fits.append(round(time.perf_counter() - started, 3))
        chosen.append(head.C_)
        probe = LinearHead(seed=0)
        probe.classes_ = head.classes_
        from headstart.strategies.regularisation import small_problem_threads

        Xs = (x.features - head.mean_) / head.scale_
        with small_problem_threads(Xs):
            started = time.perf_counter()
            probe._choose_C(Xs, y, probe._folds(y))
            seconds.append(round(time.perf_counter() - started, 3))
    return {
        "shape": list(x.features.shape),
        "classes": int(len(set(y.tolist()))),
        "choose_C_seconds_each": seconds,
        "head_fit_seconds_each": fits,
        "choose_C_seconds": median(seconds),
        "head_fit_seconds": median(fits),
        "chosen_C": chosen,
        "loads": loads,
    }


def predict_one(runner: Runner, bundle: Path, image: Path, repeats: int) -> dict[str, Any]:
    runs = [runner.run("predict", str(bundle), str(image)) for _ in range(repeats)]
    return {
        "predict_one_seconds_each": [r["seconds"] for r in runs],
        "predict_one_seconds": median([r["seconds"] for r in runs]),
        "predict_one_cpu_seconds": median([r["cpu_seconds"] for r in runs]),
        "imported": runs[-1]["imported"],
        "loads": [r["load_before"] for r in runs],
    }


def study(runner: Runner, data: Path) -> dict[str, Any]:
    out = runner.work / "study"
    shutil.rmtree(out, ignore_errors=True)
    done = runner.run(
        "study", str(data), "--backbone", "efficientnet-lite0", "--strategies", "linear,baseline,zero-shot",
        "--budgets", "5,10,20", "--seeds", "3", "--out", str(out), "--threads", str(runner.threads),
    )  # fmt: skip
    runner.drain_tracking()  # the study's run is recorded in the background: not during the next measurement
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    fit_total = sum(r.get("fit_seconds") or 0.0 for r in records)
    cells = len(records)
    return {
        "cells": cells,
        "failed": sum(r["status"] != "ok" for r in records),
        "study_seconds": done["seconds"],
        "cells_fit_seconds": round(fit_total, 3),
        "study_overhead_per_cell_seconds": round((done["seconds"] - fit_total) / max(cells, 1), 3),
        "loads": [done["load_before"], load_average()],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(","))
    flowers_root = args.data_root / "flowers"
    require_data(flowers_root, "flowers")
    work = args.work or Path(tempfile.mkdtemp(prefix="headstart-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    data = subset(flowers_root, work / "flowers400", args.per_class)
    runner = Runner(work, args.threads)
    results: dict[str, Any] = {"machine": machine_info(), "goals": GOALS, "work": str(work)}
    results["machine"]["isa"] = cpu_isa()
    if "warm" in only or "predict" in only:
        results["warm"] = warm_refit(runner, data, args.repeats)
        print("warm", json.dumps(results["warm"]), flush=True)
    if "predict" in only:
        image = sorted((data / "rose").iterdir())[0]
        results["predict"] = predict_one(runner, Path(results["warm"]["bundle"]), image, args.repeats)
        print("predict", json.dumps(results["predict"]), flush=True)
    if "study" in only:
        results["study"] = study(runner, data)
        print("study", json.dumps(results["study"]), flush=True)
    if "choose_c" in only:
        results["choose_c"] = choose_c(work, args.data_root, args.repeats, args.threads)
        print("choose_c", json.dumps(results["choose_c"]), flush=True)
    if "cold" in only:
        results["cold"] = cold_fit(runner, data, args.repeats)
        print("cold", json.dumps(results["cold"]), flush=True)
    results["load_average_at_end"] = load_average()
    write_json(args.out, results)
    print(f"wrote {args.out}")
    if not args.no_record:
        record_latency(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
