"""Bundles (a directory: `manifest.json` + `*.safetensors`) and the `Predictor` that loads one.

Bundles are written to a temporary sibling directory and renamed into place, so a crash mid-save
leaves either the old bundle or the new one, never a mix. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from headstart.backbones import get_backbone
from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset, Modality, file_sha256
from headstart.data.loading import load_inputs
from headstart.errors import BackboneError, BundleError
from headstart.files import share_like_umask
from headstart.strategies import DatasetPrediction, Model, get_strategy
from headstart.tasks import DEFAULT_THRESHOLD, decisions

FORMAT = "headstart-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
HEAD_WEIGHTS = "head.safetensors"


def save_bundle(out: str | Path, manifest: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write manifest and head weights atomically to `out` (replacing an existing bundle)."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp / HEAD_WEIGHTS))
        share_like_umask(tmp / HEAD_WEIGHTS)
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **manifest,
            "files": {HEAD_WEIGHTS: file_sha256(tmp / HEAD_WEIGHTS)},
        }
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, default=_json_default) + "\n")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


REPLACEABLE = frozenset({MANIFEST, HEAD_WEIGHTS, "model.onnx", "model.json"})  # a bundle and its default export
PROMOTION_FILE = "promotion.json"


def check_output_folder(out: str | Path) -> None:
    """Refuse an `--out` whose replacement would lose something: a folder that is not a bundle, a promoted
    bundle (the one in production), or a bundle holding files of the user's. Called before training too."""
    target = Path(out)
    if not target.exists():
        return
    if not target.is_dir():
        raise BundleError(
            f"output path {str(target)!r} is a file", expected="a folder path", fix="choose another --out"
        )
    if not (target / MANIFEST).exists():
        if any(target.iterdir()):
            raise BundleError(
                f"output folder {str(target)!r} exists and is not a headstart bundle",
                expected="a new path or an existing bundle to overwrite",
                fix="choose another --out, or remove the folder",
            )
        return
    if (target / PROMOTION_FILE).exists():
        raise BundleError(
            f"{str(target)!r} holds a promoted bundle ({PROMOTION_FILE}): refusing to replace it",
            expected="a new --out for the new model; `headstart promote` decides if it replaces this one",
            fix="choose another --out, or remove the folder yourself",
        )
    foreign = sorted(p.name for p in target.iterdir() if p.name not in REPLACEABLE)
    if foreign:
        raise BundleError(
            f"{str(target)!r} is a bundle that also holds {', '.join(foreign[:5])}: replacing it would delete them",
            expected="a new path, or a bundle folder holding only what headstart wrote",
            fix="choose another --out, or move those files out first",
        )


def _replace_dir(new: Path, target: Path) -> None:
    check_output_folder(target)
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The validated manifest of the bundle at `path`."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not path.exists():
        raise BundleError(
            f"no bundle at {str(path)!r}",
            expected="a folder written by `headstart fit --out`",
            fix="check the path, or train one with `headstart fit DATA --out PATH`",
        )
    if not manifest_path.is_file():
        raise BundleError(
            f"{str(path)!r} is not a headstart bundle: {MANIFEST} is missing",
            expected=f"a folder with {MANIFEST} and {HEAD_WEIGHTS}",
            fix="point to the folder given as --out to `headstart fit`",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(
            f"{manifest_path} is not valid JSON ({err})",
            fix="the bundle is corrupt: train it again with `headstart fit`",
        ) from err
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path} is not a headstart manifest", fix="use a bundle from `headstart fit`")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version!r} is newer than this headstart understands ({FORMAT_VERSION})",
            fix="upgrade headstart: pip install -U headstart",
        )
    for name, digest in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"bundle file {name} is missing from {path}", fix="copy the whole bundle folder")
        if file_sha256(file) != digest:
            raise BundleError(
                f"bundle file {name} in {path} does not match its recorded hash",
                expected="files unchanged since `headstart fit` wrote them",
                fix="the bundle was modified or corrupted: train it again",
            )
    return manifest


def _bundle_backbone(manifest: dict[str, Any]) -> Backbone | None:
    spec = manifest.get("backbone")
    if spec is None:
        return None
    try:
        backbone = get_backbone(spec["name"], **spec.get("options", {}))
    except BackboneError as err:
        raise BundleError(
            f"the bundle needs backbone {spec['name']!r}, which is not available here ({err.what})",
            fix="install the backbone's package (see `headstart models`) and retry",
        ) from err
    if backbone.weights_sha256 != spec["weights_sha256"]:
        raise BundleError(
            f"backbone {spec['name']!r} installed here has different weights than the bundle was trained on",
            expected=f"weights sha256 {spec['weights_sha256'][:12]}…",
            fix="install the same version of the backbone's package as at training time",
        )
    return backbone


class Predictor:
    """A loaded bundle: `predict`, `predict_proba` and `embed` on file paths, strings or a Dataset."""

    def __init__(self, path: Path, manifest: dict[str, Any], model: Model) -> None:
        self.path = path
        self.manifest = manifest
        self.model = model

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def task(self) -> str:
        """The task kind; bundles written before task kinds existed are single-label classification."""
        return str(self.manifest.get("task") or "classification")

    @property
    def thresholds(self) -> np.ndarray | None:
        """Multi-label: each tag's decision threshold, in label order (None for other kinds)."""
        if self.task != "multilabel":
            return None
        recorded = (self.manifest.get("targets") or {}).get("thresholds") or {}
        return np.array([float(recorded.get(label, DEFAULT_THRESHOLD)) for label in self.labels])

    @property
    def modality(self) -> Modality:
        return self.manifest["modality"]  # type: ignore[no-any-return]

    @property
    def backbone(self) -> Backbone | None:
        return self.model.backbone

    def configure(
        self, *, threads: int | None = None, batch_size: int | None = None, precision: str | None = None
    ) -> None:
        """Runtime options for the frozen network (ignored by models without one).

        `precision="int8"` runs the backbone quantized (see `FrozenRunner`); models that cannot refuse it.
        """
        if threads is not None:
            self.model.threads = threads  # type: ignore[attr-defined]
        if batch_size is not None:
            self.model.batch_size = batch_size  # type: ignore[attr-defined]
        if precision is not None and precision != "fp32":
            if not hasattr(self.model, "precision"):
                strategy = self.manifest.get("strategy", {}).get("name", "?")
                raise BundleError(
                    f"precision={precision!r} is not available for a {strategy!r} bundle",
                    expected="precision fp32, or a bundle with a frozen backbone and a head (linear, zero-shot)",
                    fix="serve without --precision",
                )
            self.model.precision = precision

    def _as_dataset(self, inputs: Sequence[str] | Dataset) -> Dataset:
        if isinstance(inputs, Dataset):
            return inputs
        return load_inputs(list(inputs), modality=self.modality)

    def predict_dataset(
        self, dataset: Dataset, *, cache: bool = False, on_bad: str = "skip", progress: bool = False
    ) -> DatasetPrediction:
        return self.model.predict_dataset(dataset, on_bad=on_bad, progress=progress, cache=cache)

    def embed(self, inputs: Sequence[str] | Dataset) -> np.ndarray:
        return self.model.embed_dataset(self._as_dataset(inputs), on_bad="fail").features

    def predict_proba(self, inputs: Sequence[str] | Dataset) -> np.ndarray:
        return self.predict_dataset(self._as_dataset(inputs), on_bad="fail").proba

    def predict(self, inputs: Sequence[str] | Dataset) -> list[Any]:
        """Labels (classification), lists of tags above their thresholds (multi-label) or numbers (regression)."""
        outputs = self.predict_dataset(self._as_dataset(inputs), on_bad="fail").proba
        return decisions(self.task, outputs, self.labels, self.thresholds)


def load(path: str | Path) -> Predictor:
    """Load the bundle at `path`, checking its format, files and backbone weights."""
    path = Path(path)
    manifest = read_manifest(path)
    strategy = get_strategy(manifest["strategy"]["name"])
    backbone = _bundle_backbone(manifest)
    tensors = load_file(str(path / HEAD_WEIGHTS))
    return Predictor(path, manifest, strategy.load(manifest, tensors, backbone))
