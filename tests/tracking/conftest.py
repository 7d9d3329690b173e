"""Fixtures for tracking tests: colour-patch folders whose labels can be deliberately swapped.

A linear probe on `test-cnn` separates these colours perfectly, so a model trained with two labels
swapped gets exactly F1 = 0 on those classes and 1 on the others: promotion outcomes are certain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart import api

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "cyan": (30, 210, 210),
}


def colour_folder(root: Path, *, swap: dict[str, str] | None = None, per_class: int = 8, seed: int = 0) -> Path:
    """`root/<label>/<n>.png`; with `swap`, folder `label` holds the images of colour `swap[label]`."""
    rng = np.random.default_rng(seed)
    swap = swap or {}
    for label in COLOURS:
        rgb = COLOURS[swap.get(label, label)]
        (root / label).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            noise = rng.normal(0, 20, size=(16, 16, 3))
            Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)).save(root / label / f"{n:03d}.png")
    return root


def fit(data: Path, out: Path, **options: object) -> api.FitResult:
    return api.fit(data, backbone="test-cnn", out=str(out), progress=False, **options)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bundles: `good` (right labels), `swapped` (red<->green), `cycled` (blue->yellow->cyan->blue); `eval` data."""
    root = tmp_path_factory.mktemp("promote")
    good_data = colour_folder(root / "good")
    good = fit(good_data, root / "m-good")
    swapped = fit(colour_folder(root / "swapped", swap={"red": "green", "green": "red"}), root / "m-swapped")
    cycled = fit(
        colour_folder(root / "cycled", swap={"blue": "cyan", "yellow": "blue", "cyan": "yellow"}), root / "m-cycled"
    )
    return {
        "good": good.bundle,
        "good_data": good_data,
        "swapped": swapped.bundle,
        "cycled": cycled.bundle,
        "eval": colour_folder(root / "eval", per_class=4, seed=7),
    }
