"""Bundles (a directory: `manifest.json` + `*.safetensors`) and the `Predictor` that loads one.

Bundles are written to a temporary sibling directory and renamed into place, so a crash mid-save
leaves either the old bundle or the new one, never a mix. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from headstart.backbones import get_backbone
from headstart.backbones.base import Backbone
from headstart.config import kind_of
from headstart.data.dataset import Dataset, Modality, file_sha256
from headstart.data.loading import load_inputs
from headstart.errors import BackboneError, BadItemError, BundleError, DataError, UsageError
from headstart.files import share_like_umask
from headstart.outputs import check_writable, output_error, writing
from headstart.strategies import DatasetPrediction, Model, get_strategy
from headstart.tasks import DEFAULT_THRESHOLD, decisions

FORMAT = "headstart-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
HEAD_WEIGHTS = "head.safetensors"

Inputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""What `predict` takes: one text or path, or a sequence of them (a list, a tuple, a pandas Series of texts)."""


def save_bundle(out: str | Path, manifest: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write manifest and head weights atomically to `out` (replacing an existing bundle)."""
    out = Path(out).resolve()
    with writing(out):
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
    except OSError as err:  # permissions, a full or read-only disk: nothing half-written stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise output_error(out, err) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


REPLACEABLE = frozenset({MANIFEST, HEAD_WEIGHTS, "model.onnx", "model.json"})  # a bundle and its default export
PROMOTION_FILE = "promotion.json"


def check_output_folder(out: str | Path) -> None:
    """Refuse an `--out` whose replacement would lose something: a folder that is not a bundle, a promoted
    bundle (the one in production), a bundle holding files of the user's, or a place that cannot be written. Called
    before training too."""
    target = Path(out)
    _check_replaceable(target)
    check_writable(target)  # the new bundle is written beside `out`, then renamed into place


def _check_replaceable(target: Path) -> None:
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

    def _as_dataset(self, inputs: Inputs | Dataset) -> Dataset:
        """Every input as (at least) one item; an input that cannot be used raises, it is never skipped."""
        if isinstance(inputs, Dataset):
            return inputs
        given = input_list(inputs)
        try:
            dataset = load_inputs(given, modality=self.modality, on_bad="fail")
        except BadItemError as err:
            raise BadInputError.of(err, given) from err
        refused = [s for s in dataset.skipped if s.id in given]  # e.g. notes.txt given to an image model
        if refused:
            raise BadInputError.of(BadItemError(refused[0].id, refused[0].reason), given)
        return dataset

    def _outputs(self, inputs: Inputs | Dataset, *, embed: bool = False) -> np.ndarray:
        """Class probabilities (or features) of every input, one row each, in input order."""
        with _images_as_files(inputs, self.modality) as inputs:
            given = [] if isinstance(inputs, Dataset) else input_list(inputs)
            dataset = self._as_dataset(inputs if isinstance(inputs, Dataset) else given)
            try:
                if embed:
                    return self.model.embed_dataset(dataset, on_bad="fail").features
                return self.predict_dataset(dataset, on_bad="fail").proba
            except BadItemError as err:  # e.g. a truncated image whose header was fine
                raise BadInputError.of(err, given) from err

    def predict_dataset(
        self, dataset: Dataset, *, cache: bool = False, on_bad: str = "skip", progress: bool = False
    ) -> DatasetPrediction:
        return self.model.predict_dataset(dataset, on_bad=on_bad, progress=progress, cache=cache)

    def embed(self, inputs: Inputs | Dataset) -> np.ndarray:
        """The backbone's features of every input, one row each (raises `BadInputError` like `predict`)."""
        return self._outputs(inputs, embed=True)

    def predict_proba(self, inputs: Inputs | Dataset) -> np.ndarray:
        """One row per input, columns in `labels` order (raises `BadInputError` like `predict`)."""
        return self._outputs(inputs)

    def predict(self, inputs: Inputs | Dataset) -> list[Any]:
        """Labels (classification), lists of tags above their thresholds (multi-label) or numbers (regression).

        `inputs`: one text or file path, or a list of them (image files or folders, tables or `.txt` files of
        texts, or texts for a text model: a str naming an existing table or `.txt` file is read as that file, any
        other str is a text; PIL images too for an image model). The result has one entry per item,
        in input order: an input that cannot be used (an empty text, an unreadable image) raises `BadInputError`
        naming it, rather than being dropped. To skip and list bad inputs instead, use `headstart.predict`.
        """
        return decisions(self.task, self._outputs(inputs), self.labels, self.thresholds)

    def __repr__(self) -> str:
        labels = self.labels
        shown = ", ".join(labels[:5]) + (f", … ({len(labels)} in all)" if len(labels) > 5 else "")
        strategy = self.manifest.get("strategy", {}).get("name", "?")
        backbone = self.backbone.name if self.backbone else "none"
        return (
            f"<Predictor {str(self.path)!r}: {self.task}, {self.modality}, labels [{shown}], "
            f"backbone {backbone}, strategy {strategy}>"
        )


class BadInputError(BadItemError):
    """An input to `Predictor.predict` that cannot be used; `predict` keeps one output per input, so skips none."""

    def __init__(self, item: str, reason: str) -> None:
        self.item, self.reason = item, reason
        DataError.__init__(
            self,
            f"cannot use {item}: {reason}",
            expected="every input readable: a non-empty text, or an image file that decodes",
            fix="fix or remove that input; to skip bad inputs and list them, use "
            "headstart.predict(bundle, inputs), which returns the skipped ones in .skipped",
        )

    @classmethod
    def of(cls, err: BadItemError, given: Sequence[str]) -> BadInputError:
        """`err` for the input list `given`: an item that is one of the inputs is named by its position too."""
        item = err.item
        if item in given:
            item = f"input {list(given).index(item) + 1} ({item!r})"
        elif not item.startswith("input "):
            item = repr(item)
        return cls(item, err.reason)


def input_list(inputs: object) -> list[str]:
    """The inputs to predict as strings: one text or path is one input (not its characters or parts).

    A DataFrame, a PIL image, an array, None or a number is refused with a UsageError saying how to pass it.
    """
    if isinstance(inputs, str | os.PathLike):
        return [os.fspath(inputs)]
    kind = kind_of(inputs)
    if kind.endswith("DataFrame"):
        raise UsageError(
            f"inputs are {kind}",
            expected="texts or file paths: a str, a pathlib.Path, or a list of them",
            fix="pass one column, e.g. model.predict(df['text'].tolist())",
        )
    numeric_array = getattr(getattr(inputs, "dtype", None), "kind", "O") not in "OUS"
    if numeric_array or isinstance(inputs, bytes | Mapping) or not isinstance(inputs, Iterable):
        raise _not_an_input(inputs, None)
    items = list(inputs)
    for n, item in enumerate(items, start=1):
        if not isinstance(item, str | os.PathLike):
            raise _not_an_input(item, n)
    return [os.fspath(item) for item in items]


@contextmanager
def _images_as_files(inputs: Any, modality: str) -> Iterator[Any]:
    """`inputs` with any PIL image (for an image model) replaced by a PNG file in a folder removed afterwards.

    The image gets the loader's treatment first (EXIF orientation, RGB), so it predicts as its file would.
    """
    items = [inputs] if _is_pil_image(inputs) else inputs
    if modality != "image" or not isinstance(items, list | tuple) or not any(map(_is_pil_image, items)):
        yield inputs
        return
    from PIL import ImageOps

    from headstart.data.images import to_rgb

    with tempfile.TemporaryDirectory(prefix="headstart-inputs-") as folder:
        paths: list[Any] = []
        for n, item in enumerate(items, start=1):
            if _is_pil_image(item):
                path = Path(folder) / f"input-{n}.png"
                to_rgb(ImageOps.exif_transpose(item)).save(path, format="PNG")
                item = str(path)
            paths.append(item)
        yield paths


def _is_pil_image(value: object) -> bool:
    return kind_of(value) == "a PIL image"


def _not_an_input(value: object, position: int | None) -> UsageError:
    kind = kind_of(value)
    if kind == "a PIL image":
        fix = "save it as a file and pass its path, or pass it to headstart.load(bundle).predict() of an image model"
    elif kind in ("a numpy array", "a torch Tensor"):
        fix = "pass image files, or PIL images (PIL.Image.fromarray(a)) to an image model"
    elif value is None:
        fix = "remove the missing items first (e.g. df['text'].dropna().tolist())"
    else:
        fix = "pass texts or file paths (str or pathlib.Path)"
    return UsageError(
        f"input {position} is {kind}" if position else f"inputs are {kind}",
        expected="texts or file paths: a str, a pathlib.Path, or a list of them",
        fix=fix,
    )


def load(path: str | Path) -> Predictor:
    """Load the bundle at `path`, checking its format, files and backbone weights."""
    path = Path(path)
    manifest = read_manifest(path)
    strategy = get_strategy(manifest["strategy"]["name"])
    backbone = _bundle_backbone(manifest)
    tensors = load_file(str(path / HEAD_WEIGHTS))
    return Predictor(path, manifest, strategy.load(manifest, tensors, backbone))
