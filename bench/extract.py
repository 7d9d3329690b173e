"""Feature-extraction throughput: headstart's ONNX Runtime path vs a plain PyTorch eager loop.

For each backbone, the same N items (decode included) go through

* **ORT** — `headstart.features.extract_features` with a fresh temporary `FeatureStore` (nothing cached),
  so the figure includes hashing, decoding on the helper thread, preprocessing, the ONNX Runtime run
  and writing the feature chunk;
* **eager** — a plain loop: decode (the same PIL reader), `backbone.embed_torch(batch)` per batch of 32
  (preprocess + `torch.inference_mode()` forward of the backbone's torch modules + pooling),
  `torch.set_num_threads(threads)`.

The ONNX export is done once before timing, in a fresh `HEADSTART_CACHE`, and its time reported
separately. Each measurement is repeated (`--repeats`, alternating which engine goes first) and the
median throughput is reported. The two engines' features are compared as a sanity check.

    .venv/bin/python bench/extract.py            # N=512 images and 512 texts
    .venv/bin/python bench/extract.py --n 128 --repeats 1   # quick
    .venv/bin/python bench/extract.py --n 128 --image-backbones '' --no-text \
        --hf-images vit-s16,dinov2-s14,convnext-t,swin-t,resnet-50,mobilevit-s   # the README's hf: rows
"""

from __future__ import annotations

import argparse
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
from goals import record_extract  # noqa: E402

IMAGE_BACKBONES = ("efficientnet-lite0", "efficientnet-lite0@128")
TEXT_BACKBONE = "minilm-l6"
# hf: image backbones with random weights and real shapes, built here with save_pretrained (nothing downloads)
HF_IMAGES = ("vit-s16", "convnext-t")  # the default rows; HF_GEOMETRIES lists every one --hf-images can build
HF_GEOMETRIES = ("vit-s16", "dinov2-s14", "convnext-t", "swin-t", "resnet-50", "mobilevit-s")
HF_GOAL_SPEEDUP = 3.0  # issue 23: ORT at least 3x eager for ViT-S/16 at 224 px on 2 threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=512, help="flowers images per image backbone (default 512)")
    p.add_argument("--n-text", type=int, default=None, help="sst2 sentences for minilm-l6 (default: --n)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size for both engines (default 32)")
    p.add_argument("--threads", type=int, default=2, help="threads for ORT and torch (default 2)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per engine (default 2)")
    p.add_argument("--image-backbones", default=",".join(IMAGE_BACKBONES),
                   help=f"comma-separated image backbones (default {','.join(IMAGE_BACKBONES)})")
    p.add_argument("--no-text", action="store_true", help="skip the minilm-l6 text benchmark")
    p.add_argument("--hf-images", default=",".join(HF_IMAGES),
                   help=f"hf: image models with random weights and real shapes, some of {','.join(HF_GEOMETRIES)} "
                        f"(default {','.join(HF_IMAGES)}; '' skips them)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT,
                   help=f"shared datasets folder (default {DEFAULT_DATA_ROOT})")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing the N items (default 0)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "extract.json", help="JSON output path")
    return p.parse_args(argv)


def sample_unique(dataset: Any, n: int, seed: int) -> Any:
    """A seeded sample of `n` items with distinct content (the feature store dedups identical items)."""
    from headstart.data.modalities import get_modality

    modality = get_modality(dataset.modality)
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    chosen: list[int] = []
    for i in rng.permutation(len(dataset)):
        digest = modality.digest(dataset.items[int(i)])
        if digest in seen:
            continue
        seen.add(digest)
        chosen.append(int(i))
        if len(chosen) == n:
            break
    return dataset.subset(chosen)


def eager_loop(backbone: Any, dataset: Any, batch_size: int) -> tuple[np.ndarray, float]:
    """Decode + `embed_torch` per batch; returns (features, seconds)."""
    from headstart.batches import decode_item

    started = time.perf_counter()
    rows = []
    for s in range(0, len(dataset), batch_size):
        batch = [decode_item(dataset, i) for i in range(s, min(s + batch_size, len(dataset)))]
        rows.append(backbone.embed_torch(batch))
    return np.concatenate(rows), time.perf_counter() - started


def ort_extract(backbone: Any, dataset: Any, runner: Any, batch_size: int,
                threads: int) -> tuple[np.ndarray, float, dict[str, Any]]:
    """`extract_features` into a fresh temporary FeatureStore; returns (features, seconds, counters)."""
    from headstart.feature_store import FeatureStore
    from headstart.features import extract_features

    with tempfile.TemporaryDirectory(prefix="headstart-bench-store-") as tmp:
        started = time.perf_counter()
        ext = extract_features(backbone, dataset, store=FeatureStore(tmp), runner=runner,
                               batch_size=batch_size, threads=threads, progress=False)
        seconds = time.perf_counter() - started
        features = np.array(ext.features)  # copy out of the memory map before the folder goes
    info = {"n_computed": ext.n_computed, "n_cached": ext.n_cached, "skipped": len(ext.skipped),
            "extraction_seconds_internal": round(ext.seconds, 3)}
    if ext.n_cached or ext.skipped:
        raise RuntimeError(f"expected a cold extraction of every item, got {info}")
    return features, seconds, info


def bench_backbone(name: str, dataset: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Export once (timed), warm up, then time ORT and eager `--repeats` times on the same items."""
    from headstart.backbones import get_backbone
    from headstart.batches import decode_item
    from headstart.runtime import FrozenRunner

    t0 = time.perf_counter()
    backbone = get_backbone(name)
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    runner = FrozenRunner(backbone, threads=args.threads)
    runner_seconds = time.perf_counter() - t0
    # warm-up outside the timings: one batch through each engine
    warm = backbone.preprocess([decode_item(dataset, i) for i in range(min(args.batch_size, len(dataset)))])
    runner(warm)
    backbone.embed_torch([decode_item(dataset, i) for i in range(min(args.batch_size, len(dataset)))])

    ort_times: list[float] = []
    eager_times: list[float] = []
    ort_info: dict[str, Any] = {}
    ort_feats = eager_feats = None
    for r in range(args.repeats):
        order = ("ort", "eager") if r % 2 == 0 else ("eager", "ort")
        for engine in order:
            if engine == "ort":
                ort_feats, secs, ort_info = ort_extract(backbone, dataset, runner, args.batch_size, args.threads)
                ort_times.append(secs)
            else:
                eager_feats, secs = eager_loop(backbone, dataset, args.batch_size)
                eager_times.append(secs)
            print(f"  {name:24s} repeat {r + 1}/{args.repeats} {engine:5s} {len(dataset) / secs:8.1f} items/s "
                  f"({secs:.2f}s, load avg {load_average()})", flush=True)
    assert ort_feats is not None and eager_feats is not None
    diff = float(np.max(np.abs(ort_feats - eager_feats)))
    n = len(dataset)
    ort_rates = [n / s for s in ort_times]
    eager_rates = [n / s for s in eager_times]
    ort_med, eager_med = statistics.median(ort_rates), statistics.median(eager_rates)
    return {
        "backbone": name,
        "modality": backbone.modality,
        "input_size": backbone.input_size,
        "n_items": n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "backbone_load_seconds": round(load_seconds, 2),
        "onnx_export_seconds": round(runner.export_seconds, 2),
        "onnx_exported_fresh": runner.exported,
        "runner_setup_seconds": round(runner_seconds, 2),
        "ort_seconds": [round(s, 3) for s in ort_times],
        "eager_seconds": [round(s, 3) for s in eager_times],
        "ort_items_per_s": [round(x, 1) for x in ort_rates],
        "eager_items_per_s": [round(x, 1) for x in eager_rates],
        "ort_items_per_s_median": round(ort_med, 1),
        "eager_items_per_s_median": round(eager_med, 1),
        "speedup_median": round(ort_med / eager_med, 2),
        "ort_extract_counters": ort_info,
        "max_abs_feature_diff_ort_vs_eager": diff,
        "load_average_after": load_average(),
    }


def hf_kind(name: str) -> str:
    """`vit-s16` for `vit-s16` or the older spelling `tiny-vit-s16`; SystemExit for an unknown name."""
    kind = name.removeprefix("tiny-")
    if kind not in HF_GEOMETRIES:
        raise SystemExit(f"unknown --hf-images entry {name!r}: expected some of {', '.join(HF_GEOMETRIES)}")
    return kind


def save_hf_image(name: str, folder: Path) -> Path:
    """A real architecture's geometry (HF_GEOMETRIES) with seeded random weights, saved as a transformers folder."""
    import torch
    import transformers as T

    kind = hf_kind(name)
    torch.manual_seed(0)
    if kind == "vit-s16":  # ViT-S/16: 12 layers, 384 wide, 6 heads, 224 px
        model: Any = T.ViTModel(T.ViTConfig(image_size=224, patch_size=16, hidden_size=384, num_hidden_layers=12,
                                            num_attention_heads=6, intermediate_size=1536), add_pooling_layer=False)
        processor: Any = T.ViTImageProcessorPil(size={"height": 224, "width": 224})
    elif kind == "dinov2-s14":  # DINOv2-S/14: ViT-S with 14 px patches, 256 + 1 tokens at 224 px
        model = T.Dinov2Model(T.Dinov2Config(image_size=518, patch_size=14, hidden_size=384, num_hidden_layers=12,
                                             num_attention_heads=6, mlp_ratio=4))
        processor = T.BitImageProcessorPil(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                           image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    elif kind == "convnext-t":  # ConvNeXt-T: depths 3-3-9-3, widths 96-768
        model = T.ConvNextModel(T.ConvNextConfig(depths=[3, 3, 9, 3], hidden_sizes=[96, 192, 384, 768],
                                                 image_size=224))
        processor = T.ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875)
    elif kind == "swin-t":  # Swin-T: embed 96, depths 2-2-6-2, window 7 (the config's defaults)
        model = T.SwinModel(T.SwinConfig(image_size=224, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2],
                                         num_heads=[3, 6, 12, 24], window_size=7))
        processor = T.ViTImageProcessorPil(size={"height": 224, "width": 224}, image_mean=[0.485, 0.456, 0.406],
                                           image_std=[0.229, 0.224, 0.225], resample=3)
    elif kind == "resnet-50":  # ResNet-50: bottleneck blocks 3-4-6-3, 2048-d
        model = T.ResNetModel(T.ResNetConfig(layer_type="bottleneck", depths=[3, 4, 6, 3],
                                             hidden_sizes=[256, 512, 1024, 2048], embedding_size=64))
        processor = T.ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875)
    elif kind == "mobilevit-s":  # MobileViT-S at 256 px (the config's defaults)
        model = T.MobileViTModel(T.MobileViTConfig(image_size=256, hidden_sizes=[144, 192, 240],
                                                   neck_hidden_sizes=[16, 32, 64, 96, 128, 160, 640]))
        processor = T.MobileViTImageProcessorPil(size={"shortest_edge": 288}, crop_size={"height": 256, "width": 256})
        with torch.no_grad():  # at its own initialisation the activations underflow to denormals (1e-39), which
            for module in model.modules():  # would time the CPU's denormal path, not the network
                if isinstance(module, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(module.weight)
                elif isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5)
                    module.running_var.uniform_(0.5, 1.5)  # type: ignore[operator]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def model_facts(backbone: Any) -> dict[str, Any]:
    """Parameters (millions) of the frozen network and the pooled feature size."""
    params = sum(p.numel() for p in backbone.module().parameters())
    return {"params_millions": round(params / 1e6, 1), "feature_dim": int(backbone.feature_dim)}


def record_hf_images(rows: list[dict[str, Any]], args: argparse.Namespace, load_at_start: Any,
                     out: Path, argv: list[str] | None = None) -> Path | None:
    """bench/results/latest/extract-hf-image.json: ORT vs eager for the hf: image rows (goal: ViT-S/16 >= 3x)."""
    from common import write_result

    from goals import merge_rows

    table_rows = [[r["label"], f"{r['params_millions']:g}M", str(r["feature_dim"]), str(r["input_size"]),
                   f"{r['n_items']} flowers images", f"{r['ort_items_per_s_median']:.1f}",
                   f"{r['eager_items_per_s_median']:.1f}", f"{r['speedup_median']:.1f}x",
                   f"{r['onnx_export_seconds']:.0f}", f"{r['max_abs_feature_diff_ort_vs_eager']:.1e}"] for r in rows]
    table, kept = merge_rows("extract-hf-image", {
        "columns": ["model", "params", "feature", "px", "items", "ORT items/s", "eager items/s", "speed-up",
                    "export s", "max |diff|"],
        "rows": table_rows})
    vit = next((r for r in rows if r["label"] == "vit-s16"), None)
    if vit is None:
        print("extract-hf-image: not recorded (the goal's figure needs the vit-s16 row)")
        return None
    during = [r["load_average_after"][0] for r in rows if r.get("load_average_after")]
    start = load_at_start[0] if isinstance(load_at_start, list) else load_at_start
    load = f"{start} at the start, {min(during):g}-{max(during):g} after each model" if during else load_at_start
    figure = (f"ViT-S/16 at 224 px: {vit['speedup_median']:.1f}x ({vit['ort_items_per_s_median']:.1f} vs "
              f"{vit['eager_items_per_s_median']:.1f} images/s, {vit['n_items']} flowers images, {args.threads} "
              f"threads, median of {args.repeats} repeats)")
    return write_result(
        "extract-hf-image",
        title="Feature extraction: hf: image models in ONNX Runtime vs eager PyTorch",
        target=f"hf: ViT-S/16 at 224 px through ONNX Runtime at least {HF_GOAL_SPEEDUP:g}x the eager transformers "
               "forward on 2 threads (decode included)",
        status="met" if vit["speedup_median"] >= HF_GOAL_SPEEDUP else "not met",
        figure=figure,
        table=table,
        notes=[*([kept] if kept else []),
            "random weights with the real shapes (saved with save_pretrained, nothing downloaded): speed depends on "
            "the shapes only; accuracy needs real weights",
            "eager = the transformers modules (SDPA attention) run stage by stage under torch.inference_mode; ORT = "
            "the dynamo export of the same stages, parity-checked before use",
            "why fp32 stays short of 3x on this CPU: ViT-S/16 is 9.2 GFLOP an image, 92% of it in the Linear "
            "layers, and ONNX Runtime's MatMul runs those shapes only 1.1-1.3x faster than torch's (91-95 vs 70-85 "
            "GFLOP/s on 2 threads, load 2.8); model only (batch 32, no decode) ORT is 1.0-1.4x eager with either "
            "exporter (dynamo or TorchScript opset 17); the onnxruntime.transformers optimizer (model_type='vit') "
            "fuses LayerNorm and Gelu but no Attention in either export, and attention is 8% of the FLOPs; int8 "
            "(`--precision int8`) is the proposed goal: see the hf: int8 record",
            "the 1-minute load average was measured with other sessions' tests sharing the 2 cores: the absolute "
            "rates are a fraction of a quiet machine's; both engines alternate, so the ratio is the figure. On a "
            "quiet machine rerun the command below",
        ],
        sources=[str(out.resolve().relative_to(Path(__file__).resolve().parent.parent))],
        issue=23,
        order=11,
        load=load,
        argv=argv,
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    """Human-readable summary."""
    print()
    print(f"{'backbone':24s} {'N':>5s} {'export s':>9s} {'ORT items/s':>12s} {'eager items/s':>14s} "
          f"{'speedup':>8s} {'max|diff|':>10s}")
    for r in rows:
        print(f"{r.get('label', r['backbone']):24s} {r['n_items']:5d} {r['onnx_export_seconds']:9.1f} "
              f"{r['ort_items_per_s_median']:12.1f} {r['eager_items_per_s_median']:14.1f} "
              f"{r['speedup_median']:7.2f}x {r['max_abs_feature_diff_ort_vs_eager']:10.2g}")


def main(argv: list[str] | None = None) -> int:
    """Run the extraction benchmark and write JSON."""
    args = parse_args(argv)
    flowers = args.data_root / "flowers"
    sst2 = args.data_root / "sst2" / "sst2.csv"
    image_names = [b for b in args.image_backbones.split(",") if b]
    if image_names or args.hf_images:
        require_data(flowers, "the flowers image folder")
    if not args.no_text:
        require_data(sst2, "sst2/sst2.csv")
    # a fresh cache root, so the ONNX export is really performed (and timed) once here
    cache = tempfile.mkdtemp(prefix="headstart-bench-cache-")
    os.environ["HEADSTART_CACHE"] = cache

    import torch

    torch.set_num_threads(args.threads)
    from headstart.data import load_dataset

    info = machine_info()
    print(f"machine: {info['cpu_model']}, {info['cores_available']} cores, {info['ram_gib']} GiB RAM, no GPU; "
          f"torch {info['torch']}, onnxruntime {info['onnxruntime']}; load avg {info['load_average_at_start']}")
    rows: list[dict[str, Any]] = []
    if image_names:
        images = sample_unique(load_dataset(flowers), args.n, args.seed)
        print(f"flowers: {len(images)} distinct images (seed {args.seed})")
        for name in image_names:
            rows.append(bench_backbone(name, images, args))
    hf_rows: list[dict[str, Any]] = []
    hf_names = [b for b in args.hf_images.split(",") if b]
    if hf_names:
        images = sample_unique(load_dataset(flowers), args.n, args.seed)
        for kind in map(hf_kind, hf_names):
            folder = save_hf_image(kind, Path(cache) / "hf" / kind)
            row = bench_backbone(f"hf:{folder}", images, args)
            from headstart.backbones import get_backbone

            row.update(label=kind, **model_facts(get_backbone(f"hf:{folder}")))
            hf_rows.append(row)
            rows.append(row)
    if not args.no_text:
        n_text = args.n_text or args.n
        texts = sample_unique(load_dataset(sst2), n_text, args.seed)
        mean_words = float(np.mean([len(t.split()) for t in texts.items]))
        print(f"sst2: {len(texts)} distinct sentences (seed {args.seed}, all splits, "
              f"mean {mean_words:.1f} words)")
        row = bench_backbone(TEXT_BACKBONE, texts, args)
        row["mean_words_per_text"] = round(mean_words, 1)
        rows.append(row)
    print_table(rows)
    payload = {
        "benchmark": "extract",
        "command": "python bench/extract.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "notes": [
            "ORT = headstart.features.extract_features into a fresh temporary FeatureStore, session reused "
            "across repeats (export and session setup are reported separately)",
            "eager = decode_item + backbone.embed_torch per batch under torch.inference_mode, "
            f"torch.set_num_threads({args.threads})",
            "decode (PIL) and preprocessing are included in both; the CPU is shared with other work",
        ],
        "results": rows,
    }
    write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    if image_names or not args.no_text:  # the hf: rows have their own record, below
        record_extract({**payload, "results": [r for r in rows if "label" not in r]}, args.out)
    if hf_rows:
        record_hf_images(hf_rows, args, info["load_average_at_start"], args.out)
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
