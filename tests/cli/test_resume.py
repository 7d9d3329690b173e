"""Kill a real `headstart fit` process mid-training, resume it, and get the uninterrupted result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from tests.conftest import make_image_folder


def fit_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "headstart", "fit", str(data), "--backbone", "test-cnn", "--strategy", "partial:1",
        "--max-epochs", "25", "--patience", "0", "--seed", "3", "--views", "2", "--out", str(out), "--json", *extra,
    ]  # fmt: skip


def test_killed_fit_resumes_to_the_same_weights(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "images", per_class=80, size=64)
    env = {**os.environ, "HEADSTART_CACHE": str(tmp_path / "cache")}
    reference = tmp_path / "reference"
    subprocess.run(fit_command(data, reference), env=env, check=True, capture_output=True, timeout=300)

    out = tmp_path / "interrupted"
    checkpoint = out.with_name(f".{out.name}.checkpoint.pt")
    process = subprocess.Popen(fit_command(data, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert process.returncode != 0, "the fit finished before it could be killed; make the run longer"
    assert checkpoint.exists() and not out.exists()

    resumed = subprocess.run(
        fit_command(data, out, "--resume"), env=env, capture_output=True, text=True, timeout=300, check=True
    )
    notes = json.loads(resumed.stdout)["notes"]
    assert any(note.startswith("resumed from the checkpoint of epoch") for note in notes), notes
    assert not checkpoint.exists()  # removed once the bundle is saved
    expected = load_file(str(reference / "head.safetensors"))
    actual = load_file(str(out / "head.safetensors"))
    assert expected.keys() == actual.keys()
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)
