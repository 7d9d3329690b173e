"""int8 for hf: image backbones: ViT-S/16 geometry (random weights) through ONNX Runtime int8 vs eager fp32.

On N flowers images (decode included, 2 threads) it times three engines on the same items: the eager transformers
forward in fp32 (`embed_torch`), ONNX Runtime fp32 and ONNX Runtime int8 (`FrozenRunner(precision="int8")`:
dynamic quantization of the MatMul/Gemm weights, parity-checked against torch before use). Fidelity of int8 to
fp32 on the same features: cosine per image, the error relative to how far apart different images' features
are, and a linear probe (logistic regression, `LinearHead`) fitted on half the images' fp32 features: how many
of the other half's predictions int8 features change (and a probe fitted on int8 features: its agreement).

No real ViT weights exist offline: the weights are random with the real shapes. The speed depends on the shapes
only; the fidelity figures are for these random features, whose classes a probe separates only weakly, so they
bound how quantization moves features of this geometry, not the accuracy of a trained ViT.

    .venv/bin/python bench/hf_int8.py                 # 400 images, the probe over 10 random halves
    .venv/bin/python bench/hf_int8.py --n 64 --model convnext-t
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from extract import eager_loop, hf_kind, model_facts, ort_extract, sample_unique, save_hf_image  # noqa: E402

GOAL_SPEEDUP = 3.0  # int8 through ONNX Runtime at least 3x eager fp32 for ViT-S/16 at 224 px on 2 threads
GOAL_AGREEMENT = 0.98  # ... with at least 98 % of a linear probe's predictions unchanged


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="flowers images (default 400)")
    p.add_argument("--model", default="vit-s16", help="a geometry of bench/extract.py's HF_GEOMETRIES")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="seed for choosing the N images")
    p.add_argument("--splits", type=int, default=10, help="random halves the probe is fitted on (default 10)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "hf-int8.json")
    return p.parse_args(argv)


def fidelity(fp32: np.ndarray, int8: np.ndarray, labels: np.ndarray, splits: int) -> dict[str, Any]:
    """How far int8 features are from fp32 ones, and what that does to a linear probe's predictions (averaged
    over `splits` random halves: each trains a probe on fp32 features and predicts the other half both ways)."""
    from headstart.strategies.linear import LinearHead

    a, b = fp32.astype(np.float64), int8.astype(np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    spread = np.linalg.norm(a - a.mean(0), axis=1)  # how far an image's features are from the average image's
    relative = np.linalg.norm(a - b, axis=1) / spread
    unit = a / np.linalg.norm(a, axis=1, keepdims=True)
    between = unit @ unit.T
    runs: list[dict[str, float]] = []
    for seed in range(splits):
        rng = np.random.default_rng(seed)
        train = np.zeros(len(labels), bool)
        for label in np.unique(labels):  # half of each class trains the probe
            members = rng.permutation(np.flatnonzero(labels == label))
            train[members[: len(members) // 2]] = True
        test = ~train
        probe = LinearHead(seed=seed).fit(fp32[train], labels[train])
        on_fp32, on_int8 = probe.predict(fp32[test]), probe.predict(int8[test])
        probe8 = LinearHead(seed=seed).fit(int8[train], labels[train])
        runs.append({
            "probe_C": float(probe.C_),
            "probe_agreement": float(np.mean(on_fp32 == on_int8)),
            "probe_accuracy_fp32": float(np.mean(on_fp32 == labels[test])),
            "probe_accuracy_int8": float(np.mean(on_int8 == labels[test])),
            "int8_probe_agreement": float(np.mean(on_fp32 == probe8.predict(int8[test]))),
            "int8_probe_accuracy": float(np.mean(probe8.predict(int8[test]) == labels[test])),
        })
    mean = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
    return {
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
        "cosine_between_images_mean": float(between[~np.eye(len(a), dtype=bool)].mean()),
        "error_relative_to_spread_mean": float(relative.mean()),
        "error_relative_to_spread_max": float(relative.max()),
        "max_abs_diff": float(np.abs(a - b).max()),
        "probe_train": int(train.sum()),
        "probe_test": int(test.sum()),
        "probe_splits": splits,
        "probe_agreement_min": float(min(run["probe_agreement"] for run in runs)),
        "probe_agreement_max": float(max(run["probe_agreement"] for run in runs)),
        **mean,
        "per_split": runs,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flowers = args.data_root / "flowers"
    require_data(flowers, "the flowers image folder")
    cache = tempfile.mkdtemp(prefix="headstart-bench-cache-")
    os.environ["HEADSTART_CACHE"] = cache  # a fresh cache: both exports are made here

    import torch

    torch.set_num_threads(args.threads)
    from headstart.backbones import get_backbone
    from headstart.data import load_dataset
    from headstart.runtime import FrozenRunner

    info = machine_info()
    kind = hf_kind(args.model)
    images = sample_unique(load_dataset(flowers), args.n, args.seed)
    labels = np.array(images.labels)
    backbone = get_backbone(f"hf:{save_hf_image(kind, Path(cache) / 'hf' / kind)}")
    started = time.perf_counter()
    fp32_runner = FrozenRunner(backbone, threads=args.threads)
    int8_runner = FrozenRunner(backbone, threads=args.threads, precision="int8")
    setup = time.perf_counter() - started
    if int8_runner.running_precision != "int8":
        raise SystemExit(f"int8 did not run: {int8_runner.degraded}")
    loads = [load_average()]
    timings: dict[str, float] = {}
    features: dict[str, np.ndarray] = {}
    from headstart.batches import decode_item

    warm = backbone.preprocess([decode_item(images, i) for i in range(min(args.batch_size, len(images)))])
    for runner in (fp32_runner, int8_runner):
        runner(warm)
    for engine in ("int8", "eager", "fp32"):
        if engine == "eager":
            feats, seconds = eager_loop(backbone, images, args.batch_size)
        else:
            runner = int8_runner if engine == "int8" else fp32_runner
            feats, seconds, _ = ort_extract(backbone, images, runner, args.batch_size, args.threads)
        features[engine], timings[engine] = feats, seconds
        loads.append(load_average())
        print(f"  {kind} {engine:5s} {len(images) / seconds:6.2f} images/s ({seconds:.1f} s, load {loads[-1]})",
              flush=True)
    rates = {engine: len(images) / seconds for engine, seconds in timings.items()}
    fid = fidelity(features["fp32"], features["int8"], labels, args.splits)
    payload = {
        "benchmark": "hf-int8",
        "command": "python bench/hf_int8.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": kind,
        **model_facts(backbone),
        "n_images": len(images),
        "classes": sorted(set(labels.tolist())),
        "runner_setup_seconds": round(setup, 1),
        "images_per_s": {k: round(v, 2) for k, v in rates.items()},
        "int8_vs_eager": round(rates["int8"] / rates["eager"], 2),
        "int8_vs_ort_fp32": round(rates["int8"] / rates["fp32"], 2),
        "ort_fp32_vs_eager": round(rates["fp32"] / rates["eager"], 2),
        "fp32_ort_vs_eager_max_abs_diff": float(np.abs(features["fp32"] - features["eager"]).max()),
        "fidelity": fid,
        "loads": loads,
        "notes": [
            "random weights with the real shapes: speed depends on the shapes only; fidelity is that of random "
            "features (a trained ViT's features, and so its probe, may be more or less sensitive)",
            "each engine runs once over the same images, int8 first (no warm cache advantage for it)",
        ],
    }
    write_json(args.out, payload)
    print(f"\n{kind}: int8 {rates['int8']:.2f}, ORT fp32 {rates['fp32']:.2f}, eager fp32 {rates['eager']:.2f} images/s"
          f" -> int8 {payload['int8_vs_eager']}x eager; cosine mean {fid['cosine_mean']:.4f} (min "
          f"{fid['cosine_min']:.4f}); probe agreement {fid['probe_agreement']:.3f}\nwrote {args.out}")
    if kind == "vit-s16":
        from goals import record_hf_int8

        record_hf_int8(payload, args.out)
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
