"""partial:K epoch time: cached frozen-prefix activations vs recomputing the prefix every epoch.

Same data, same seed, same initialisation (head from a linear probe, as `partial:K` does), no augmentation:
- **cached**: `extract_activations` runs stages[:cut] once in ONNX Runtime (timed: the one-time cost), then
  the Trainer trains the last K stages + head on `ActivationData`.
- **recomputed**: `RecomputedPrefixData` preprocesses every item and runs stages[:cut] eagerly in torch
  (no_grad) in every epoch, then the same training step.
Both trained tops are scored on the same test activations (ONNX prefix, as `predict` does). The run order
is cached, recomputed, cached, recomputed (two repeats each), to spread the load of the shared CPU; the
per-epoch figure is the median over all epochs of a source's repeats.

    .venv/bin/python bench/finetune.py                      # flowers (lite0@128) and sst2 (minilm-l6)
    .venv/bin/python bench/finetune.py --image-backbone efficientnet-lite0 --epochs 3
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
from goals import record_finetune  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cases", default="flowers,sst2")
    p.add_argument("--image-backbone", default="efficientnet-lite0@128")
    p.add_argument("--k", type=int, default=2, help="partial:K (trainable stages)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--image-per-class", type=int, default=40)
    p.add_argument("--text-per-class", type=int, default=64)
    p.add_argument("--image-test", type=int, default=200)
    p.add_argument("--text-test", type=int, default=872)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "finetune.json")
    return p.parse_args(argv)


def stratified_cap(ds: Any, n: int) -> Any:
    from sklearn.model_selection import train_test_split

    if len(ds) <= n:
        return ds
    keep, _ = train_test_split(np.arange(len(ds)), train_size=n, stratify=np.array(ds.labels), random_state=0)
    return ds.subset(sorted(int(i) for i in keep))


def load_case(name: str, args: argparse.Namespace) -> tuple[str, Any, Any, int]:
    from headstart.data import labels_per_class, load_dataset, split_dataset

    if name == "flowers":
        path = args.data_root / "flowers"
        require_data(path, "flowers")
        ds = load_dataset(str(path))
        splits = split_dataset(ds, test_size=0.2, seed=0)
        train = labels_per_class(splits.train, args.image_per_class, seed=args.seed, classes=ds.classes)
        return args.image_backbone, train, stratified_cap(splits.test, args.image_test), args.image_per_class
    path = args.data_root / "sst2" / "sst2.csv"
    require_data(path, "sst2")
    ds = load_dataset(str(path))
    assert ds.splits is not None
    pool = ds.subset([i for i, s in enumerate(ds.splits) if s == "train"])
    test = ds.subset([i for i, s in enumerate(ds.splits) if s == "validation"])
    train = labels_per_class(pool, args.text_per_class, seed=args.seed, classes=ds.classes)
    return "minilm-l6", train, stratified_cap(test, args.text_test), args.text_per_class


def train_once(
    backbone: Any, cut: int, data: Any, probe: Any, n_classes: int, args: argparse.Namespace
) -> tuple[Any, list[float], list[float], list[list[float] | None]]:
    import torch

    from headstart.strategies.finetune import PartialStrategy, build_top
    from headstart.train import Trainer, TrainerConfig

    torch.manual_seed(args.seed)
    top = build_top(backbone, cut, n_classes)
    top.init_head_from(probe)
    trainer = Trainer(
        top, PartialStrategy().param_groups(top, 1e-3, 10.0), TrainerConfig(max_epochs=args.epochs, seed=args.seed)
    )
    loads: list[list[float] | None] = []
    trainer.callbacks.append(
        type("LoadProbe", (), {"on_epoch_end": lambda self, t, metrics: loads.append(load_average())})()
    )
    t0 = time.perf_counter()
    trainer.state.started = t0
    state = trainer.fit(data, None)
    cumulative = [0.0] + [h["seconds"] for h in state.history]
    epochs = [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    return top.eval(), epochs, [h["train_loss"] for h in state.history], loads


def accuracy(top: Any, test_data: Any) -> tuple[float, np.ndarray]:
    import torch

    probas, targets = [], []
    with torch.no_grad():
        for state, target in test_data.batches(64, epoch=None, seed=0):
            probas.append(torch.softmax(top(state), dim=1).numpy())
            targets.append(target.numpy())
    proba, y = np.concatenate(probas), np.concatenate(targets)
    return float((proba.argmax(1) == y).mean()), proba


def run_case(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from headstart.backbones import get_backbone
    from headstart.batches import decode_item
    from headstart.feature_store import FeatureStore
    from headstart.features import extract_activations, extract_features
    from headstart.strategies.linear import LinearHead
    from headstart.strategies.training_data import ActivationData, RecomputedPrefixData

    torch.set_num_threads(args.threads)
    backbone_name, train, test, per_class = load_case(name, args)
    bb = get_backbone(backbone_name)
    cut = len(bb.stages) - args.k
    key = bb.activation_key
    labels = sorted(set(train.labels))
    targets = np.array([labels.index(x) for x in train.labels], dtype=np.int64)
    test_targets = np.array([labels.index(x) for x in test.labels], dtype=np.int64)
    print(
        f"== {name}: {backbone_name}, cut after {bb.stages[cut - 1]} (train {bb.stages[cut:]}), "
        f"{len(train)} train, {len(test)} test, load {load_average()}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="hs-finetune-") as tmp:
        store = FeatureStore(Path(tmp) / "features")
        # ONNX export of the prefix (cached by content under HEADSTART_CACHE) is timed apart from the caching
        t0 = time.perf_counter()
        extract_activations(bb, train.subset([0]), cut, store=FeatureStore(Path(tmp) / "warm"), progress=False)
        export_s = time.perf_counter() - t0
        load_cache = load_average()
        t0 = time.perf_counter()
        acts = extract_activations(bb, train, cut, views=1, augment=None, seed=args.seed, store=store, progress=False)
        cache_s = time.perf_counter() - t0
        assert len(acts.kept) == len(train), "unreadable training items"
        test_acts = extract_activations(bb, test, cut, store=store, progress=False)
        feats = extract_features(bb, train, store=False, progress=False)
        probe = LinearHead(C=1.0, seed=args.seed).fit(feats.features, np.array(train.labels))
    cached = ActivationData(acts.values, targets, bb.modality, key)
    items = [decode_item(train, i) for i in range(len(train))]
    recomputed = RecomputedPrefixData(bb, items, targets, cut, key)
    test_data = ActivationData(test_acts.values, test_targets[test_acts.kept], bb.modality, key)

    runs: dict[str, list[dict[str, Any]]] = {"cached": [], "recomputed": []}
    for repeat in range(args.repeats):
        for source_name, source in (("cached", cached), ("recomputed", recomputed)):
            top, epochs, losses, loads = train_once(bb, cut, source, probe, len(labels), args)
            acc, proba = accuracy(top, test_data)
            runs[source_name].append(
                {
                    "epoch_seconds": epochs,
                    "train_loss": losses,
                    "test_accuracy": acc,
                    "load_per_epoch": loads,
                    "proba": proba,
                }
            )
            print(
                f"  {source_name:10s} repeat {repeat}: epochs {[round(e, 2) for e in epochs]} s, "
                f"acc {acc:.4f}, loss {losses[-1]:.4f}, load {loads[-1]}",
                flush=True,
            )
    med = {k: float(np.median([e for r in v for e in r["epoch_seconds"]])) for k, v in runs.items()}
    acc = {k: v[0]["test_accuracy"] for k, v in runs.items()}
    max_proba_diff = float(np.abs(runs["cached"][0]["proba"] - runs["recomputed"][0]["proba"]).max())
    loss_rel = float(
        np.max(
            np.abs(np.array(runs["cached"][0]["train_loss"]) - np.array(runs["recomputed"][0]["train_loss"]))
            / np.array(runs["recomputed"][0]["train_loss"])
        )
    )
    for v in runs.values():
        for r in v:
            r.pop("proba")
    result = {
        "case": name,
        "backbone": backbone_name,
        "k": args.k,
        "cut": cut,
        "frozen_stages": bb.stages[:cut],
        "trainable_stages": bb.stages[cut:],
        "n_train": len(train),
        "per_class": per_class,
        "n_test": len(test),
        "epochs": args.epochs,
        "onnx_export_or_load_seconds": export_s,
        "cache_seconds": cache_s,
        "load_during_cache": load_cache,
        "epoch_seconds_median": med,
        "speedup": med["recomputed"] / med["cached"],
        "test_accuracy": acc,
        "accuracy_diff_points": 100 * (acc["cached"] - acc["recomputed"]),
        "max_abs_proba_diff": max_proba_diff,
        "max_rel_train_loss_diff": loss_rel,
        "break_even_epochs": cache_s / max(med["recomputed"] - med["cached"], 1e-9),
        "runs": runs,
    }
    print(
        f"  -> cache {cache_s:.1f} s once; epoch cached {med['cached']:.2f} s vs recomputed "
        f"{med['recomputed']:.2f} s = {result['speedup']:.1f}x; acc {acc['cached']:.4f} vs {acc['recomputed']:.4f}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HEADSTART_CACHE", "/tmp/headstart-bench-finetune-cache")
    info = machine_info()
    results = [run_case(name, args) for name in args.cases.split(",") if name]
    info["load_average_at_end"] = load_average()
    payload = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "cases": results}
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    record_finetune(payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
