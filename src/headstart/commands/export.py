"""Export a bundle as ONE ONNX file (preprocessed inputs → probabilities) plus a JSON sidecar.

The model's `export_module()` (frozen backbone + trained part + softmax) is compiled with the exporter
its backbone needs (dynamo for transformers, legacy for CNNs), then checked against the bundle's own
`Predictor.predict_proba` on a few generated items before anything is written to `out`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from headstart.backbones.base import Backbone
from headstart.bundle import Predictor
from headstart.bundle import load as load_bundle
from headstart.data.dataset import Dataset
from headstart.data.images import DECODE_STEPS
from headstart.data.modalities import get_modality
from headstart.errors import ExportParityError as ExportParityError  # its public home before it moved down
from headstart.errors import StrategyError, UsageError
from headstart.outputs import check_writable, writing
from headstart.provenance import VERSION as __version__
from headstart.runtime import OPSET, atomic_onnx, check_export_parity, export_onnx, open_session
from headstart.tasks import refuse_task

FORMATS = ("onnx",)
PARITY_ATOL = 1e-3
SIDECAR_FORMAT = "headstart-onnx"
OUTPUT_NAME = "probabilities"
CHECK_TEXTS = (
    "a short text",
    "a somewhat longer sentence, with punctuation and several more words in it",
    "ok",
    "Numbers 12 and 345, UPPER case, and an emoji-free line.",
    "the quick brown fox jumps over the lazy dog",
)


@dataclass
class ExportResult:
    """What `export` wrote and how closely the file matches the bundle."""

    onnx: Path
    sidecar: Path
    max_abs_diff: float
    n_checked: int
    size_bytes: int
    exporter: str
    seconds: float
    folder: Path | None = None  # a model exported as several files (`Model.exports_folder`): their folder
    files: list[str] = field(default_factory=list)  # relative to `folder`
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # part -> its parity check

    def to_dict(self) -> dict[str, Any]:
        if self.folder is not None:
            return {
                "folder": str(self.folder),
                "files": self.files,
                "sidecar": str(self.sidecar),
                "onnx": str(self.onnx),
                "checks": self.checks,
                "max_abs_diff": self.max_abs_diff,
                "n_checked": self.n_checked,
                "size_bytes": self.size_bytes,
                "exporter": self.exporter,
                "seconds": self.seconds,
            }
        return {
            "onnx": str(self.onnx),
            "sidecar": str(self.sidecar),
            "max_abs_diff": self.max_abs_diff,
            "n_checked": self.n_checked,
            "parity_atol": PARITY_ATOL,
            "size_bytes": self.size_bytes,
            "exporter": self.exporter,
            "seconds": self.seconds,
        }


def sidecar_path(out: Path) -> Path:
    """`model.onnx` → `model.json`."""
    return out.with_suffix(".json")


def preprocessor_path(out: Path) -> Path:
    """`model.onnx` → `model.tokenizer/` (text models: the tokenizer files another runtime needs)."""
    return out.with_suffix(".tokenizer")


def export_target(out: str | Path, *, force: bool = False) -> Path:
    """Where to write: `out` itself, or `out/model.onnx` for a folder; never over a file that is not an export.

    An earlier export (its sidecar says so) is replaced; any other existing file at the ONNX or sidecar path is
    refused unless `force`, so a slip such as `--out data.csv` cannot destroy the user's data.
    """
    path = Path(out).resolve()
    if path.is_dir():
        path = path / "model.onnx"
    if path.suffix.lower() != ".onnx":
        raise UsageError(
            f"--out {str(out)!r} does not name an ONNX file",
            expected="a path ending in .onnx (its JSON sidecar is written beside it), or a folder",
            fix=f"pass --out {path.with_suffix('.onnx').name}",
        )
    sidecar = sidecar_path(path)
    ours = sidecar.is_file() and _is_export_sidecar(sidecar)
    for existing in (path, sidecar, preprocessor_path(path)):
        if existing.exists() and not ours and not force:
            raise UsageError(
                f"{str(existing)!r} exists and is not a headstart export: refusing to overwrite it",
                expected="a new file name, or the path of an earlier `headstart export`",
                fix="pass another --out, or --force to replace it",
            )
    check_writable(path)
    return path


def _is_export_folder(path: Path) -> bool:
    """Whether a folder holds an earlier folder export (a JSON sidecar whose format is a headstart export's)."""
    for sidecar in path.glob("*.json"):
        try:
            document = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and str(document.get("format", "")).startswith("headstart-"):
            return True
    return False


def _is_export_sidecar(path: Path) -> bool:
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(sidecar, dict) and sidecar.get("format") == SIDECAR_FORMAT


def export(
    bundle: str | Path, *, out: str | Path | None = None, format: str = "onnx", force: bool = False
) -> ExportResult:
    """Load the bundle, refuse task kinds ONNX cannot answer, and export it (default `BUNDLE/model.onnx`)."""
    predictor = load_bundle(bundle)
    refuse_task(predictor.task, "`headstart export`")
    if predictor.model.exports_folder:
        return export_folder(predictor, Path(bundle) / "export" if out is None else out, format=format, force=force)
    return export_bundle(predictor, Path(bundle) / "model.onnx" if out is None else out, format=format, force=force)


def export_bundle(predictor: Predictor, out: str | Path, *, format: str = "onnx", force: bool = False) -> ExportResult:
    """Write `out` (ONNX; a folder gets `model.onnx`) and its sidecar for the loaded bundle, after a parity check.

    Refuses to overwrite a file that is not an earlier export unless `force` (see `export_target`).
    """
    if format not in FORMATS:
        raise UsageError(
            f"export format {format!r} is not supported", expected=" or ".join(FORMATS), fix="pass --format onnx"
        )
    backbone = predictor.backbone
    if backbone is None:
        raise StrategyError(
            f"export is not supported for strategy {predictor.manifest.strategy.name!r} (it has no backbone)",
            fix="serve the bundle with `headstart serve` instead",
        )
    out = export_target(out, force=force)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    from headstart.runtime_modules import Positional  # torch, loaded when a model is exported

    module = predictor.model.export_module().eval()
    with atomic_onnx(out) as tmp:
        export_onnx(Positional(module).eval(), backbone, tmp, OUTPUT_NAME, {0: "batch"})
        diff, n = check_parity(predictor, tmp)
    tokenizer = _write_preprocessor(backbone, preprocessor_path(out))
    sidecar = sidecar_path(out)
    _write_json(sidecar, _sidecar(predictor, backbone, out, diff, n, tokenizer))
    return ExportResult(
        onnx=out,
        sidecar=sidecar,
        max_abs_diff=diff,
        n_checked=n,
        size_bytes=out.stat().st_size,
        exporter=backbone.onnx_exporter,
        seconds=time.perf_counter() - started,
    )


def folder_target(out: str | Path, *, force: bool = False) -> Path:
    """The export folder: new, empty, or an earlier export of the same kind (replaced); anything else only with
    `force`, so a slip such as `--out ~/data` cannot destroy the user's files."""
    path = Path(out).resolve()
    if path.suffix.lower() == ".onnx":
        raise UsageError(
            f"--out {str(out)!r} names an ONNX file, but this bundle exports as a folder of files",
            expected="a folder (the OCR models, the ONNX parts, their sidecar and a card are written in it)",
            fix=f"pass --out {path.with_suffix('').name}-export",
        )
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file", expected="a folder", fix="pass another --out")
    if path.is_dir() and any(path.iterdir()) and not _is_export_folder(path) and not force:
        raise UsageError(
            f"{str(path)!r} is a folder with files that is not a headstart export: refusing to replace it",
            expected="a new or empty folder, or the folder of an earlier `headstart export`",
            fix="pass another --out, or --force to replace it",
        )
    check_writable(path)
    return path


def export_folder(predictor: Predictor, out: str | Path, *, format: str = "onnx", force: bool = False) -> ExportResult:
    """Export a model that writes a folder of files (`Model.export_folder`), each part parity-checked."""
    if format not in FORMATS:
        raise UsageError(
            f"export format {format!r} is not supported", expected=" or ".join(FORMATS), fix="pass --format onnx"
        )
    folder = folder_target(out, force=force)
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = predictor.manifest
    info = {
        "created": manifest.created,
        "fingerprint": manifest.data.fingerprint,
        "strategy": manifest.strategy.to_dict(),
        "metrics": manifest.test_metrics,
        "headstart_version": __version__,
    }
    with writing(folder):
        written = predictor.model.export_folder(folder, info)
    checks: dict[str, dict[str, Any]] = written.checks
    main = "tagger" if "tagger" in checks else next(iter(checks))
    backbone = predictor.backbone
    return ExportResult(
        onnx=folder / f"{main}.onnx",
        sidecar=written.sidecar,
        max_abs_diff=float(checks[main]["max_abs_diff"]),
        n_checked=int(checks[main].get("n_documents", checks[main].get("n_lines", 0))),
        size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        exporter="onnx graph" + (f" + {backbone.onnx_exporter} (encoder)" if "encoder" in checks and backbone else ""),
        seconds=time.perf_counter() - started,
        folder=folder,
        files=list(written.files),
        checks=checks,
    )


def check_items(predictor: Predictor, directory: Path) -> Dataset:
    """A few generated items of the model's modality (images are written to `directory`)."""
    own = predictor.input_kind.check_items(directory)
    if own is not None:
        return Dataset(modality=predictor.input_kind.name, items=own, ids=own)
    if predictor.input_kind.accepts_texts:
        texts = (*CHECK_TEXTS, *predictor.labels[:3])
        return Dataset(modality="text", items=texts, ids=tuple(f"text {i}" for i in range(len(texts))))
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(40, 40), (64, 48), (31, 77), (128, 96), (224, 224)]):
        noise = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        pixels = ((noise.astype(np.float32) + ramp) / 2).astype(np.uint8)
        path = directory / f"check-{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return Dataset(modality="image", items=tuple(paths), ids=tuple(paths))


def check_parity(predictor: Predictor, onnx_path: Path) -> tuple[float, int]:
    """Max |probability difference| between the ONNX file and the bundle; raises above `PARITY_ATOL`."""
    backbone = predictor.backbone
    assert backbone is not None
    with tempfile.TemporaryDirectory(prefix="headstart-export-") as tmp:
        dataset = check_items(predictor, Path(tmp))
        want = predictor.predict_proba(dataset)
        decoded = [get_modality(dataset.modality).decode(p) for p in dataset.items]
        inputs = backbone.preprocess(decoded)
    session = open_session(onnx_path)
    got = session.run(None, {n: np.ascontiguousarray(inputs[n]) for n in backbone.input_names})[0]
    return check_export_parity("ONNX model", got, want, PARITY_ATOL, f"{len(dataset)} check items"), len(dataset)


def _write_preprocessor(backbone: Backbone, folder: Path) -> Path | None:
    """The backbone's tokenizer files in `folder` (replacing an earlier export's), or None for images."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if not backbone.save_preprocessor(tmp):
        shutil.rmtree(tmp)
        return None
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def _preprocessing(backbone: Backbone, tokenizer: Path | None) -> dict[str, Any]:
    """How to turn a raw input into the ONNX inputs, complete enough to re-implement outside headstart."""
    config = dict(backbone.preprocess_config())
    own = get_modality(backbone.modality).decode_steps()
    if own is not None:
        config["decode"] = own
    elif get_modality(backbone.modality).items_are_files:
        config["decode"] = DECODE_STEPS
        if "crop_pct" in config and "size" in config:  # the shorter side is resized to size / crop_pct first
            config["resize_shorter_side_to"] = int(round(config["size"] / config["crop_pct"]))
        config["scale"] = "RGB values / 255, then (x - mean) / std per channel" if "mean" in config else "RGB / 255"
    if backbone.windows_per_pass is not None:
        config["long_recordings"] = _long_recordings(backbone.windows_per_pass)
    if tokenizer is not None:
        config["tokenizer_dir"] = tokenizer.name  # transformers.AutoTokenizer.from_pretrained(<this folder>)
    return config


def _long_recordings(per_pass: int) -> dict[str, Any]:
    """How to feed a recording of any length to the one graph (it pools its windows before the head)."""
    return {
        "feed": "all of a recording's windows in one row: mel (1, windows, 160, 40), attention_mask 1 per real "
        "window (rows of a batch are padded with zero windows, mask 0); the graph cannot take partial chunks",
        "pooling": "inside the graph: mean of the real windows' embeddings (attention_mask 1), then L2-normalised, "
        "then the head",
        "memory": "grows with the number of windows (one per window_hop_frames mel frames of the recording)",
        "windows_per_pass": per_pass,
        "headstart_runs": f"{per_pass} windows per forward, embeddings summed in float64 per recording, divided by "
        "the window count, L2-normalised: the same probabilities as one pass, to float rounding",
    }


def _sidecar(
    predictor: Predictor, backbone: Backbone, out: Path, diff: float, n: int, tokenizer: Path | None = None
) -> dict[str, Any]:
    manifest = predictor.manifest
    example = backbone.example_inputs(batch=1)
    axes = backbone.dynamic_axes()
    inputs = [
        {
            "name": name,
            "dtype": str(example[name].dtype),
            "shape": [axes[name].get(a, int(d)) for a, d in enumerate(example[name].shape)],
        }
        for name in backbone.input_names
    ]
    return {
        "format": SIDECAR_FORMAT,
        "format_version": 1,
        "onnx_file": out.name,
        "task": manifest.task,
        "modality": predictor.modality,
        "labels": predictor.labels,
        "inputs": inputs,
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", len(predictor.labels)]},
        "preprocessing": _preprocessing(backbone, tokenizer),
        "backbone": {
            "name": backbone.name,
            "options": getattr(backbone, "options", {}),
            "weights_sha256": backbone.weights_sha256,
            "feature_dim": backbone.feature_dim,
            "input_size": backbone.input_size,
        },
        "strategy": manifest.strategy.to_dict(),
        "head": {k: v for k, v in manifest.head.to_dict().items() if not isinstance(v, dict | list)},
        "metrics": manifest.test_metrics,
        "bundle": {"created": manifest.created, "fingerprint": manifest.data.fingerprint},
        "exporter": backbone.onnx_exporter,
        "opset": OPSET,
        "parity": {"max_abs_diff": diff, "n_items": n, "atol": PARITY_ATOL, "reference": "Predictor.predict_proba"},
        "headstart_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    os.replace(tmp, path)
