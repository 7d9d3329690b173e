"""The Ray engine on a local 2-CPU Ray instance: identical features, identical study tables, a killed worker."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.backbones import get_backbone
from headstart.cli.main import app
from headstart.commands import fit as fit_command
from headstart.data import load_dataset
from headstart.engines import use_engine
from headstart.feature_store import FeatureStore
from headstart.features import extract_features
from tests.audio_data import make_audio_folder, tone, write
from tests.conftest import make_image_folder, make_text_csv
from tests.engines.conftest import RAY_MISSING

pytestmark = [
    pytest.mark.skipif(RAY_MISSING, reason="ray is not installed (pip install 'headstart[ray]' or the test extra)"),
    pytest.mark.timeout(300),
]
TABLE = (
    "key",
    "strategy",
    "budget",
    "seed",
    "status",
    "accuracy",
    "macro_f1",
    "ece",
    "n_labelled",
    "n_train",
    "n_test",
)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_image_folder(tmp_path_factory.mktemp("ray-data") / "images", per_class=14)
    (root / "red" / "broken.png").write_bytes(b"not an image")  # skipped the same way by both engines
    return root


def test_ray_extraction_is_bit_identical_to_local_and_resumable(
    ray_instance: Any, images: Path, tmp_path: Path
) -> None:
    backbone = get_backbone("test-cnn")
    dataset = load_dataset(str(images))
    local = extract_features(backbone, dataset, store=FeatureStore(tmp_path / "local"), batch_size=8, progress=False)
    with use_engine("ray"):
        distributed = extract_features(
            backbone, dataset, store=FeatureStore(tmp_path / "ray"), batch_size=8, progress=False
        )
        again = extract_features(backbone, dataset, store=FeatureStore(tmp_path / "ray"), batch_size=8, progress=False)
    assert distributed.features.dtype == np.float32 and distributed.features.shape == local.features.shape
    assert distributed.features.tobytes() == local.features.tobytes()  # bit-identical
    assert np.array_equal(distributed.kept, local.kept)
    assert not distributed.skipped and not local.skipped  # the broken file is left out when loading
    assert distributed.n_computed == len(dataset) == local.n_computed
    # the workers wrote chunks into the store: a rerun computes nothing and reads the same rows
    assert again.n_computed == 0 and again.features.tobytes() == local.features.tobytes()
    assert len(list((tmp_path / "ray").glob("*/chunk-*.npy"))) >= 2  # several shards, one chunk each


def test_ray_text_extraction_is_bit_identical(ray_instance: Any, tmp_path: Path) -> None:
    """Texts are padded per batch: the Ray shards keep the local engine's batches, so padding is the same."""
    backbone = get_backbone("test-text")
    dataset = load_dataset(str(make_text_csv(tmp_path / "texts.csv", repeats=3)))
    local = extract_features(backbone, dataset, store=FeatureStore(tmp_path / "local"), batch_size=5, progress=False)
    with use_engine("ray"):
        distributed = extract_features(
            backbone, dataset, store=FeatureStore(tmp_path / "ray"), batch_size=5, progress=False
        )
    assert distributed.features.tobytes() == local.features.tobytes()


def test_ray_audio_extraction_runs_long_recordings_in_window_chunks_like_local(
    ray_instance: Any, tmp_path: Path
) -> None:
    """A 30 s recording (38 windows) is run 16 windows per pass by the workers too: the same numbers as local (to
    float32 rounding: the workers' batches hold other recordings, so the LSTM's matrix products see other sizes)."""
    backbone = get_backbone("test-audio")
    root = make_audio_folder(tmp_path / "voices", per_class=3)
    write(root / "high" / "long.wav", tone(700, 30.0))
    dataset = load_dataset(str(root))
    assert backbone.windows_per_pass is not None and backbone.windows_per_pass < 38
    local = extract_features(backbone, dataset, store=FeatureStore(tmp_path / "local"), batch_size=4, progress=False)
    with use_engine("ray"):
        distributed = extract_features(
            backbone, dataset, store=FeatureStore(tmp_path / "ray"), batch_size=4, progress=False
        )
    assert distributed.features.shape == local.features.shape == (7, 16)
    assert np.max(np.abs(distributed.features - local.features)) < 1e-6


def test_cli_fit_with_ray_engine_matches_local(
    ray_instance: Any, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    args = ["fit", str(images), "--backbone", "test-cnn", "--no-track", "--json"]
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache-local"))
    local = runner.invoke(app, [*args, "--out", str(tmp_path / "local")])
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache-ray"))  # nothing cached: Ray computes it all
    distributed = runner.invoke(app, [*args, "--out", str(tmp_path / "ray"), "--engine", "ray"])
    assert local.exit_code == 0, local.output
    assert distributed.exit_code == 0, distributed.output
    a, b = json.loads(local.stdout), json.loads(distributed.stdout)
    assert b["counts"]["features_computed"] == a["counts"]["features_computed"] > 0
    assert b["metrics"] == a["metrics"]
    assert list((tmp_path / "cache-ray" / "features").glob("*/chunk-*.npy"))


def _table(out: Path) -> list[tuple[str, ...]]:
    with open(out / "results.csv") as f:
        return sorted(tuple(row[c] for c in TABLE) for row in csv.DictReader(f))


def test_study_over_ray_gives_the_local_results_table(ray_instance: Any, images: Path, tmp_path: Path) -> None:
    grid = {"backbone": "test-cnn", "strategies": "linear,baseline", "budgets": "3,all", "seeds": 2}
    options = {**grid, "energy": False, "progress": False, "threads": 1}
    local = api.study(images, out=str(tmp_path / "local"), **options)
    events: list[str] = []
    distributed = api.study(
        images, out=str(tmp_path / "ray"), engine="ray", on_event=lambda name, **_: events.append(name), **options
    )
    assert local.status == distributed.status == "complete"
    assert distributed.cells_done == local.cells_done == 8
    assert _table(tmp_path / "ray") == _table(tmp_path / "local")
    assert {"extracting", "running"} <= set(events) and events.count("cell_end") == 8
    # the same resumable results file: a rerun over Ray has nothing left to do
    rerun = api.study(images, out=str(tmp_path / "ray"), engine="ray", **options)
    assert rerun.cells_run == 0 and rerun.status == "complete"


def _kill_first_cell_worker(stop: threading.Event, killed: list[int]) -> None:
    """Send SIGKILL to the first Ray worker process seen running a study cell (title `ray::headstart_cell`)."""
    import psutil

    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if cmdline.startswith("ray::headstart_cell"):
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.01)


def test_killing_a_worker_mid_study_still_completes_every_cell(ray_instance: Any, images: Path, tmp_path: Path) -> None:
    grid = {"backbone": "test-cnn", "strategies": "linear,scratch", "budgets": "4,all", "seeds": 2}
    options = {**grid, "max_epochs": 3, "energy": False, "progress": False, "threads": 1}
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_cell_worker, args=(stop, killed), daemon=True)
    killer.start()
    try:
        result = api.study(images, out=str(tmp_path / "out"), engine="ray", **options)
    finally:
        stop.set()
        killer.join(timeout=5)
    assert killed, "no Ray worker was seen running a cell"
    import psutil

    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert result.status == "complete" and result.cells_done == result.cells_total == 8
    with open(tmp_path / "out" / "results.jsonl") as f:
        keys = [json.loads(line)["key"] for line in f]
    assert len(keys) == len(set(keys)) == 8  # the killed cell was retried once, recorded once


def test_a_run_fitted_on_ray_reproduces_locally(
    ray_instance: Any, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    original = api.fit(images, backbone="test-cnn", engine="ray", out=str(tmp_path / "m"), progress=False)
    assert original.run_id
    engines: list[str] = []
    real_use_engine = fit_command.use_engine

    def spy(name: str, **kwargs: Any) -> Any:
        engines.append(name)
        return real_use_engine(name, **kwargs)

    monkeypatch.setattr(fit_command, "use_engine", spy)  # where reproduce's fit looks it up
    again = api.reproduce(original.run_id, out=tmp_path / "again", progress=False)
    assert engines == ["local"]  # where a run executed is not part of its result: no cluster needed
    assert again.matches, again
