"""The files for machines: `results.csv`, `results.parquet` and `study.json` (written atomically)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headstart.config import StudyConfig
from headstart.services.study.grid import Cell, budget_label
from headstart.services.study.records import json_default, latest_by_key, read_records

TABLE_COLUMNS = (
    "key", "strategy", "family", "transfer", "budget", "labels_per_class", "seed", "status", "accuracy", "macro_f1",
    "ece", "n_labelled", "n_train", "n_test", "n_classes", "fit_seconds", "cpu_seconds", "peak_rss_mb",
    "rss_increase_mb", "predict_seconds", "energy_kwh", "co2_g", "energy_label", "measured", "method", "country",
    "carbon_intensity_g_per_kwh", "features_cached", "features_computed", "epochs", "error", "finished",
)  # fmt: skip


def write_tables(out: Path, records: list[dict[str, Any]]) -> None:
    """`results.csv` and `results.parquet`: one row per cell of the grid (histories stay in study.json)."""
    import pandas as pd

    frame = pd.DataFrame(
        [{c: r.get(c) for c in TABLE_COLUMNS} for r in records],
        columns=list(TABLE_COLUMNS),
    )
    frame["labels_per_class"] = frame["labels_per_class"].astype("Int64")
    frame["epochs"] = frame["epochs"].astype("Int64")
    frame.to_csv(out / "results.csv", index=False)
    try:
        frame.astype({"measured": "boolean"}).to_parquet(out / "results.parquet", index=False)
    except (
        ImportError,
        ValueError,
    ) as err:  # no parquet engine: the CSV is still there
        (out / "results.parquet.missing").write_text(f"parquet not written: {err}\n", encoding="utf-8")


def write_study_json(
    out: Path,
    config: StudyConfig,
    frame: dict[str, Any],
    country: str,
    *,
    status: str,
    cells: list[Cell],
    summary: list[dict[str, Any]] | None = None,
    verdict: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    records = latest_by_key(read_records(out))
    doc = {
        "format": 1,
        "status": status,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "frame": frame,
        "config": config.model_dump(exclude={"progress"}),
        "country": country,
        "grid": {
            "strategies": config.strategies,
            "budgets": [budget_label(b) for b in config.budgets],
            "seeds": config.seeds,
            "cells": len(cells),
            "done": sum(records.get(c.key, {}).get("status") == "ok" for c in cells),
        },
        "summary": summary or [],
        "verdict": verdict or {},
        "cells": [records[c.key] for c in cells if c.key in records],
        "notes": notes or [],
        "measurement": {
            "fit_seconds": "wall time of the strategy's fit (training part only; feature extraction included "
            "for items not yet in the cache)",
            "cpu_seconds": "user + system CPU time of the process and its children during the fit (getrusage)",
            "peak_rss_mb": "highest resident set size of the process during the fit, sampled every 50 ms (psutil)",
            "energy": "CodeCarbon offline tracker around the fit; `measured` only when RAPL-type counters were read",
        },
    }
    tmp = out / "study.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=json_default), encoding="utf-8")
    tmp.replace(out / "study.json")
    return doc
