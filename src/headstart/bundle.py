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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from headstart.backbones import get_backbone
from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset, SkippedItem, file_sha256
from headstart.data.loading import load_inputs
from headstart.errors import BackboneError, BundleError
from headstart.features import extract_features
from headstart.strategies.heads import Head, load_head

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


def _replace_dir(new: Path, target: Path) -> None:
    if target.exists() and not (target / MANIFEST).exists() and any(target.iterdir()):
        raise BundleError(
            f"output folder {str(target)!r} exists and is not a headstart bundle",
            expected="a new path or an existing bundle to overwrite",
            fix="choose another --out, or remove the folder",
        )
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


def _bundle_backbone(manifest: dict[str, Any]) -> Backbone:
    spec = manifest["backbone"]
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


@dataclass
class DatasetPrediction:
    """Probabilities for the usable items of a dataset; `kept[i]` is the dataset index of row i."""

    proba: np.ndarray
    kept: np.ndarray
    labels: list[str]
    skipped: list[SkippedItem] = field(default_factory=list)

    @property
    def predicted(self) -> list[str]:
        return [self.labels[i] for i in self.proba.argmax(axis=1)] if len(self.proba) else []


class Predictor:
    """A loaded bundle: `predict`, `predict_proba` and `embed` on file paths, strings or a Dataset."""

    def __init__(self, path: Path, manifest: dict[str, Any], backbone: Backbone, head: Head) -> None:
        self.path = path
        self.manifest = manifest
        self.backbone = backbone
        self.head = head
        self.threads: int | None = None
        self.batch_size = 32

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def modality(self) -> str:
        return str(self.manifest["modality"])

    def _as_dataset(self, inputs: Sequence[str] | Dataset) -> Dataset:
        if isinstance(inputs, Dataset):
            return inputs
        return load_inputs(list(inputs), modality=self.modality)  # type: ignore[arg-type]

    def embed_dataset(self, dataset: Dataset, *, cache: bool = False, on_bad: str = "skip", progress: bool = False):
        """Backbone features of the usable items of `dataset` (an `Extraction`)."""
        return extract_features(
            self.backbone,
            dataset,
            store=None if cache else False,
            threads=self.threads,
            batch_size=self.batch_size,
            on_bad=on_bad,
            progress=progress,
        )

    def predict_dataset(
        self, dataset: Dataset, *, cache: bool = False, on_bad: str = "skip", progress: bool = False
    ) -> DatasetPrediction:
        extraction = self.embed_dataset(dataset, cache=cache, on_bad=on_bad, progress=progress)
        proba = (
            self.head.predict_proba(extraction.features) if len(extraction.kept) else np.zeros((0, len(self.labels)))
        )
        return DatasetPrediction(proba=proba, kept=extraction.kept, labels=self.labels, skipped=extraction.skipped)

    def embed(self, inputs: Sequence[str] | Dataset) -> np.ndarray:
        return self.embed_dataset(self._as_dataset(inputs), on_bad="fail").features

    def predict_proba(self, inputs: Sequence[str] | Dataset) -> np.ndarray:
        return self.predict_dataset(self._as_dataset(inputs), on_bad="fail").proba

    def predict(self, inputs: Sequence[str] | Dataset) -> list[str]:
        return self.predict_dataset(self._as_dataset(inputs), on_bad="fail").predicted


def load(path: str | Path) -> Predictor:
    """Load the bundle at `path`, checking its format, files and backbone weights."""
    path = Path(path)
    manifest = read_manifest(path)
    backbone = _bundle_backbone(manifest)
    state = load_file(str(path / HEAD_WEIGHTS))
    head = load_head(manifest["head"], state, manifest["labels"])
    return Predictor(path, manifest, backbone, head)
