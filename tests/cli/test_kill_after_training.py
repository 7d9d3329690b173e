"""Issue 19 item 7: a fit SIGKILLed after training, while testing or while saving, resumes from its last epoch.

The checkpoint used to be deleted as soon as training ended, so a kill during the test step or the bundle save
lost every epoch. A real `headstart fit` process is killed (SIGKILL, no cleanup) at each of those moments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from headstart.train import checkpoint_path
from tests.conftest import make_image_folder

# Runs the real CLI in a process that kills itself (SIGKILL: no handler, no cleanup) at the chosen moment.
DRIVER = """
import os, signal, sys
import headstart.bundle
from headstart.cli.main import run
from headstart.strategies.finetune import FinetuneModel

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "testing":
    FinetuneModel.predict_dataset = die  # the test step right after training
else:
    headstart.bundle.save_file = die  # inside save_bundle, the head weights half-written
sys.argv = ["headstart", *sys.argv[2:]]
run()
"""
EPOCHS = 3


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "fit", str(data), "--backbone", "test-cnn", "--strategy", "partial:1", "--max-epochs", str(EPOCHS),
        "--patience", "0", "--seed", "1", "--out", str(out), "--no-track", "--json", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data_and_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("killed")
    data = make_image_folder(root / "images", per_class=10, size=24)
    env = {**os.environ, "HEADSTART_CACHE": str(root / "cache")}
    reference = root / "reference"
    run = [sys.executable, "-m", "headstart", *fit_args(data, reference)]
    subprocess.run(run, env=env, check=True, capture_output=True, timeout=300)
    return data, reference, env


@pytest.mark.parametrize("moment", ["testing", "saving"])
def test_a_fit_killed_after_training_resumes_without_training_again(
    data_and_reference: tuple[Path, Path, dict[str, str]], tmp_path: Path, moment: str
) -> None:
    data, reference, env = data_and_reference
    out = tmp_path / "model"
    killed = subprocess.run(
        [sys.executable, "-c", DRIVER, moment, *fit_args(data, out)], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert checkpoint_path(out).is_file(), "the checkpoint must outlive training until the bundle is saved"
    assert not out.exists()
    assert not list(tmp_path.glob(".model.tmp-*")) or moment == "saving"  # a kill mid-save leaves only a hidden tmp

    resumed = subprocess.run(
        [sys.executable, "-m", "headstart", *fit_args(data, out, "--resume")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    notes = json.loads(resumed.stdout)["notes"]
    assert f"resumed from the checkpoint of epoch {EPOCHS}" in notes, notes
    assert not checkpoint_path(out).exists()  # removed once the bundle is saved
    expected, actual = load_file(str(reference / "head.safetensors")), load_file(str(out / "head.safetensors"))
    assert expected.keys() == actual.keys()
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)
