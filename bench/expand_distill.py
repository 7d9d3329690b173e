"""Time `expand --tune-stages` with the parent's logits precomputed once per cached view vs per epoch.

Fits model A on the old classes (as bench/expand.py does), runs one throw-away expansion so every new item's
activations are cached, then alternates the two variants of the same expansion (same seed): the product's
(`WithTeacherLogits`) and the per-epoch reference (the teacher run inside the loss on every batch). Reports
CPU seconds of each expansion and its all-class test accuracy.

    OMP_NUM_THREADS=1 .venv/bin/python bench/expand_distill.py [--dataset flowers] [--strategy partial:2] \
        [--seed 0] [--repeats 2] [--out bench/results/expand-distill.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_ROOT, RESULTS_DIR, load_average, machine_info, require_data, write_json  # noqa: E402
from expand import SETUPS, _choose_classes, _materialise, _timed  # noqa: E402

import headstart  # noqa: E402
from headstart.data import load_dataset, split_dataset  # noqa: E402
from headstart.services.expand import tune  # noqa: E402


def _per_epoch_reference(data: Any, teacher: Any, batch_size: int) -> Any:
    """The data as it is: the loss then runs the teacher on every batch of every epoch."""
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="flowers", choices=sorted(SETUPS))
    parser.add_argument("--strategy", default="partial:2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "expand-distill.json")
    args = parser.parse_args()

    setup = SETUPS[args.dataset]
    path = args.data_root / setup["path"]
    require_data(path, args.dataset)
    ds = load_dataset(str(path))
    splits = split_dataset(ds, test_size=0.2, seed=args.seed)
    train, test = splits.train, splits.test
    assert train.labels is not None and test.labels is not None
    old, new = _choose_classes(setup, ds.classes, args.seed)
    work = Path(tempfile.mkdtemp(prefix="hs-expand-distill-"))
    os.environ["HEADSTART_CACHE"] = str(work / "cache")
    ext = "" if ds.modality == "image" else ".csv"
    old_train = _materialise(train, [i for i, lab in enumerate(train.labels) if lab in old], work / f"old{ext}")
    new_train = _materialise(train, [i for i, lab in enumerate(train.labels) if lab in new], work / f"new{ext}")
    test_all = _materialise(test, list(range(len(test))), work / f"test{ext}")
    fit_options = {"backbone": setup["backbone"], "strategy": args.strategy, "seed": args.seed}
    headstart.fit(str(old_train), out=str(work / "A"), progress=False, track=False, **fit_options)

    def expand(name: str) -> tuple[float, float]:
        _, _, cpu = _timed(
            headstart.expand,
            str(work / "A"),
            str(new_train),
            out=str(work / name),
            progress=False,
            seed=args.seed,
            head_only=False,
            track=False,
        )
        accuracy = headstart.evaluate(str(work / name), str(test_all), progress=False).report.accuracy
        return cpu, float(accuracy)

    expand("warm-up")
    product = tune.WithTeacherLogits
    rows: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for variant in ("per_epoch", "precomputed"):
            tune.WithTeacherLogits = product if variant == "precomputed" else _per_epoch_reference  # type: ignore[misc]
            cpu, accuracy = expand(f"B-{variant}-{repeat}")
            rows.append(
                {
                    "variant": variant,
                    "repeat": repeat,
                    "cpu_s": round(cpu, 2),
                    "accuracy": accuracy,
                    "load": load_average(),
                }
            )
            print(rows[-1], flush=True)
    tune.WithTeacherLogits = product  # type: ignore[misc]
    write_json(
        args.out,
        {
            "machine": machine_info(),
            "args": {k: str(v) for k, v in vars(args).items()},
            "old": old,
            "new": new,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
