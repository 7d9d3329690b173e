"""The text prior of `linear` (label prompts as one extra example per class) on and off, at 1 label per class.

No real CLIP weights exist offline, so this measures what can be measured: the tiny random CLIP of the tests
(tests/backbones/tiny_hf.py) with its towers aligned on solid colours (the tests' `align`, for `--align-steps`
steps), against the same model unaligned, on noisy colour pictures (4 colours; noise and brightness make one
labelled picture a poor prototype). For each seed, one picture per colour trains a logistic regression
(`LinearHead`, as `linear` fits it) with and without the prior rows; the rest are the test set. `linear` uses the
prior only when the prompts classify the labelled pictures better than chance (`TextPrior.aligned`): "gated";
"forced" adds it regardless, to show what it does with a tower that is not aligned.

    .venv/bin/python bench/text_prior.py               # 20 seeds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import RESULTS_DIR, load_average, machine_info, write_json  # noqa: E402

RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 40)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--per-colour", type=int, default=40, help="pictures per colour (default 40)")
    p.add_argument("--noise", type=float, default=120.0, help="pixel noise std (default 120)")
    p.add_argument("--align-steps", default="300,30", help="alignment steps of the aligned models (default 300,30)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "text-prior.json")
    return p.parse_args(argv)


def pictures(per_colour: int, noise: float, seed: int = 1) -> tuple[list[Any], np.ndarray]:
    """Noisy pictures of each colour, each with its own brightness (the hard part for one example per class)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for colour, rgb in RGB.items():
        for _ in range(per_colour):
            size = int(rng.integers(32, 64))
            base = np.array(rgb) * rng.uniform(0.5, 1.2)
            pixels = np.clip(base + rng.normal(0, noise, (size, size, 3)), 0, 255).astype(np.uint8)
            images.append(Image.fromarray(pixels))
            labels.append(colour)
    return images, np.array(labels)


def run_model(backbone: Any, images: list[Any], labels: np.ndarray, seeds: int) -> dict[str, Any]:
    """Accuracy at 1 label per colour without the prior, with it where the gate allows, and forced."""
    from headstart.backbones.hf_clip import PROMPT_TEMPLATES
    from headstart.strategies.linear import LinearHead
    from headstart.strategies.text_prior import text_prior
    from headstart.strategies.zero_shot import image_text_label_vectors, text_encoder_of

    features = np.concatenate([backbone.embed_torch(images[s : s + 64]) for s in range(0, len(images), 64)])
    encoder = text_encoder_of(backbone)
    assert encoder is not None
    classes = sorted(RGB)
    rows = image_text_label_vectors(encoder, [[t.format(c) for t in PROMPT_TEMPLATES] for c in classes])
    zero_shot = float(np.mean(np.array(classes)[np.argmax(features @ rows.T, axis=1)] == labels))
    off, gated, forced, used = [], [], [], 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes])
        test = np.setdiff1d(np.arange(len(labels)), train)
        x, y = features[train], labels[train]

        def accuracy(extra: Any) -> float:
            xs, ys = (x, y) if extra is None else extra.extend(x, y)
            head = LinearHead(seed=seed).fit(xs, ys)
            return float(np.mean(head.predict(features[test]) == labels[test]))

        prior = text_prior(backbone, x, y)
        assert prior is not None
        used += prior.aligned
        off.append(accuracy(None))
        gated.append(accuracy(prior if prior.aligned else None))
        forced.append(accuracy(prior))
    return {
        "zero_shot_accuracy": zero_shot,
        "accuracy_off": off,
        "accuracy_gated": gated,
        "accuracy_forced": forced,
        "prior_used_in_seeds": used,
        "mean_off": float(np.mean(off)),
        "mean_gated": float(np.mean(gated)),
        "mean_forced": float(np.mean(forced)),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from headstart.backbones import get_backbone
    from tests.backbones.tiny_hf import save_tiny_clip
    from tests.strategies.test_zero_shot_image_text import align

    images, labels = pictures(args.per_colour, args.noise)
    root = Path(tempfile.mkdtemp(prefix="headstart-text-prior-"))
    results: dict[str, Any] = {}
    for steps in [0, *(int(s) for s in args.align_steps.split(",") if s)]:
        folder = save_tiny_clip(root / f"clip-{steps}")
        if steps:
            align(folder, steps=steps)
        name = "unaligned" if not steps else f"aligned {steps} steps"
        results[name] = run_model(get_backbone(f"hf:{folder}"), images, labels, args.seeds)
        r = results[name]
        print(f"{name:20s} zero-shot {r['zero_shot_accuracy']:.3f}; 1 label/colour over {args.seeds} seeds: "
              f"off {r['mean_off']:.3f}, gated {r['mean_gated']:.3f} (prior used in {r['prior_used_in_seeds']}), "
              f"forced {r['mean_forced']:.3f}", flush=True)
    payload = {
        "benchmark": "text-prior",
        "command": "python bench/text_prior.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "n_pictures": len(labels),
        "results": results,
        "load_average_after": load_average(),
        "notes": ["a tiny random CLIP (32 px, 2 layers) aligned by training only its two projections on solid "
                  "colours: a mechanics check, not a CLIP; real gains need real weights"],
    }
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    from goals import record_text_prior

    record_text_prior(payload, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
