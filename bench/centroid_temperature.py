"""The centroid head's temperature (strategies/centroid.py), chosen without FSDD's test split.

Speaker ID on FSDD with the voice-encoder's default pooling. Tuning uses only the non-test recordings (index >= 5):
each draw fits centroids on k clips per speaker and scores the other non-test clips; the constant minimising the
mean log loss (per k, and over k = 1 and 3) is reported from the head's grid (the temperature is that constant times
the centred training rows' median length; `CentroidHead` uses the k=1 figure when every class has one clip and
leave-one-out otherwise). The report then fits on k non-test clips per speaker and scores the official test split
(index 0-4), for the constant chosen, any others named and the head's own rule ("rule"): accuracy (unchanged by
any temperature), expected calibration error and log loss. Features come from the feature cache (computed once
if absent).

    PYTHONPATH=src .venv/bin/python bench/centroid_temperature.py --draws 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.special import log_softmax

from headstart.backbones import get_backbone
from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality
from headstart.features import extract_features
from headstart.metrics import expected_calibration_error
from headstart.strategies.centroid import GRID, CentroidHead

KS = (1, 3)


def fsdd_speakers(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, speaker labels and whether each clip is in the official test split (index 0-4)."""
    wavs = sorted(root.glob("*/*.wav"))
    parts = [w.stem.split("_") for w in wavs]
    items = tuple(str(w) for w in wavs)
    dataset = Dataset(modality=get_modality("audio"), items=items, ids=items)
    extraction = extract_features(get_backbone("voice-encoder"), dataset, progress=False)
    kept = extraction.kept
    speakers = np.array([p[1] for p in parts])[kept]
    test = np.array([int(p[2]) < 5 for p in parts])[kept]
    print(f"features: {extraction.n_cached} cached, {extraction.n_computed} computed", flush=True)
    return extraction.features, speakers, test


def draw(y: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of k clips per speaker drawn from the rows where `pool` holds."""
    return np.concatenate([rng.choice(np.flatnonzero(pool & (y == s)), k, replace=False) for s in np.unique(y)])


def scores(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, constants: tuple[float, ...], rule: bool = False
) -> dict:
    """Accuracy, ECE and log loss of centroids fitted on `train` rows, scored on `held` rows, per constant (and
    under "rule", the head's own choice: leave-one-out, or the one-clip constant)."""
    head = CentroidHead().fit(X[train], y[train])
    logits = head.decision_function(X[held])
    truth = np.searchsorted(head.classes_, y[held])
    length = head.temperature_ / head.constant_
    temperatures: dict = {c: c * length for c in constants}
    if rule:
        temperatures["rule"] = head.temperature_
    out = {}
    for c, t in temperatures.items():
        logp = log_softmax(logits / t, axis=1)
        proba = np.exp(logp)
        out[c] = {
            "accuracy": float((proba.argmax(1) == truth).mean()),
            "ece": expected_calibration_error(y[held], proba, head.classes_),
            "log_loss": float(-logp[np.arange(len(truth)), truth].mean()),
            "constant": t / length,
        }
    return out


def mean_over(runs: list[dict]) -> dict:
    return {c: {m: float(np.mean([r[c][m] for r in runs])) for m in runs[0][c]} for c in runs[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--compare", type=float, nargs="*", default=[0.08], help="constants also reported on the test split")
    p.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = p.parse_args()
    X, y, test = fsdd_speakers(args.data_root / "fsdd")
    rng = np.random.default_rng(0)
    tuning = {}
    for k in KS:
        runs = []
        for _ in range(args.draws):
            train = draw(y, ~test, k, rng)
            held = np.setdiff1d(np.flatnonzero(~test), train)
            runs.append(scores(X, y, train, held, GRID))
        tuning[k] = mean_over(runs)
    loss = {c: float(np.mean([tuning[k][c]["log_loss"] for k in KS])) for c in GRID}
    chosen = min(GRID, key=lambda c: loss[c])
    print("tuning on non-test clips (mean log loss over k=1,3):", {c: round(v, 4) for c, v in loss.items()})
    print(f"chosen constant: {chosen}; per k:", {k: min(GRID, key=lambda c: tuning[k][c]["log_loss"]) for k in KS})
    constants = tuple(sorted({chosen, *args.compare}))
    report = {}
    rng = np.random.default_rng(1)
    for k in KS:
        runs = [
            scores(X, y, draw(y, ~test, k, rng), np.flatnonzero(test), constants, rule=True) for _ in range(args.draws)
        ]
        report[k] = mean_over(runs)
        print(f"test split k={k}: the head's rule chose a mean constant of {report[k]['rule']['constant']:.3f}")
        for c in (*constants, "rule"):
            r = report[k][c]
            print(f"test split k={k} constant={c}: accuracy {r['accuracy']:.3f} ECE {r['ece']:.3f} "
                  f"log loss {r['log_loss']:.3f}")
    if args.out:
        result = {"draws": args.draws, "grid_loss": loss, "chosen": chosen, "tuning": tuning, "test": report}
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
