"""int8 gives the same answers on every x86 CPU: weights that cannot saturate ONNX Runtime's AVX2 kernels, a
parity check on the machine that runs it, and fp32 with a note when the check fails."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from headstart import runtime
from headstart.backbones import get_backbone
from headstart.runtime import INT8_PARITY_ATOL, FrozenRunner
from tests.features.test_runtime_buckets import TEXTS

QEMU = shutil.which("qemu-x86_64")
# ONNX Runtime picks its int8 kernels by CPUID; qemu-user's Haswell model reports AVX2 and FMA without any AVX-512
# or VNNI, so MLAS runs MlasGemmU8S8KernelAvx2 (vpmaddubsw, int16 pair sums) there, as on the AMD EPYC of issue 19.
AVX2_ONLY_CPU = "Haswell"
RUN_INT8 = """
import json, sys
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.log_severity_level = 3
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
inputs = dict(np.load(sys.argv[2]))
np.save(sys.argv[3], session.run(None, inputs)[0])
"""


def test_int8_weights_cannot_saturate_int16_pair_sums() -> None:
    """u8 activations times s8 weights, summed in pairs into int16 by the non-VNNI kernels: 255 * |w| * 2 must fit."""
    runner = FrozenRunner(get_backbone("test-text"), precision="int8")
    assert runner.running_precision == "int8" and runner.degraded is None
    graph = onnx.load(str(runner.onnx_path)).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights, "no int8 weights in the quantized graph"
    largest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert 255 * largest * 2 <= np.iinfo(np.int16).max, largest


@pytest.mark.skipif(
    QEMU is None or platform.machine() != "x86_64",
    reason="emulating an AVX2-only CPU needs qemu-user on x86_64 (apt install qemu-user)",
)
def test_int8_agrees_on_an_avx2_only_cpu(tmp_path: Path) -> None:
    """The same int8 graph run by ONNX Runtime on an emulated AVX2-only CPU: as close to torch as here, bit for bit
    the numbers this CPU computes (with 8-bit weights it drifted 0.23 there, over the 0.21 allowed)."""
    backbone = get_backbone("test-text")
    x = backbone.preprocess(TEXTS)
    runner = FrozenRunner(backbone, precision="int8")
    want = FrozenRunner(backbone, engine="torch")(x)
    here = runner._session.run(None, x)[0]
    np.savez(tmp_path / "inputs.npz", **x)
    script = tmp_path / "run_int8.py"
    script.write_text(RUN_INT8)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [QEMU, "-cpu", AVX2_ONLY_CPU, sys.executable, str(script), str(runner.onnx_path)]
    done = subprocess.run(
        [*command, str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")],
        capture_output=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    there = np.load(tmp_path / "out.npy")
    limit = INT8_PARITY_ATOL * max(1.0, float(np.abs(want).max()))
    assert float(np.abs(there - want).max()) <= limit
    np.testing.assert_allclose(there, here, atol=1e-5)


def test_int8_falls_back_to_fp32_with_a_note_when_it_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = get_backbone("test-text")
    x = backbone.preprocess(TEXTS)
    monkeypatch.setattr(runtime, "INT8_PARITY_ATOL", 0.0)  # any int8 rounding now counts as poor agreement
    with pytest.warns(UserWarning, match="int8 disagrees"):
        runner = FrozenRunner(backbone, precision="int8")
    assert runner.precision == "int8" and runner.running_precision == "fp32"
    assert "int8 disagrees with fp32 on this CPU" in runner.degraded and "running fp32" in runner.degraded
    assert not runner.onnx_path.stem.endswith("-int8")
    np.testing.assert_allclose(runner(x), FrozenRunner(backbone)(x), atol=1e-6)


def test_quantized_file_is_named_by_its_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache holding an int8 file of another scheme (e.g. 8-bit weights) is never reused for this one."""
    backbone = get_backbone("test-text")
    first = FrozenRunner(backbone, precision="int8").onnx_path
    monkeypatch.setattr(runtime, "INT8_SCHEME", {**runtime.INT8_SCHEME, "reduce_range": False})
    second = FrozenRunner(backbone, precision="int8").onnx_path
    assert first != second and first.is_file() and second.is_file()
