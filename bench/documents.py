"""Documents (issue #22): key fields (company, date, address, total) from the 100 shared SROIE receipts.

Settings: the given OCR lines (`box/NNN.csv`) and headstart's own OCR from the image (`headstart.ocr`, RapidOCR,
default settings, cached: the first run reads ~100 receipts once). Methods: `rules` (hand-written baseline),
`tfidf` (TF-IDF character n-grams + layout + neighbours, line tagger and span decoding: no transfer) and `linear`
(the same with MiniLM line embeddings instead of n-grams: the transfer strategy) and `partial:K` (MiniLM's last K
layers fine-tuned on the lines' weak labels, then the linear tagger on its embeddings, cross-fitted as the strategy
does; `--tuned-folds 0` for the in-sample variant). Evaluation: 5-fold
cross-validation over the receipts (duplicate images kept in one fold), training on 10, 30 or all (~80) of each
fold's training receipts; entity micro-F1 (SROIE exact match after case and whitespace are normalised) per fold
and its mean, per-field exact match pooled over the folds, and for OCR the F1 ignoring spaces too.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python bench/documents.py
    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python bench/documents.py --settings given --methods tfidf --sizes all
    .venv/bin/python bench/documents.py --settings given --methods partial:2 --out /tmp/documents-partial.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402

REFERENCE = {  # issue #22: held-out SROIE receipts, trained on the 100 shared ones
    ("given", "rules"): 0.750,
    ("given", "linear"): 0.746,
    ("given", "tfidf"): 0.756,
    ("given", "line ceiling"): 0.902,
    ("ocr", "best"): 0.494,
}
METHODS = ("rules", "tfidf", "linear")
NOTES = [
    "What limits exact match here: the key values are corrected strings, so they differ from the OCR text in "
    "spacing, punctuation and typos (annotators put spaces after commas on some receipts of a shop and not on "
    "others). The alignment ceiling takes, for every field, the span or lines `field_align.align` finds for the true "
    "value (a perfect tagger of the lines) and scores it like any method: no extractor that copies the text beats it "
    "by much (a total's '$' can be learned).",
    "partial:2 rows (`--methods partial:2`, sources bench/results/documents-partial-given.json, -insample.json, "
    "-ocr.json; measured 2026-12-07 on 2 cores shared with the test suite, load 2.5-3.7): MiniLM's last 2 layers "
    "fine-tuned on the lines' weak labels in every fold, cross-fitted as the strategy does (3 fine-tunes per fold, "
    "217 s a fold with ~80 receipts; in-sample: 129 s). Fine-tuning does not beat the frozen encoder on these "
    "receipts: given lines 0.811 (in-sample 0.804) vs linear 0.834; at 30 and 10 receipts 0.788 and 0.713 vs "
    "0.791 and 0.716; from the images 0.684, as linear.",
]
SETTINGS = ("given", "ocr")


@dataclass(frozen=True)
class Receipt:
    stem: str
    image: Path
    fields: dict[str, str]
    group: str  # the image's hash: duplicates share it and stay in one fold


def load_receipts(root: Path) -> list[Receipt]:
    out = []
    for key in sorted((root / "key").glob("*.json")):
        image = root / "img" / f"{key.stem}.jpg"
        fields = {k: str(v) for k, v in json.loads(key.read_text()).items() if str(v).strip()}
        out.append(Receipt(key.stem, image, fields, hashlib.sha256(image.read_bytes()).hexdigest()))
    return out


def given_lines(root: Path, receipts: Sequence[Receipt]) -> list[list[Any]]:
    from headstart.data.documents import read_box_csv

    return [read_box_csv(root / "box" / f"{r.stem}.csv") for r in receipts]


def ocr_lines(receipts: Sequence[Receipt], threads: int) -> tuple[list[list[Any]], dict[str, Any]]:
    """RapidOCR's lines of each image (cached by content): the images are linked into a folder without `box/`,
    so the given lines are not picked up instead."""
    from headstart.ocr import OcrSettings, read_documents

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "img"
        folder.mkdir()
        paths = []
        for r in receipts:
            link = folder / r.image.name
            link.symlink_to(r.image.resolve())
            paths.append(str(link))
        started = time.perf_counter()
        read = read_documents(paths, [r.stem for r in receipts], OcrSettings(), threads=threads, progress=True)
        seconds = time.perf_counter() - started
    if read.skipped:
        raise SystemExit(f"bench: OCR skipped {read.skipped}")
    return [list(lines or []) for lines in read.lines], {"sources": read.sources, "seconds": round(seconds, 1)}


def folds_of(receipts: Sequence[Receipt], k: int, seed: int) -> list[int]:
    """A fold per receipt: groups (duplicate images) shuffled, then dealt round-robin."""
    groups = sorted({r.group for r in receipts})
    rng = np.random.default_rng(seed)
    order = [groups[i] for i in rng.permutation(len(groups))]
    fold_of = {g: i % k for i, g in enumerate(order)}
    return [fold_of[r.group] for r in receipts]


def make_extractor(method: str) -> Any:
    from headstart.strategies.fields.rules import RulesExtractor
    from headstart.strategies.fields.tagged import LinearExtractor, TfidfExtractor

    kind = "linear" if method.startswith("partial:") else method
    return {"rules": RulesExtractor, "tfidf": TfidfExtractor, "linear": LinearExtractor}[kind]()


@dataclass(frozen=True)
class Tuning:
    """How `partial:K` methods fine-tune: the backbone, cross-fitting folds (0: in-sample), threads, a scratch dir."""

    backbone: str
    folds: int
    threads: int
    scratch: Path


def tuned_embedders(
    method: str, tuning: Tuning, documents: Sequence[Sequence[Any]], fields: Sequence[dict[str, str]], seed: int
) -> tuple[Callable[[Sequence[str]], np.ndarray], Callable[[Sequence[str]], np.ndarray]]:
    """The strategy's own fine-tuning (`tune_for_tagging`): the embedder the tagger learns from, and the final one."""
    from headstart.backbones.registry import get_backbone
    from headstart.config import FitConfig
    from headstart.strategies.fields.line_tuning import tune_for_tagging

    config = FitConfig(strategy=method, out=str(tuning.scratch / "model"), progress=False, threads=tuning.threads,
                       seed=seed)  # fmt: skip
    backbone = get_backbone(tuning.backbone)
    final, train_embed = tune_for_tagging(
        backbone, documents, fields, config, {"arg": method.partition(":")[2]}, folds=tuning.folds
    )
    return train_embed, final.embedder()


def cross_validate(
    receipts: Sequence[Receipt],
    lines: Sequence[Sequence[Any]],
    method: str,
    size: int | None,
    folds: Sequence[int],
    seed: int,
    embed: Callable[[Sequence[str]], np.ndarray] | None,
    tuning: Tuning | None = None,
) -> dict[str, Any]:
    """Fit on (up to `size` of) each fold's training receipts, extract its held-out ones; scores per fold and pooled."""
    from headstart.tasks.field_scores import score_fields

    k = max(folds) + 1
    predicted: list[dict[str, str]] = [{} for _ in receipts]
    per_fold, fit_seconds = [], []
    rng = np.random.default_rng(seed)
    for fold in range(k):
        train = [i for i, f in enumerate(folds) if f != fold]
        test = [i for i, f in enumerate(folds) if f == fold]
        if size is not None and size < len(train):
            train = sorted(rng.choice(train, size=size, replace=False).tolist())
        extractor = make_extractor(method)
        started = time.perf_counter()
        documents, fields = [lines[i] for i in train], [receipts[i].fields for i in train]
        train_embed = test_embed = embed
        if method.startswith("partial:"):
            assert tuning is not None
            train_embed, test_embed = tuned_embedders(method, tuning, documents, fields, seed)
        extractor.fit(documents, fields, train_embed)
        fit_seconds.append(time.perf_counter() - started)
        found = extractor.extract([lines[i] for i in test], test_embed)
        for i, doc in zip(test, found, strict=True):
            predicted[i] = {name: f.value for name, f in doc.items()}
        truth = [receipts[i].fields for i in test]
        per_fold.append(score_fields(truth, [predicted[i] for i in test]).f1)
    truth = [r.fields for r in receipts]
    pooled = score_fields(truth, predicted)
    no_spaces = score_fields(truth, predicted, spaces=False)
    name = method if tuning is None or tuning.folds >= 2 or not method.startswith("partial:") else f"{method} in-sample"
    return {
        "method": name,
        "train_size": "all" if size is None else size,
        "f1_mean": round(float(np.mean(per_fold)), 4),
        "f1_folds": [round(f, 4) for f in per_fold],
        "f1_pooled": round(pooled.f1, 4),
        "f1_ignoring_spaces": round(no_spaces.f1, 4),
        "exact_match": {name: round(c.exact_match, 4) for name, c in pooled.per_field.items()},
        "scores": pooled.to_dict(),
        "fit_seconds_mean": round(float(np.mean(fit_seconds)), 2),
        "predicted": {r.stem: p for r, p in zip(receipts, predicted, strict=True)},
    }


def alignment_ceiling(receipts: Sequence[Receipt], lines: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """What a perfect tagger of these lines scores: for every field, the span (or joined lines) where
    `field_align.align` finds the true value, scored like any method. The values are corrected strings, so this is
    the most exact match any extractor that copies the OCR text can reach."""
    from headstart.data.field_align import align
    from headstart.tasks.field_scores import score_fields

    predicted: list[dict[str, str]] = []
    for receipt, document in zip(receipts, lines, strict=True):
        found: dict[str, str] = {}
        for name, value in receipt.fields.items():
            match = align(value, document)
            if match is None:
                continue
            texts = [document[i].text for i in match.lines]
            single = len(texts) == 1 and match.how != "fuzzy"
            found[name] = texts[0][match.start : match.end] if single else " ".join(texts)
        predicted.append(found)
    truth = [r.fields for r in receipts]
    pooled, no_spaces = score_fields(truth, predicted), score_fields(truth, predicted, spaces=False)
    return {
        "method": "alignment ceiling",
        "f1": round(pooled.f1, 4),
        "f1_ignoring_spaces": round(no_spaces.f1, 4),
        "exact_match": {name: round(c.exact_match, 4) for name, c in pooled.per_field.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--sizes", default="10,30,all")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "documents.json")
    parser.add_argument("--keep-predictions", action="store_true", help="keep every receipt's predicted fields")
    parser.add_argument("--tuned-folds", type=int, default=2, help="partial:K: cross-fitting folds (0: in-sample)")
    args = parser.parse_args(argv)
    root = args.data_root / "sroie_receipts"
    require_data(root, "sroie_receipts")
    receipts = load_receipts(root)
    folds = folds_of(receipts, args.folds, args.seed)
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    embed = None
    if "linear" in methods:
        from headstart.strategies.fields.embedding import line_embedder

        embed = line_embedder(args.backbone, threads=args.threads, progress=False)
    payload: dict[str, Any] = {
        "machine": machine_info(),
        "data": str(root),
        "receipts": len(receipts),
        "distinct_images": len({r.group for r in receipts}),
        "folds": args.folds,
        "seed": args.seed,
        "backbone": args.backbone,
        "reference": {f"{s} {m}": v for (s, m), v in REFERENCE.items()},
        "settings": {},
    }
    loads = []
    for setting in args.settings.split(","):
        info: dict[str, Any] = {}
        if setting == "given":
            lines = given_lines(root, receipts)
        else:
            lines, info = ocr_lines(receipts, args.threads)
        ceiling = alignment_ceiling(receipts, lines)
        em = ", ".join(f"{k} {v:.2f}" for k, v in ceiling["exact_match"].items())
        print(f"{setting:5s} ceiling: F1 {ceiling['f1']:.3f} (no spaces {ceiling['f1_ignoring_spaces']:.3f}; {em})")
        runs = []
        for method in methods:
            for size in sizes:
                if method == "rules" and size is not None:
                    continue  # nothing learned: one row
                started = time.perf_counter()
                with tempfile.TemporaryDirectory() as scratch:
                    tuning = Tuning(args.backbone, args.tuned_folds, args.threads, Path(scratch))
                    run = cross_validate(receipts, lines, method, size, folds, args.seed, embed, tuning)
                run["seconds"] = round(time.perf_counter() - started, 1)
                if not args.keep_predictions:
                    run.pop("predicted")
                loads.append(load_average())
                runs.append(run)
                em = ", ".join(f"{k} {v:.2f}" for k, v in run["exact_match"].items())
                print(
                    f"{setting:5s} {method:6s} n={run['train_size']!s:>3}: F1 {run['f1_mean']:.3f} "
                    f"(no spaces {run['f1_ignoring_spaces']:.3f}; {em}) {run['seconds']}s",
                    flush=True,
                )
        payload["settings"][setting] = {"lines": info, "ceiling": ceiling, "runs": runs}
    payload["load_during"] = loads
    ceilings = [
        f"Alignment ceiling ({setting}): F1 {v['ceiling']['f1']:.3f}, {v['ceiling']['f1_ignoring_spaces']:.3f} "
        "ignoring spaces; " + ", ".join(f"{k} {x:.2f}" for k, x in v["ceiling"]["exact_match"].items()) + "."
        for setting, v in payload["settings"].items()
    ]
    payload["notes"] = [*NOTES, *ceilings]
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    from goals import record_documents

    record_documents(payload, args.out)


if __name__ == "__main__":
    main()
