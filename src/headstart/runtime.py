"""The frozen part of a backbone compiled to ONNX Runtime: exported once per key, cached, run in batches.

`FrozenRunner(backbone, stop, pooled)` runs stages[0:stop] (then the pool when `pooled`) either in ONNX
Runtime (default) or eagerly in torch (`engine="torch"`, the parity reference). Each export is checked
against torch on the backbone's example inputs before it is kept, so a wrong export fails loudly.
`export_onnx`, `open_session` and `atomic_onnx` are shared with `headstart.export` (whole-bundle exports).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from headstart.backbones.base import Backbone
from headstart.cache import cache_dir
from headstart.errors import BackboneError, ExportParityError
from headstart.files import share_like_umask

Engine = Literal["auto", "onnxruntime", "torch"]
Precision = Literal["fp32", "int8"]
EXPORT_FORMAT = 1  # bump when the export procedure changes, to invalidate cached files
OPSET = 18
PARITY_ATOL = 1e-3
# int8 (dynamic quantization of MatMul/Gemm weights, per channel) is an approximation: its check is looser.
# Its fidelity on MiniLM: BENCHMARKS.md, "int8 serving" (the same on AVX2-only and AVX-512 VNNI CPUs).
INT8_PARITY_ATOL = 0.1
# Weights are int8 in 7 bits (reduce_range), per output channel. Without VNNI, ONNX Runtime's u8s8 kernels sum
# pairs of u8*s8 products in int16 (vpmaddubsw), which saturates for 8-bit weights (255*127*2 > 32767): on an
# AVX2-only CPU test-text's features then drifted 0.23 from torch. With 7-bit weights a pair is at most
# 255*64*2 = 32640, so no CPU saturates and every CPU computes the same numbers, at the speed of the u8s8 kernels.
INT8_SCHEME = {"weight_type": "QInt8", "per_channel": True, "reduce_range": True}
# Pooled text batches run as length-sorted groups of this many rows, each cut to its own longest text:
# one batch padded to its longest text wastes about half its compute on padding for SST-2-like lengths.
BUCKET_ROWS = 8
log = logging.getLogger(__name__)
export_count = 0  # exports performed by this process (tests check reuse with it)

if TYPE_CHECKING:  # torch loads only to export, check parity or run eagerly: a cached export runs without it
    import torch
    from torch import nn


def __getattr__(name: str) -> Any:
    """The torch modules exported (`Prefix`, `_PooledCuts`) live in `runtime_modules`, loaded on first use."""
    if name in ("Prefix", "_PooledCuts"):
        from headstart import runtime_modules

        return getattr(runtime_modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_threads() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_key(backbone: Backbone, stop: int, pooled: bool) -> str:
    """Everything the exported graph depends on, hashed (versions read from package metadata: no import)."""
    parts: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "name": backbone.name,
        "weights": backbone.weights_sha256,
        "stages": backbone.stages,
        "stop": stop,
        "pooled": pooled,
        "preprocess": backbone.preprocess_config(),
        "exporter": backbone.onnx_exporter,
        "opset": OPSET,
        "torch": metadata.version("torch"),
        "onnx": metadata.version("onnx"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


@contextlib.contextmanager
def atomic_onnx(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that replaces `path` only when the block succeeds; removed either way."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        share_like_umask(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        for extra in tmp.parent.glob(tmp.name + "*.data"):
            extra.unlink(missing_ok=True)


def export_onnx(module: nn.Module, backbone: Backbone, path: Path, output: str, output_axes: dict[int, str]) -> None:
    """Compile `module(*inputs)` to ONNX at `path` with the exporter the backbone needs, traced on its example inputs.

    Quiet: torch.onnx notices, warnings and the dynamo exporter's progress on stdout are swallowed.
    `output_axes` names the output's dynamic axes for the legacy exporter (dynamo infers them).
    """
    import torch

    names = list(backbone.input_names)
    example = backbone.example_inputs(batch=2)
    args = tuple(torch.from_numpy(example[n]) for n in names)
    axes = backbone.dynamic_axes()
    torch_onnx_log = logging.getLogger("torch.onnx")
    level = torch_onnx_log.level
    torch_onnx_log.setLevel(logging.ERROR)  # e.g. "torchvision is not installed" notices
    try:
        # no_grad: with trainable parameters (a fine-tuned top) torch.export keeps autograd views whose strides
        # BEiT's attention reshape cannot be decomposed from; inference needs no gradients anyway
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            if backbone.onnx_exporter == "dynamo":
                _export_dynamo(module, backbone, names, args, axes, path, output)
            else:
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    input_names=names,
                    output_names=[output],
                    dynamic_axes={**axes, output: output_axes},
                    opset_version=OPSET,
                    dynamo=False,
                    do_constant_folding=True,
                )
    finally:
        torch_onnx_log.setLevel(level)


def _export_dynamo(
    module: nn.Module,
    backbone: Backbone,
    names: list[str],
    args: tuple[torch.Tensor, ...],
    axes: dict[str, dict[int, str]],
    path: Path,
    output: str,
) -> None:
    """The dynamo exporter with one `Dim` per axis label (needed for transformers)."""
    import torch
    from torch.export import Dim

    dims: dict[str, Any] = {}
    shapes = []
    for n in names:
        spec = {}
        for axis, label in axes[n].items():
            if label not in dims:
                top = int(backbone.input_size) if label == "sequence" else 1 << 20
                dims[label] = Dim(label, min=1, max=top)
            spec[axis] = dims[label]
        shapes.append(spec)
    program = torch.onnx.export(
        module,
        args,
        input_names=names,
        output_names=[output],
        dynamic_shapes={"inputs": tuple(shapes)},
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        optimize=True,
        verbose=False,
    )
    if program is None:  # the dynamo exporter returns its program; None would be a torch change
        raise BackboneError(f"torch.onnx.export returned no program for {backbone.name}", fix="report this bug")
    program.save(str(path), external_data=False)


def open_session(path: Path, threads: int | None = None, spin: bool = False) -> Any:
    """A quiet CPU ONNX Runtime session; `threads=None` leaves the intra-op thread count to ONNX Runtime.

    Idle intra-op threads do not spin (`spin=False`): on shared cores spinning threads take CPU from the
    other threads of the same run and from the HTTP server, which doubled single-text latency under load.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Swallow records sent to the root logger (the quantizer's "consider pre-processing" notice) without
    letting `logging.warning` install a stderr handler on it as a side effect."""
    root = logging.getLogger()
    handler, level = logging.NullHandler(), root.level
    root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _scheme_tag() -> str:
    """A short tag of `INT8_SCHEME` for the cached file's name, so a changed scheme never reuses an old file."""
    return hashlib.sha256(json.dumps(INT8_SCHEME, sort_keys=True).encode()).hexdigest()[:8]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


class FrozenRunner:
    """Run the frozen prefix stages[0:stop] of `backbone` on preprocessed inputs; returns float32 arrays.

    `pooled=True` gives (N, D) features pooled at the cut; `pooled=False` gives the activation at the cut
    (`backbone.activation_key`; for text the padding mask is the input's `attention_mask`).
    `precision="int8"` runs a dynamically quantized copy of the export (opt-in: faster, within `INT8_PARITY_ATOL`
    of torch; a row's result then depends slightly on its batch). Its agreement is checked on this CPU each time
    the runner opens: when it is poor, the runner runs fp32 and says why in `degraded`.
    """

    def __init__(
        self,
        backbone: Backbone,
        stop: int | None = None,
        pooled: bool = True,
        threads: int | None = None,
        engine: Engine = "auto",
        precision: Precision = "fp32",
    ) -> None:
        n = len(backbone.stages)
        stop = n if stop is None else stop
        if not 1 <= stop <= n:
            raise BackboneError(
                f"stop={stop} is outside the stages of {backbone.name}",
                expected=f"1 <= stop <= {n} (stages: {', '.join(backbone.stages)})",
            )
        if engine not in ("auto", "onnxruntime", "torch"):
            raise BackboneError(f"engine={engine!r} is unknown", expected="auto, onnxruntime or torch")
        if precision not in ("fp32", "int8"):
            raise BackboneError(f"precision={precision!r} is unknown", expected="fp32 or int8")
        self.backbone, self.stop, self.pooled, self.precision = backbone, stop, pooled, precision
        self.threads = threads or default_threads()
        self.exported = False  # True when this runner had to export (False: reused the cached file)
        self.export_seconds = 0.0
        self.onnx_path: Path | None = None
        self.degraded: str | None = None  # why the runner fell back (to torch, or from int8 to fp32), when it did
        self.running_precision: Precision = "fp32"  # int8 only once the quantized graph agreed on this CPU
        if engine == "auto" and not onnxruntime_available():
            self.degraded = "onnxruntime is not installed; running the frozen stages eagerly in torch"
            warnings.warn(self.degraded, stacklevel=2)
            engine = "torch"
        self.engine: Literal["onnxruntime", "torch"] = "torch" if engine == "torch" else "onnxruntime"
        self._session: Any = None
        if self.engine == "torch" and precision == "int8":
            raise BackboneError("precision='int8' needs ONNX Runtime", expected="engine='auto' or 'onnxruntime'")
        if self.engine == "onnxruntime":
            self.onnx_path = self._export_or_eager(engine)
        if self.engine == "onnxruntime":
            assert self.onnx_path is not None
            if precision == "int8":
                self.onnx_path = self._int8_or_fp32(self.onnx_path)
            self._session = open_session(self.onnx_path, self.threads)

    # -- running ---------------------------------------------------------------------------------
    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.backbone.input_names if n not in inputs]
        if missing:
            raise BackboneError(
                f"inputs lack {missing} for {self.backbone.name}",
                expected=f"the keys of backbone.preprocess(): {self.backbone.input_names}",
            )
        per_pass = self.backbone.windows_per_pass
        if self.splits_windows and per_pass and inputs["attention_mask"].shape[1] > per_pass:
            return self._pooled_by_windows(inputs, per_pass)
        if self.engine == "torch":
            return self.run_torch(inputs)
        feed = {n: np.ascontiguousarray(inputs[n]) for n in self.backbone.input_names}
        groups = length_buckets(feed["attention_mask"]) if self.pooled and "attention_mask" in feed else None
        if groups is None:
            return self._session.run(None, feed)[0]
        out: np.ndarray | None = None
        for rows, length in groups:
            part = self._session.run(None, {n: np.ascontiguousarray(v[rows, :length]) for n, v in feed.items()})[0]
            if out is None:
                out = np.empty((len(feed["attention_mask"]), *part.shape[1:]), dtype=part.dtype)
            out[rows] = part
        assert out is not None
        return out

    @property
    def splits_windows(self) -> bool:
        """True when a long item's windows are run `windows_per_pass` at a time (pooled runners of one cut)."""
        return self.pooled and self.backbone.windows_per_pass is not None

    def _pooled_by_windows(self, inputs: dict[str, np.ndarray], per_pass: int) -> np.ndarray:
        """Pooled features of items with many windows, `per_pass` real windows per forward (memory flat in an
        item's length): the windows are independent, so the activations at the cut are pooled per item after."""
        mask = inputs["attention_mask"]
        owners, columns = np.nonzero(mask)
        parts = []
        for start in range(0, len(owners), per_pass):
            rows, cols = owners[start : start + per_pass], columns[start : start + per_pass]
            chunk = {n: np.ascontiguousarray(inputs[n][rows, cols][None]) for n in self.backbone.input_names}
            parts.append(self._window_runner(chunk)[0])
        return self.backbone.pool_windows(np.concatenate(parts), owners, len(mask))

    @cached_property
    def _window_runner(self) -> FrozenRunner:
        """The same stages without the pool (its own export, made on the first item with many windows)."""
        return FrozenRunner(
            self.backbone,
            stop=self.stop,
            pooled=False,
            threads=self.threads,
            engine=self.engine,
            precision=self.running_precision,
        )

    def run_torch(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The same computation eagerly in torch (reference for parity checks)."""
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in self.backbone.input_names]
        with torch.inference_mode():
            return self._module(*args).float().numpy()

    # -- exporting -------------------------------------------------------------------------------
    @cached_property
    def _module(self) -> nn.Module:
        """The torch module of the prefix, built on first use (export, parity check, eager runs)."""
        return self._build_module().eval()

    def _build_module(self) -> nn.Module:
        from headstart.runtime_modules import Prefix

        return Prefix(self.backbone, self.stop, self.pooled)

    def _export_key(self) -> str:
        return export_key(self.backbone, self.stop, self.pooled)

    def _export_or_eager(self, engine: Engine) -> Path | None:
        """The checked export; for a backbone that allows it (`export_fallback`) and engine 'auto', None and
        eager torch with the reason in `degraded` when the architecture does not export or its export disagrees."""
        if engine != "auto" or not self.backbone.export_fallback:
            return self._ensure_export()
        try:
            return self._ensure_export()
        except Exception as exc:  # the exporters raise many types; the reason is kept and shown, not swallowed
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            self.degraded = (
                f"the ONNX export of {self.backbone.name} (stages[0:{self.stop}]) failed ({type(exc).__name__}: "
                f"{reason}): running the frozen stages eagerly in torch (slower, same results)"
            )
            warnings.warn(self.degraded, stacklevel=3)
            if self.precision == "int8":
                raise BackboneError(
                    f"precision='int8' needs an ONNX export of {self.backbone.name}, and it failed",
                    expected="precision='fp32'",
                ) from exc
            self.engine = "torch"
            return None

    def _ensure_export(self) -> Path:
        key = self._export_key()
        path = cache_dir("onnx") / f"{_safe(self.backbone.name)}-{key}.onnx"
        if path.is_file():
            return path
        t0 = time.perf_counter()
        with atomic_onnx(path) as tmp:
            self._export(tmp)
            self._check_parity(tmp)
        global export_count
        export_count += 1
        self.exported = True
        self.export_seconds = time.perf_counter() - t0
        log.info("exported %s stages[0:%d] to %s in %.1fs", self.backbone.name, self.stop, path, self.export_seconds)
        return path

    def _export(self, path: Path) -> None:
        out_axes = {0: "batch"}
        if not self.pooled:  # the activation keeps the inputs' sequence axis
            axes = self.backbone.dynamic_axes()
            seq = {a for n in self.backbone.input_names for a, label in axes[n].items() if label == "sequence"}
            out_axes.update({a: "sequence" for a in seq})
        export_onnx(self._module, self.backbone, path, "features" if self.pooled else "activation", out_axes)

    def _int8_or_fp32(self, fp32: Path) -> Path:
        """The int8 copy when it agrees with torch on this CPU (kernels differ between CPUs), else `fp32` with
        the reason in `degraded` and a warning."""
        int8 = self._ensure_int8(fp32)
        diff, limit = self._parity(int8, INT8_PARITY_ATOL)
        if diff <= limit:
            self.running_precision = "int8"
            return int8
        self.degraded = (
            f"int8 disagrees with fp32 on this CPU (max |diff| {diff:.3g} > {limit:.3g} on the example inputs): "
            "running fp32"
        )
        warnings.warn(f"{self.backbone.name}: {self.degraded}", stacklevel=3)
        return fp32

    def _ensure_int8(self, fp32: Path) -> Path:
        """The dynamically quantized copy of the fp32 export (cached beside it, named by its scheme)."""
        path = fp32.with_name(f"{fp32.stem}-{_scheme_tag()}-int8.onnx")
        if path.is_file():
            return path
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with atomic_onnx(path) as tmp:
            with _quiet_root_logger(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(
                    fp32,
                    tmp,
                    weight_type=QuantType[INT8_SCHEME["weight_type"]],
                    per_channel=bool(INT8_SCHEME["per_channel"]),
                    reduce_range=bool(INT8_SCHEME["reduce_range"]),
                    op_types_to_quantize=["MatMul", "Gemm"],
                )
        return path

    def _parity(self, path: Path, atol: float) -> tuple[float, float]:
        """(max |diff| between the graph at `path` and torch on the example inputs, the largest allowed)."""
        example = self.backbone.example_inputs(batch=3)
        session = open_session(path, self.threads)
        got = session.run(None, {n: example[n] for n in self.backbone.input_names})[0]
        want = self.run_torch(example)
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
        return diff, atol * max(1.0, float(np.max(np.abs(want))))

    def _check_parity(self, path: Path, atol: float = PARITY_ATOL) -> None:
        """Refuse an export whose outputs differ from torch on the example inputs."""
        diff, limit = self._parity(path, atol)
        if not diff <= limit:
            raise BackboneError(
                f"the ONNX export of {self.backbone.name} (stages[0:{self.stop}]) disagrees with torch: "
                f"max |diff| = {diff:.3g}",
                expected=f"max |diff| <= {limit:.3g}",
                fix="run with engine='torch' (or precision='fp32') and report the backbone",
            )

    def __repr__(self) -> str:
        return (
            f"FrozenRunner({self.backbone.name!r}, stop={self.stop}, pooled={self.pooled}, "
            f"engine={self.engine!r}, threads={self.threads}, precision={self.precision!r})"
        )


def length_buckets(mask: np.ndarray, rows: int = BUCKET_ROWS) -> list[tuple[np.ndarray, int]] | None:
    """Groups of at most `rows` row indices of similar real length, each with the length to cut its padding to.

    None when nothing would be saved (a single group as long as the batch) or when some row is not padded
    on the right only (cutting columns would then drop real tokens).
    """
    if mask.ndim != 2 or len(mask) == 0:
        return None
    lengths = (mask != 0).sum(axis=1)
    if not np.array_equal(mask != 0, np.arange(mask.shape[1])[None, :] < lengths[:, None]):
        return None
    order = np.argsort(lengths, kind="stable")
    groups = [
        (order[i : i + rows], max(1, int(lengths[order[i : i + rows]].max()))) for i in range(0, len(order), rows)
    ]
    if len(groups) == 1 and groups[0][1] == mask.shape[1]:
        return None
    return groups


class MultiCutRunner(FrozenRunner):
    """Pooled features at several cuts from ONE forward pass (one ONNX graph, parity-checked like the others).

    Calling it returns the (N, sum of widths) concatenation; `split` gives one array per cut, in `stops`
    order, equal (to float rounding) to what `FrozenRunner(backbone, stop, pooled=True)` gives per cut.
    """

    def __init__(
        self, backbone: Backbone, stops: list[int], threads: int | None = None, engine: Engine = "auto"
    ) -> None:
        n = len(backbone.stages)
        self.stops = sorted({int(s) for s in stops})
        if not self.stops or not all(1 <= s <= n for s in self.stops):
            raise BackboneError(
                f"stops={list(stops)} are not cuts of {backbone.name}",
                expected=f"one or more stage indices in 1..{n} (stages: {', '.join(backbone.stages)})",
            )
        super().__init__(backbone, stop=self.stops[-1], pooled=True, threads=threads, engine=engine)
        import torch

        example = backbone.example_inputs(batch=1)
        from headstart.runtime_modules import _PooledCuts

        module = self._module
        assert isinstance(module, _PooledCuts)  # built by _build_module below
        with torch.inference_mode():
            widths = module.pooled(*(torch.from_numpy(example[k]) for k in backbone.input_names))
        self.widths = [int(w.shape[1]) for w in widths]

    @property
    def splits_windows(self) -> bool:
        return False  # the one graph pools at every cut; `__call__` sends long items to `_cut_runners`

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Items with more than `windows_per_pass` windows go through one pooled runner per cut, which runs their
        windows a few at a time (memory flat in an item's length, same numbers); the others share one pass."""
        per_pass = self.backbone.windows_per_pass
        mask = inputs.get("attention_mask")
        if per_pass is None or mask is None or mask.ndim != 2 or mask.shape[1] <= per_pass:
            return super().__call__(inputs)
        long = (mask != 0).sum(axis=1) > per_pass
        out = np.empty((len(mask), sum(self.widths)), dtype=np.float32)
        for rows, whole in ((np.flatnonzero(~long), True), (np.flatnonzero(long), False)):
            if len(rows) == 0:
                continue
            part = {n: inputs[n][rows] for n in self.backbone.input_names}
            if whole:
                out[rows] = super().__call__(part)
            else:
                out[rows] = np.concatenate([runner(part) for runner in self._cut_runners], axis=1)
        return out

    @cached_property
    def _cut_runners(self) -> list[FrozenRunner]:
        """One pooled runner per cut, each splitting long items' windows (built on the first long item)."""
        return [
            FrozenRunner(self.backbone, stop=s, pooled=True, threads=self.threads, engine=self.engine)
            for s in self.stops
        ]

    def _build_module(self) -> nn.Module:
        from headstart.runtime_modules import _PooledCuts

        return _PooledCuts(self.backbone, self.stops)

    def _export_key(self) -> str:
        base = export_key(self.backbone, self.stop, self.pooled)
        return hashlib.sha256(f"{base}|cuts={self.stops}".encode()).hexdigest()[:32]

    def split(self, features: np.ndarray) -> list[np.ndarray]:
        """The concatenated output → one (N, width) array per cut, in `stops` order."""
        bounds = np.cumsum([0, *self.widths])
        return [features[:, bounds[i] : bounds[i + 1]] for i in range(len(self.stops))]

    def __repr__(self) -> str:
        return f"MultiCutRunner({self.backbone.name!r}, stops={self.stops}, engine={self.engine!r})"


def check_export_parity(what: str, got: np.ndarray, want: np.ndarray, atol: float, checked: str) -> float:
    """The max |diff| between an exported file's outputs and the bundle's on the same inputs (0 for none);
    ExportParityError, before anything is written, when it exceeds `atol` (`checked`: "12 check items")."""
    same_shape = got.shape == want.shape
    diff = (float(np.max(np.abs(got - want))) if got.size else 0.0) if same_shape else float("inf")
    if not diff <= atol:
        raise ExportParityError(
            f"the exported {what} disagrees with the bundle: max |diff| = {diff:.3g} "
            f"(shapes {tuple(got.shape)} vs {tuple(want.shape)})",
            expected=f"max |diff| <= {atol:g} on {checked}",
            fix="report the bundle's strategy and backbone; serve the bundle with `headstart serve` meanwhile",
        )
    return diff
