"""bench/audio.py's record: the goal is met only when speaker ID beats every reference (>= 0.98 at k=10) and the
extraction is >= 5x resemblyzer's loop; the digits verdict is recorded as the study gave it."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from tests.bench._load import bench_module


def study(task: str, accuracies: dict[tuple[str, int], float], negative: list[str]) -> dict:
    summary = [{"strategy": s, "budget": str(k), "accuracy": a} for (s, k), a in accuracies.items()]
    verdict = {"headline": f"{task} headline", "negative_transfer_budgets": negative}
    return {"result": {"summary": summary, "verdict": verdict}, "seconds": 1.0}


def speaker(k10: float) -> dict:
    values = {("linear", 1): 0.75, ("linear", 3): 0.9, ("linear", 10): k10, ("baseline", 10): 0.92}
    return study("speaker", values, [])


def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k10: float, speedup: float) -> dict:
    audio = bench_module("audio")
    monkeypatch.setenv("HEADSTART_BENCH_LATEST", str(tmp_path))
    timing = {"headstart_per_s": 35.0, "resemblyzer_per_s": 35.0 / speedup, "speedup": speedup, "max_abs_diff": 1e-7}
    digits = study("digits", {("linear", 5): 0.5, ("baseline", 5): 0.56}, ["5"])
    args = argparse.Namespace(seeds=3, threads=2)
    audio.record({"speaker": speaker(k10), "digits": digits}, timing, args, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    return json.loads((tmp_path / "audio-fsdd.json").read_text())


def test_met_needs_098_at_ten_clips_and_5x(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert record(tmp_path, monkeypatch, 0.985, 6.0)["status"] == "met"
    assert record(tmp_path, monkeypatch, 0.966, 24.0)["status"] == "partly met"
    assert record(tmp_path, monkeypatch, 0.985, 4.0)["status"] == "partly met"


def test_record_names_the_digits_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = record(tmp_path, monkeypatch, 0.966, 24.0)
    assert any("digits study verdict" in n and "Negative transfer at k = 5" in n for n in doc["notes"])
    assert ["speaker", 10, "0.966", "-", "-", "0.920", "-", "0.962"] in doc["table"]["rows"]


def test_record_shows_ge2e_d_vectors_beside_the_default_pooling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = bench_module("audio")
    monkeypatch.setenv("HEADSTART_BENCH_LATEST", str(tmp_path))
    ge2e = {"speaker": study("speaker", {("linear", 10): 0.966}, [])}
    args = argparse.Namespace(seeds=3, threads=2)
    audio.record({"speaker": speaker(0.985)}, None, args, [[1.0, 1.0, 1.0]], None, ge2e)
    doc = json.loads((tmp_path / "audio-fsdd.json").read_text())
    assert ["speaker", 10, "0.985", "0.966", "-", "0.920", "-", "0.962"] in doc["table"]["rows"]
    assert "0.750/0.900/0.985 (GE2E d-vectors: -/-/0.966)" in doc["figure"]


def test_fsdd_table_puts_index_0_to_4_in_test(tmp_path: Path) -> None:
    audio = bench_module("audio")
    for name in ("3_jackson_0.wav", "3_jackson_12.wav", "7_theo_4.wav"):
        (tmp_path / "fsdd" / name[0]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "fsdd" / name[0] / name).write_bytes(b"")
    table = audio.fsdd_table(tmp_path / "fsdd", "speaker", tmp_path / "t.csv")
    rows = {Path(r["path"]).name: r for r in csv.DictReader(table.open())}
    assert rows["3_jackson_0.wav"]["split"] == "test" and rows["3_jackson_12.wav"]["split"] == "train"
    assert rows["7_theo_4.wav"]["label"] == "theo"
