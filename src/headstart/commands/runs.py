"""`runs` and `runs show`: the tracked runs of the store in use, filtered by data, strategy and kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

from headstart import tracking
from headstart.data import load_dataset
from headstart.data.modalities import item_digests
from headstart.errors import HeadstartError, UsageError

DATA_OPTIONS = ("text_column", "label_column", "task", "target", "separator")
RECENT_RUNS = 500  # how many of the newest runs `runs --data` reads their data options from


def runs(
    *, data: str | None = None, strategy: str | None = None, kind: str | None = None, limit: int = 20
) -> list[tracking.RunRecord]:
    """Tracked runs, newest first; `data` is a dataset path (matched by path or current fingerprint) or a
    fingerprint prefix."""
    if limit < 1:
        raise UsageError(f"limit={limit} is not a run count", expected="an integer >= 1", fix="pass --limit 20")
    paths: list[str] = []
    fingerprints: list[str] = []
    if data and Path(data).exists():
        paths.append(str(Path(data).resolve()))
        for options in recorded_data_options(kind, strategy):  # a run's fingerprint is of the data as it read it
            try:
                dataset = load_dataset(str(data), **options, on_bad="skip")
                fingerprints.append(dataset.fingerprint(item_digests(dataset)))
            except HeadstartError:
                continue  # e.g. a target column this data lacks: runs are still matched by path
        fingerprints = list(dict.fromkeys(fingerprints))
    elif data:
        if not all(c in "0123456789abcdef" for c in data.lower()):
            raise UsageError(
                f"--data {data!r} is neither an existing path nor a data fingerprint",
                expected="a dataset path, or a fingerprint prefix (hex digits, shown by `headstart runs show`)",
                fix="check the path (relative to this directory)",
            )
        fingerprints.append(data.lower())
    return tracking.search_runs(kind=kind, strategy=strategy, data_paths=paths, fingerprints=fingerprints, limit=limit)


class DataReading(TypedDict):
    """How a run read its data: the `load_dataset` keywords it was given."""

    text_column: str | None
    label_column: str | None
    task: str
    target: str | None
    separator: str


def recorded_data_options(kind: str | None, strategy: str | None) -> list[DataReading]:
    """The distinct ways the store's newest runs read their data (columns, task, target, separator), defaults
    first: `runs --data` reads the data each way, so it finds a run whose data moved whatever its task kind."""
    found: list[DataReading] = [
        {"text_column": None, "label_column": None, "task": "auto", "target": None, "separator": ";"}
    ]
    for run in tracking.search_runs(kind=kind, strategy=strategy, limit=RECENT_RUNS):
        if not set(DATA_OPTIONS) <= set(run.params):
            continue
        params = run.params
        options: DataReading = {
            "text_column": _logged_text(params["text_column"]),
            "label_column": _logged_text(params["label_column"]),
            "task": params["task"],
            "target": _logged_text(params["target"]),
            "separator": params["separator"],
        }
        if options not in found:
            found.append(options)
    return found


def _logged_text(value: str) -> str | None:
    """A logged parameter that may be None: MLflow holds it as JSON (`null`) when it is not a string."""
    return None if value == json.dumps(None) else value


def tracking_store() -> str:
    """The tracking store in use: `$HEADSTART_TRACKING_URI`, else `./headstart-runs/` (a SQLite file)."""
    return tracking.tracking_uri()


def run_details(run_id: str) -> tracking.RunRecord:
    """One tracked run (full id or a unique prefix): params, metrics, tags and artifact list."""
    record = tracking.find_run(run_id)
    if record is None:
        raise UsageError(
            f"no run {run_id!r} in the tracking store {tracking.tracking_uri()}",
            expected="a run id listed by `headstart runs`",
            fix=f"run `headstart runs`, or set ${tracking.ENV_URI} to the store the run was recorded in",
        )
    return record
