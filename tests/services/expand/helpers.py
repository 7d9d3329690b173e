"""Data for the expand tests: a fourth colour class (yellow) as the "new data", and a third text topic."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

NEW_COLOURS = {"yellow": (230, 220, 30)}
NEW_TOPIC = {
    "weather": [
        "heavy rain is expected tomorrow",
        "a sunny day with a light breeze",
        "snow fell all night in the hills",
        "the storm brought strong winds",
        "cold and foggy this morning",
        "thunder and lightning over the city",
    ]
}


def make_colour_folder(
    root: Path, colours: dict[str, tuple[int, int, int]], per_class: int = 12, seed: int = 1
) -> Path:
    """`root/<colour>/<n>.png` noisy patches of the given colours (like conftest.make_image_folder)."""
    rng = np.random.default_rng(seed)
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 25, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n:03d}.png")
    return root


def make_topic_csv(path: Path, topics: dict[str, list[str]], repeats: int = 2) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for r in range(repeats):
            for label, texts in topics.items():
                for t in texts:
                    writer.writerow([t if r == 0 else f"{t} again {r}", label])
    return path
