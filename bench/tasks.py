"""Task kinds beyond single-label: multi-label tags from banking77 and a regression target on mnist images.

Multi-label: banking77's 77 intents are grouped into overlapping topic tags by the keyword rules in `TOPICS`
(an intent gets every tag whose keywords occur in its name; e.g. `declined_card_payment` → card, payment,
problem). Each text carries its intent's tags as `tag;tag;...`. A seeded subsample of the official train split
is trained on, a seeded subsample of the official test split is scored: micro/macro F1 at the per-tag thresholds
tuned on held-out data, and mAP. Compared: minilm-l6 linear (one-vs-rest logistic regression), optionally
partial:2, and the TF-IDF one-vs-rest baseline.

Regression: mnist digits with the digit value as the number to predict (0..9), from an image table
`path,value,split`. Compared: efficientnet-lite0 linear (ridge) and the 32x32 pixel ridge baseline; MAE, RMSE, R².

Every run goes through `headstart.api.fit` (the product path: task detection, splits, thresholds, bundle).
Run with OMP_NUM_THREADS=1 (the CPU is shared): `OMP_NUM_THREADS=1 .venv/bin/python bench/tasks.py`.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from goals import record_tasks  # noqa: E402

# Topic tags of banking77 intents: a tag applies when any of its keywords is a substring of the intent name.
TOPICS: dict[str, tuple[str, ...]] = {
    "card": ("card", "change_pin", "pin_blocked", "visa_or_mastercard", "contactless", "apple_pay"),
    "transfer": ("transfer", "receiving_money", "beneficiary", "direct_debit"),
    "top_up": ("top_up", "topping_up"),
    "cash": ("cash", "atm"),
    "fees": ("fee", "charge"),
    "exchange": ("exchange", "currenc", "country_support"),
    "identity": ("identity", "verify", "personal_details", "age_limit", "passcode"),
    "security": ("lost_or_stolen", "compromised", "swallowed", "blocked", "not_recognised", "charged_twice"),
    "problem": ("declined", "failed", "not_working", "pending", "reverted", "wrong", "not_received",
                "not_showing", "not_updated", "not_recognised", "swallowed", "charged_twice"),
    "account": ("account", "balance", "personal_details", "terminate", "refund"),
    "payment": ("payment", "apple_pay", "direct_debit", "refund"),
    "delivery": ("arrival", "delivery", "order_physical", "get_physical", "spare_card"),
}  # fmt: skip


def intent_tags(intent: str) -> list[str]:
    """The topic tags of one banking77 intent (every intent gets at least one; checked by `check_mapping`)."""
    name = intent.lower()
    return sorted(tag for tag, keys in TOPICS.items() if any(k in name for k in keys))


def check_mapping(intents: list[str]) -> dict[str, list[str]]:
    mapping = {intent: intent_tags(intent) for intent in intents}
    untagged = [i for i, tags in mapping.items() if not tags]
    if untagged:
        sys.exit(f"bench: intents without a topic tag: {untagged}")
    return mapping


def sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=min(n, len(frame)), random_state=seed) if n else frame


def banking_table(root: Path, out: Path, n_train: int, n_test: int, seed: int) -> tuple[Path, dict[str, Any]]:
    data = pd.read_csv(root / "banking77" / "banking77.csv")
    mapping = check_mapping(sorted(data["label"].unique()))
    train = sample(data[data["split"] == "train"], n_train, seed)
    test = sample(data[data["split"] == "test"], n_test, seed)
    table = pd.concat([train, test])
    table = pd.DataFrame({"text": table["text"], "labels": [";".join(mapping[i]) for i in table["label"]],
                          "split": table["split"]})  # fmt: skip
    path = out / "banking77-topics.csv"
    table.to_csv(path, index=False)
    tags = [t for row in table["labels"] for t in row.split(";")]
    info = {
        "mapping": mapping,
        "tag_counts": {t: int(c) for t, c in zip(*np.unique(tags, return_counts=True), strict=True)},
        "mean_tags_per_item": float(np.mean([len(r.split(";")) for r in table["labels"]])),
        "n_train": len(train),
        "n_test": len(test),
    }
    return path, info


def mnist_table(root: Path, out: Path, per_digit_train: int, per_digit_test: int, seed: int) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for digit in range(10):
        files = sorted((root / "mnist" / str(digit)).glob("*.png"))
        chosen = rng.permutation(len(files))[: per_digit_train + per_digit_test]
        for k, idx in enumerate(chosen):
            rows.append([str(files[idx]), str(digit), "train" if k < per_digit_train else "test"])
    path = out / "mnist-value.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "value", "split"])
        writer.writerows(rows)
    return path, {"per_digit_train": per_digit_train, "per_digit_test": per_digit_test, "target": "digit value 0-9"}


def run_fit(data: Path, out: Path, **options: Any) -> dict[str, Any]:
    from headstart import api

    load = load_average()
    started = time.perf_counter()
    result = api.fit(data, out=str(out), progress=False, track=False, threads=1, **options)
    wall = time.perf_counter() - started
    row = {
        "options": options,
        "metrics": result.metrics,
        "timings": result.timings,
        "wall_seconds": wall,
        "counts": result.counts,
        "notes": result.notes,
        "load_average_before": load,
        "load_average_after": load_average(),
    }
    print(f"  {options.get('strategy')}: {result.metrics}  ({wall:.1f}s)", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--parts", default="multilabel,regression")
    p.add_argument("--text-strategies", default="linear,baseline")
    p.add_argument("--image-strategies", default="linear,baseline")
    p.add_argument("--n-train", type=int, default=2000, help="banking77 training texts (subsample)")
    p.add_argument("--n-test", type=int, default=1000, help="banking77 test texts (subsample)")
    p.add_argument("--per-digit-train", type=int, default=100)
    p.add_argument("--per-digit-test", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "tasks.json")
    args = p.parse_args(argv)
    require_data(args.data_root / "banking77", "banking77")
    require_data(args.data_root / "mnist", "mnist")
    report: dict[str, Any] = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/tasks.py " + " ".join(argv or sys.argv[1:]),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": machine_info(),
        "results": {},
    }
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        work = Path(tmp)
        if "multilabel" in parts:
            table, info = banking_table(args.data_root, work, args.n_train, args.n_test, args.seed)
            tags = f"{len(info['tag_counts'])} tags, {info['mean_tags_per_item']:.2f} tags per item"
            print(f"banking77 topics: {info['n_train']} train / {info['n_test']} test, {tags}", flush=True)
            runs = {}
            for spec in args.text_strategies.split(","):
                options: dict[str, Any] = {"strategy": spec, "seed": args.seed}
                if spec != "baseline":
                    options["backbone"] = "minilm-l6"
                runs[spec] = run_fit(table, work / f"ml-{spec.replace(':', '-')}", **options)
            report["results"]["banking77_topics"] = {"data": info, "runs": runs}
            write_json(args.out, report)
        if "regression" in parts:
            table, info = mnist_table(args.data_root, work, args.per_digit_train, args.per_digit_test, args.seed)
            print(f"mnist value regression: {info}", flush=True)
            runs = {}
            for spec in args.image_strategies.split(","):
                options = {"strategy": spec, "seed": args.seed, "target": "value"}
                if spec != "baseline":
                    options["backbone"] = "efficientnet-lite0"
                runs[spec] = run_fit(table, work / f"reg-{spec.replace(':', '-')}", **options)
            report["results"]["mnist_value"] = {"data": info, "runs": runs}
    report["load_average_at_end"] = load_average()
    write_json(args.out, report)
    print(f"wrote {args.out}")
    record_tasks(report, args.out)


if __name__ == "__main__":
    main()
