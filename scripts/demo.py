"""`make demo`: the main job end to end, offline, on data this machine has.

Builds a small image folder from Debian's Fashion-MNIST when installed (otherwise scikit-learn's
bundled digits), then runs the real CLI: inspect, fit (EfficientNet-Lite0 linear probe), evaluate,
predict. Prints the accuracy and where the bundle and a summary are.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
OUT = Path("demo-output")
TRAIN_PER_CLASS, TEST_PER_CLASS, LABELS_PER_CLASS = 100, 50, 20


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_source() -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """(name, {split: (images uint8 HxW, labels)}, class names)."""
    if (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        splits = {
            "train": (_idx(FASHION / "train-images-idx3-ubyte.gz"), _idx(FASHION / "train-labels-idx1-ubyte.gz")),
            "test": (_idx(FASHION / "t10k-images-idx3-ubyte.gz"), _idx(FASHION / "t10k-labels-idx1-ubyte.gz")),
        }
        return "Fashion-MNIST (Debian dataset-fashion-mnist)", splits, FASHION_CLASSES
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    cut = len(order) * 2 // 3
    splits = {
        "train": (images[order[:cut]], digits.target[order[:cut]]),
        "test": (images[order[cut:]], digits.target[order[cut:]]),
    }
    return "scikit-learn digits (Fashion-MNIST not installed)", splits, [str(d) for d in range(10)]


def write_folder(root: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], classes: list[str]) -> None:
    """`root/<split>/<class>/<n>.png` with a fixed number of images per class."""
    per_class = {"train": TRAIN_PER_CLASS, "test": TEST_PER_CLASS}
    for split, (images, labels) in splits.items():
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for n, i in enumerate(np.flatnonzero(labels == c)[: per_class[split]]):
                Image.fromarray(images[i]).resize((64, 64), Image.BICUBIC).save(folder / f"{n:04d}.png")


def headstart(*args: str) -> dict:
    cmd = [sys.executable, "-m", "headstart", *args, "--json"]
    print("$ headstart " + " ".join(args), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"demo step failed: headstart {' '.join(args)} (exit {done.returncode})")
    return json.loads(done.stdout)


def main() -> None:
    started = time.perf_counter()
    name, splits, classes = load_source()
    print(f"data: {name}")
    data = OUT / "data"
    if data.exists():
        shutil.rmtree(data)
    write_folder(data, splits, classes)
    inspected = headstart("inspect", str(data))
    print(f"  {inspected['n_items']} images, {len(inspected['class_counts'])} classes")
    fitted = headstart(
        "fit",
        str(data),
        "--backbone",
        "efficientnet-lite0",
        "--strategy",
        "linear",
        "--labels-per-class",
        str(LABELS_PER_CLASS),
        "--seed",
        "0",
        "--out",
        str(OUT / "model"),
    )
    evaluated = headstart("evaluate", str(OUT / "model"), str(data / "test"))
    # the yardstick: the same labels without any pretrained network (pixels + logistic regression)
    headstart("fit", str(data), "--strategy", "baseline", "--labels-per-class", str(LABELS_PER_CLASS), "--seed", "0",
              "--out", str(OUT / "baseline"))  # fmt: skip
    yardstick = headstart("evaluate", str(OUT / "baseline"), str(data / "test"))
    sample = sorted((data / "test" / classes[0]).glob("*.png"))[:3]
    predicted = headstart("predict", str(OUT / "model"), *map(str, sample))
    summary = OUT / "summary.md"
    lines = [
        "# headstart demo",
        f"- data: {name}; {LABELS_PER_CLASS} labels per class for training, {evaluated['n']} test images",
        "- model: efficientnet-lite0 features + logistic regression (linear probe)",
        f"- test accuracy: {evaluated['accuracy']:.3f}, macro-F1: {evaluated['macro_f1']:.3f}",
        f"- without transfer (baseline: pixels + logistic regression, same labels): accuracy "
        f"{yardstick['accuracy']:.3f}, so transfer gained {100 * (evaluated['accuracy'] - yardstick['accuracy']):+.1f} "
        "points",
        f"- fit time: {fitted['timings']['total_seconds']:.1f} s",
        f"- bundle: {fitted['bundle']}",
        f"- predictions for 3 '{classes[0]}' images: "
        + ", ".join(f"{p['label']} ({p['probability']:.2f})" for p in predicted["predictions"]),
    ]
    summary.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[1:]))
    print(f"summary: {summary.resolve()}  (demo took {time.perf_counter() - started:.0f} s)")
    print(f"next: `headstart serve {OUT / 'model'}` to try it in a browser, or `headstart study {data}` "
          "to compare every strategy across label budgets")  # fmt: skip


if __name__ == "__main__":
    main()
