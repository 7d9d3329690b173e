"""What the serving speed paths cost in fidelity, on SST-2 validation (872 sentences) with `minilm-l6` + linear.

Fits a linear head on 2,000 SST-2 training sentences (seed 0), then compares on the validation sentences:
- length-bucketed fp32 batches (the default) against each batch run whole, padded to its longest text;
- `precision="int8"` (dynamic quantization) against fp32: feature max |diff| and cosine, probability
  max/mean |diff|, accuracy and agreement of the predicted labels;
- CPU milliseconds per text for each (batches of 32, 2 intra-op threads; depends on machine load).

    .venv/bin/python bench/precision.py
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from bench.goals import record_int8_fidelity  # noqa: E402


def rows(path: Path, split: str) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def features(run: Any, backbone: Any, texts: list[str], whole: bool = False) -> tuple[np.ndarray, float]:
    """Pooled features in batches of 32 and the CPU ms per text; `whole` skips length bucketing."""
    started = time.process_time()
    out = []
    for s in range(0, len(texts), 32):
        x = backbone.preprocess(texts[s : s + 32])
        out.append(run._session.run(None, x)[0] if whole else run(x))
    return np.concatenate(out), (time.process_time() - started) / len(texts) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "precision.json")
    args = parser.parse_args()
    data = args.data_root / "sst2" / "sst2.csv"
    require_data(data, "SST-2")

    import headstart
    from headstart.runtime import FrozenRunner

    train = random.Random(0).sample(rows(data, "train"), args.train)
    valid = rows(data, "validation")
    texts, y = [r["text"] for r in valid], [r["label"] for r in valid]
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="headstart-bench-precision-") as tmp:
        table = Path(tmp) / "train.csv"
        with table.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows([r["text"], r["label"]] for r in train)
        headstart.fit(str(table), backbone="minilm-l6", strategy="linear", out=str(Path(tmp) / "model"), progress=False)
        predictor = headstart.load(Path(tmp) / "model")
    backbone, head, labels = predictor.backbone, predictor.model.head, predictor.labels
    fp32 = FrozenRunner(backbone, threads=args.threads)
    int8 = FrozenRunner(backbone, threads=args.threads, precision="int8")
    whole, ms_whole = features(fp32, backbone, texts, whole=True)
    bucketed, ms_bucketed = features(fp32, backbone, texts)
    quantized, ms_int8 = features(int8, backbone, texts)
    p32, p8 = head.predict_proba(bucketed), head.predict_proba(quantized)
    acc = lambda p: float(np.mean([labels[i] == t for i, t in zip(p.argmax(axis=1), y, strict=True)]))  # noqa: E731
    cosine = (quantized * bucketed).sum(1) / np.linalg.norm(quantized, axis=1) / np.linalg.norm(bucketed, axis=1)
    results = {
        "machine": machine_info(),
        "command": " ".join(sys.argv),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "validation_texts": len(texts),
        "bucketed_vs_whole_batch_max_abs_diff": float(np.max(np.abs(bucketed - whole))),
        "int8_feature_max_abs_diff": float(np.max(np.abs(quantized - bucketed))),
        "int8_feature_cosine_min": float(cosine.min()),
        "int8_feature_cosine_mean": float(cosine.mean()),
        "int8_proba_max_abs_diff": float(np.max(np.abs(p8 - p32))),
        "int8_proba_mean_abs_diff": float(np.mean(np.abs(p8 - p32))),
        "accuracy_fp32": acc(p32),
        "accuracy_int8": acc(p8),
        "label_agreement": float(np.mean(p8.argmax(1) == p32.argmax(1))),
        "cpu_ms_per_text": {"fp32_whole_batch": ms_whole, "fp32_bucketed": ms_bucketed, "int8_bucketed": ms_int8},
    }
    for key, value in results.items():
        if key not in ("machine",):
            print(f"{key}: {value}")
    write_json(args.out, results)
    record_int8_fidelity(results, args.out)


if __name__ == "__main__":
    main()
