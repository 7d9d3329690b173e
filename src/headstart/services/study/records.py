"""The study's results on disk: one JSON record per finished cell in `results.jsonl`, appended at once."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = "results.jsonl"


def read_records(out: Path) -> list[dict[str, Any]]:
    """Every complete line of `results.jsonl` (a line cut by a kill is ignored)."""
    path = out / RESULTS
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def latest_by_key(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records}


def append_record(out: Path, record: dict[str, Any]) -> None:
    """One JSON line, flushed and synced, so a kill after this loses nothing of this cell."""
    path = out / RESULTS
    torn = path.is_file() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(record, default=json_default) + "\n")  # end a torn line
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def json_default(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return str(value)
