"""The study report renders in headless Chromium (Debian `chromium`) and the screenshot is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart.report import write_report
from headstart.services.study import summarize, verdict

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _record(strategy: str, budget: int, seed: int, accuracy: float) -> dict:
    history = [{"epoch": e, "val_accuracy": min(1.0, accuracy * (0.5 + 0.1 * e))} for e in range(1, 6)]
    return {
        "key": f"{strategy}|{budget}|{seed}", "strategy": strategy, "family": strategy.partition(":")[0],
        "transfer": strategy not in ("scratch", "baseline"), "budget": str(budget), "labels_per_class": budget,
        "seed": seed, "status": "ok", "accuracy": accuracy, "macro_f1": accuracy, "n_train": 3 * budget,
        "n_labelled": 3 * budget, "n_classes": 3, "n_test": 30, "fit_seconds": 1.0 + budget, "cpu_seconds": 2.0,
        "peak_rss_mb": 500.0, "energy_kwh": 1e-5 * budget, "co2_g": 5e-3 * budget, "energy_label": "estimated",
        "measured": False, "method": "estimated: test", "carbon_intensity_g_per_kwh": 475.0,
        "history": history if strategy in ("partial:1", "scratch") else [],
    }  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_report_renders_to_a_non_blank_screenshot(tmp_path: Path) -> None:
    records = [
        _record(s, b, seed, acc + 0.02 * seed + 0.004 * b)
        for s, acc in (("linear", 0.7), ("partial:1", 0.75), ("scratch", 0.4), ("baseline", 0.5))
        for b in (2, 10)
        for seed in (0, 1)
    ]
    summary = summarize(records)
    doc = {
        "status": "complete", "updated": "now", "country": "WORLD", "notes": [],
        "frame": {"data": "synthetic", "backbone": "test", "n_items": 90, "classes": ["a", "b", "c"],
                  "modality": "image", "split_counts": {"train": 60, "validation": 0, "test": 30}},
        "grid": {"strategies": ["linear", "partial:1", "scratch", "baseline"], "budgets": ["2", "10"], "seeds": 2,
                 "cells": len(records), "done": len(records)},
        "summary": summary, "verdict": verdict(summary),
    }  # fmt: skip
    report = write_report(tmp_path / "report.html", doc, records)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,2400",
         f"--screenshot={shot}", report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[0] >= 2000
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # text and figures, not an empty page
    assert (pixels < 100).any()  # dark text was drawn
