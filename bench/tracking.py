"""Overhead of MLflow tracking on a small fit: the same fit tracked and untracked, plus store creation.

Runs in one process on a temporary copy of a tiny synthetic image folder with the `test-cnn` backbone
(features cached after a warm-up), so the difference is tracking itself: opening the store, logging params,
metrics, the items digest file and the bundle artifact. Also times a cold store (first fit ever) and the
MLflow import, which a fresh `headstart fit` process pays once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import RESULTS_DIR, machine_info, write_json  # noqa: E402
from goals import record_tracking  # noqa: E402

IMPORT_TIMER = "import time; t = time.perf_counter(); import mlflow; print(time.perf_counter() - t)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "tracking.json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="headstart-bench-tracking-"))
    os.environ["HEADSTART_CACHE"] = str(tmp / "cache")
    os.environ["HEADSTART_TRACKING_URI"] = str(tmp / "runs")
    import_seconds = float(
        subprocess.run(
            [sys.executable, "-c", IMPORT_TIMER],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    from headstart import api
    from tests.conftest import make_image_folder

    data = make_image_folder(tmp / "data", per_class=args.per_class)

    def timed(**options: object) -> float:
        t = time.perf_counter()
        api.fit(data, backbone="test-cnn", out=str(tmp / "model"), progress=False, **options)
        return time.perf_counter() - t

    timed(track=False)  # warm the feature cache and the ONNX export
    cold = timed(track=True)  # creates the SQLite store (schema migrations)
    untracked, tracked = [], []
    for _ in range(args.repeats):
        untracked.append(timed(track=False))
        tracked.append(timed(track=True))
    result = {
        "machine": machine_info(),
        "items": 3 * args.per_class,
        "repeats": args.repeats,
        "mlflow_import_seconds": import_seconds,
        "first_tracked_fit_seconds_cold_store": cold,
        "untracked_fit_seconds_median": statistics.median(untracked),
        "tracked_fit_seconds_median": statistics.median(tracked),
        "overhead_seconds_median": statistics.median(tracked) - statistics.median(untracked),
        "untracked": untracked,
        "tracked": tracked,
    }
    write_json(args.out, result)
    for key, value in result.items():
        if key not in ("machine", "untracked", "tracked"):
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    record_tracking(result, args.out)


if __name__ == "__main__":
    main()
