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
from headstart.data.dataset import Dataset, file_sha256
from headstart.data.loading import load_inputs
from headstart.data.modalities import Modality, get_modality
from headstart.errors import BackboneError, BadItemError, BundleError, DataError, StrategyError, UsageError
from headstart.files import share_like_umask
from headstart.manifest import (
    FORMAT,
    FORMAT_VERSION,
    HEAD_WEIGHTS,
    MANIFEST,
    BackboneSpec,
    Manifest,
    json_default,
    read_manifest,
)
from headstart.outputs import check_writable, output_error, writing
from headstart.strategies import DatasetPrediction, Model, get_strategy
from headstart.tasks import Task, decisions, get_task

ALLOW_DOWNLOAD = "HEADSTART_ALLOW_DOWNLOAD"  # =1: a bundle's hf: hub backbone may be downloaded when loaded

Inputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""What `predict` takes: one text or path, or a sequence of them (a list, a tuple, a pandas Series of texts)."""


def save_bundle(out: str | Path, manifest: Manifest | dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write manifest and head weights atomically to `out` (replacing an existing bundle)."""
    document = manifest.to_dict() if isinstance(manifest, Manifest) else manifest
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
            **{k: v for k, v in document.items() if k not in ("format", "format_version", "files")},
            "files": {HEAD_WEIGHTS: file_sha256(tmp / HEAD_WEIGHTS)},
        }
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, default=json_default) + "\n")
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


def _bundle_backbone(spec: BackboneSpec | None, allow_download: bool) -> Backbone | None:
    if spec is None:
        return None
    if not allow_download and os.environ.get(ALLOW_DOWNLOAD) != "1":
        refuse_hub_download(spec.name)
    try:
        backbone = get_backbone(spec.name, **spec.options)
    except BackboneError as err:
        raise BundleError(
            f"the bundle needs backbone {spec.name!r}, which is not available here ({err.what})",
            fix="install the backbone's package (see `headstart models`) and retry",
        ) from err
    except (TypeError, ValueError) as err:  # options edited into the manifest that the backbone does not take
        raise BundleError(
            f"the bundle's options for backbone {spec.name!r} are not valid ({err})",
            fix="the bundle's manifest was edited: restore it, or train the model again",
        ) from None
    if backbone.weights_sha256 != spec.weights_sha256:
        raise BundleError(
            f"backbone {spec.name!r} installed here has different weights than the bundle was trained on",
            expected=f"weights sha256 {spec.weights_sha256[:12]}…",
            fix="install the same version of the backbone's package as at training time",
        )
    return backbone


def refuse_hub_download(name: str) -> None:
    """BundleError when backbone `name` is an `hf:` hub id not in the local cache: loading would download it."""
    from headstart.backbones.registry import HF_PREFIX

    if not name.startswith(HF_PREFIX):
        return
    source = name[len(HF_PREFIX) :].partition("#")[0]  # hf:PATH#pool=mean names the folder PATH
    if Path(source).expanduser().is_dir() or _hub_cached(source):
        return
    raise BundleError(
        f"the bundle's backbone {name!r} is a Hugging Face hub id that is not downloaded here",
        expected="a bundle whose backbone is installed or in the local Hugging Face cache",
        fix=f"download it on purpose: set {ALLOW_DOWNLOAD}=1 (or pass allow_download=True to headstart.load)",
    )


def _hub_cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


class Predictor:
    """A loaded bundle: `predict`, `predict_proba` and `embed` on file paths, strings or a Dataset."""

    def __init__(self, path: Path, manifest: Manifest, model: Model) -> None:
        self.path = path
        self.manifest = manifest
        self.model = model

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def task(self) -> str:
        """The task kind's name (bundles written before task kinds existed are single-label classification)."""
        return self.manifest.task

    @property
    def kind(self) -> Task:
        """The task kind's object."""
        return get_task(self.manifest.task)

    @property
    def input_kind(self) -> Modality:
        """The modality's object."""
        return get_modality(self.manifest.modality)

    @property
    def thresholds(self) -> np.ndarray | None:
        """Multi-label: each tag's decision threshold, in label order (None for other kinds)."""
        return self.manifest.thresholds  # type: ignore[no-any-return]

    @property
    def modality(self) -> str:
        return self.manifest.modality

    @property
    def backbone(self) -> Backbone | None:
        return self.model.backbone

    def configure(
        self,
        *,
        threads: int | None = None,
        batch_size: int | None = None,
        precision: str | None = None,
        ocr: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Runtime options for the frozen network (ignored by models without one); notes for the user.

        `precision="int8"` runs the backbone quantized (see `FrozenRunner`); models that cannot refuse it.
        `ocr` (`OcrSettings` names, None: the bundle's) changes how a documents model reads its documents, with a
        note for each setting that differs from the fit's; other models ignore it, noted.
        """
        notes: list[str] = []
        given = {name: value for name, value in (ocr or {}).items() if value is not None}
        use_ocr = getattr(self.model, "use_ocr", None)  # a documents model's (`FieldsModel.use_ocr`)
        if given and use_ocr is not None:
            notes = list(use_ocr(**given))
        elif given:
            notes = [f"OCR settings apply only to documents models: ignored by this {self.modality} model"]
        if threads is not None:
            self.model.threads = threads  # type: ignore[attr-defined]
        if batch_size is not None:
            self.model.batch_size = batch_size  # type: ignore[attr-defined]
        if precision is not None and precision != "fp32":
            if not hasattr(self.model, "precision"):
                raise BundleError(
                    f"precision={precision!r} is not available for a {self.manifest.strategy.name!r} bundle",
                    expected="precision fp32, or a bundle with a frozen backbone and a head (linear, zero-shot)",
                    fix="serve without --precision",
                )
            self.model.precision = precision
        return notes

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
        if not embed:
            return self._scored(inputs).proba
        with _images_as_files(inputs, self.input_kind) as inputs:
            given = [] if isinstance(inputs, Dataset) else input_list(inputs)
            dataset = self._as_dataset(inputs if isinstance(inputs, Dataset) else given)
            try:
                return self.model.embed_dataset(dataset, on_bad="fail").features
            except BadItemError as err:  # e.g. a truncated image whose header was fine
                raise BadInputError.of(err, given) from err

    def _scored(self, inputs: Inputs | Dataset) -> DatasetPrediction:
        """The model's outputs (and records, for fields) of every input, one row each, in input order."""
        with _images_as_files(inputs, self.input_kind) as inputs:
            given = [] if isinstance(inputs, Dataset) else input_list(inputs)
            dataset = self._as_dataset(inputs if isinstance(inputs, Dataset) else given)
            try:
                return self.predict_dataset(dataset, on_bad="fail")
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
        """Labels (classification), lists of tags above their thresholds (multi-label), numbers (regression) or a
        document's field values (fields: {name: value}).

        `inputs`: one text or file path, or a list of them (image files or folders, tables or `.txt` files of
        texts, or texts for a text model: a str naming an existing table or `.txt` file is read as that file, any
        other str is a text; PIL images too for an image model). The result has one entry per item,
        in input order: an input that cannot be used (an empty text, an unreadable image) raises `BadInputError`
        naming it, rather than being dropped. To skip and list bad inputs instead, use `headstart.predict`.
        """
        scored = self._scored(inputs)
        return decisions(self.task, scored.proba, self.labels, self.thresholds, scored.records)

    def __repr__(self) -> str:
        labels = self.labels
        shown = ", ".join(labels[:5]) + (f", … ({len(labels)} in all)" if len(labels) > 5 else "")
        backbone = self.backbone.name if self.backbone else "none"
        return (
            f"<Predictor {str(self.path)!r}: {self.task}, {self.modality}, labels [{shown}], "
            f"backbone {backbone}, strategy {self.manifest.strategy.name}>"
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
def _images_as_files(inputs: Any, modality: Modality) -> Iterator[Any]:
    """`inputs` with any PIL image (for an image model) replaced by a PNG file in a folder removed afterwards.

    The image gets the loader's treatment first (EXIF orientation, RGB), so it predicts as its file would.
    """
    items = [inputs] if _is_pil_image(inputs) else inputs
    if not modality.items_are_files or not isinstance(items, list | tuple) or not any(map(_is_pil_image, items)):
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


def load(path: str | Path, *, allow_download: bool = False) -> Predictor:
    """Load the bundle at `path`: its whole manifest is checked first (shape, files, head weights, labels), then
    the backbone (never downloaded unless `allow_download`) and the head."""
    path = Path(path)
    manifest = read_manifest(path)
    try:
        strategy = get_strategy(manifest.strategy.name)
    except StrategyError as err:
        raise BundleError(
            f"the bundle was made by strategy {manifest.strategy.name!r}, which this headstart does not know",
            expected=err.expected,
            fix="upgrade headstart (pip install -U headstart), or train the model again",
        ) from None
    backbone = _bundle_backbone(manifest.backbone, allow_download)
    tensors = load_file(str(path / HEAD_WEIGHTS))
    return Predictor(path, manifest, strategy.load(manifest, tensors, backbone))
