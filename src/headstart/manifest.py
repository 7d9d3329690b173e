"""The bundle manifest: one typed model, read by `read_manifest` (which migrates older formats and checks
everything before anything is loaded) and built by `build_manifest` (for fit and expand alike).

A manifest is trusted only as far as it is checked: its JSON shape, its task kind and modality (registered
ones), its `files` (names inside the bundle folder, hashes that match), its head weights (a safetensors file,
read by its header, never unpickled) and its labels (as many as the head has outputs).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from headstart.data.dataset import file_sha256
from headstart.data.modalities import get_modality, is_modality, modality_names
from headstart.errors import BundleError
from headstart.tasks import DEFAULT_TASK, Outputs, Task, get_task, is_task, task_names

FORMAT = "headstart-bundle"
FORMAT_VERSION = 2  # 2: every section present and typed (task, targets...); 1 and older are migrated on read
MANIFEST = "manifest.json"
HEAD_WEIGHTS = "head.safetensors"
MAX_HEADER_BYTES = 100_000_000  # a safetensors header larger than this is not one headstart wrote


class _Section(BaseModel):
    """A manifest section: typed fields, plus whatever a strategy or a newer headstart adds (kept as is)."""

    model_config = ConfigDict(extra="allow")

    def get(self, key: str, default: Any = None) -> Any:
        """A field or extra value by name (a strategy's own entries of its section)."""
        value = getattr(self, key, None) if key in type(self).model_fields else (self.model_extra or {}).get(key)
        return default if value is None else value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class BackboneSpec(_Section):
    """The pretrained network the bundle runs, pinned by its weights' hash."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: str
    feature_dim: int | None = None
    preprocess: dict[str, Any] = Field(default_factory=dict)


class OwnSection(_Section):
    """A section each strategy types for itself (`Strategy.manifest_section`, `Strategy.head_section`).

    Fields beyond the common ones (`written`) are written only when set, so manifest.json keeps the keys it was
    written with; entries a newer headstart adds stay extras, kept as they are.
    """

    written: ClassVar[frozenset[str]] = frozenset()  # written even when unset: the fields every bundle has

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        unset = set(type(self).model_fields) - self.model_fields_set - self.written
        return {key: value for key, value in handler(self).items() if key not in unset}

    @classmethod
    def of(cls, section: _Section) -> Self:
        """`section` as this strategy's own type (as `read_manifest` already gives it once the strategy is known)."""
        return section if isinstance(section, cls) else cls.model_validate(section.to_dict())


class StrategySection(OwnSection):
    """How the model was adapted: the common fields; each strategy's own subclass types the rest (cut, trainer...)."""

    written = frozenset({"name", "spec"})

    name: str
    spec: str | None = None
    auto: dict[str, Any] | None = None  # why `auto` chose this strategy (strategies/auto.py's AutoSection)


class HeadSection(OwnSection):
    """The head's configuration: the common fields; each strategy's own subclass types the rest (C, prototypes...)."""

    written = frozenset({"type", "kind", "memory", "memory_reason"})

    type: str | None = None
    kind: str | None = None
    memory: dict[str, Any] | None = None  # exemplar memory for `expand`, or None
    memory_reason: str | None = None  # why there is none


_SECTIONS: dict[str, tuple[type[StrategySection], type[HeadSection]]] = {}


_SECTION_LOADERS: list[Callable[[str], object]] = []


def register_sections(strategy: str, section: type[StrategySection], head: type[HeadSection]) -> None:
    """Type the `strategy` and `head` sections of bundles made by `strategy` (done by each `Strategy` subclass)."""
    _SECTIONS[strategy] = (section, head)


def register_section_loader(load: Callable[[str], object]) -> None:
    """`load(name)` imports the module of the strategy called `name`, whose classes then register their sections:
    the strategies registry hands it over, as strategies load on first use."""
    _SECTION_LOADERS.append(load)


def _sections(strategy: str) -> tuple[type[StrategySection], type[HeadSection]]:
    if strategy not in _SECTIONS:
        for load in _SECTION_LOADERS:
            load(strategy)
    return _SECTIONS.get(strategy, (StrategySection, HeadSection))


Own = TypeVar("Own", bound=OwnSection)


def _as_own(model: type[Own], value: OwnSection) -> Own:
    """`value` validated as `model`; a ValueError (which pydantic reports at the section's place) when it is not."""
    try:
        return model.of(value)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{field}: {first['msg']}") from None


class TargetsSection(_Section):
    """How labels were read: the tag separator and per-tag thresholds (multi-label), or the target column."""

    separator: str | None = None
    thresholds: dict[str, float] | None = None
    column: str | None = None


class DataSection(_Section):
    """The data the model last learned from."""

    source: str | None = None
    fingerprint: str | None = None
    labels_per_class: int | None = None
    counts: dict[str, Any] = Field(default_factory=dict)
    class_counts_train: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """A bundle's manifest.json, after migration: every section present and typed."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    task: str = DEFAULT_TASK
    modality: str
    labels: list[str]
    targets: TargetsSection | None = None
    backbone: BackboneSpec | None = None
    strategy: SerializeAsAny[StrategySection]  # as the strategy's own section type (registered sections)
    head: SerializeAsAny[HeadSection] = Field(default_factory=HeadSection)
    data: DataSection = Field(default_factory=DataSection)
    metrics: dict[str, Any] = Field(default_factory=dict)
    history: list[Any] = Field(default_factory=list)
    config: dict[str, Any] | None = None
    expand_config: dict[str, Any] | None = None
    seed: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    created: str | None = None
    parent: dict[str, Any] | None = None
    changes: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    skipped: list[dict[str, Any]] = Field(default_factory=list)
    run_id: str | None = None
    tracking_uri: str | None = None
    files: dict[str, str] = Field(default_factory=dict)

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        return _registered("task kind", value, is_task, task_names)

    @field_validator("strategy")
    @classmethod
    def _strategy_own_section(cls, value: StrategySection) -> StrategySection:
        section, _ = _sections(value.name)
        return _as_own(section, value)

    @field_validator("head")
    @classmethod
    def _head_own_section(cls, value: HeadSection, info: ValidationInfo) -> HeadSection:
        strategy = info.data.get("strategy")
        _, head = _sections(strategy.name) if strategy else (StrategySection, HeadSection)
        return _as_own(head, value)

    @field_validator("modality")
    @classmethod
    def _known_modality(cls, value: str) -> str:
        return _registered("modality", value, is_modality, modality_names)

    @field_validator("files")
    @classmethod
    def _inside_bundle(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _plain_name(name):
                raise ValueError(f"file {name!r} is not a file name inside the bundle folder")
        return value

    @property
    def kind(self) -> Task:
        """The task kind's object."""
        return get_task(self.task)

    @property
    def input_kind(self) -> Any:
        """The modality's object."""
        return get_modality(self.modality)

    @property
    def thresholds(self) -> Any:
        """Per-label decision thresholds in label order (multi-label), else None."""
        return self.kind.thresholds((self.targets.thresholds if self.targets else None) or {}, self.labels)

    @property
    def strategy_name(self) -> str:
        return self.strategy.name

    @property
    def trained(self) -> str:
        """What was trained, as the user would ask for it again (`partial:2`, `linear`...)."""
        return self.strategy.spec or self.strategy.name

    @property
    def test_metrics(self) -> dict[str, Any]:
        return dict(self.metrics.get("test") or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written to manifest.json (extras a newer headstart wrote are kept)."""
        return self.model_dump(mode="json")


def _registered(what: str, value: str, known: Callable[[object], bool], names: Callable[[], Sequence[str]]) -> str:
    """`value` when a task kind or modality of that name is registered, else the ValueError naming the known ones."""
    if not known(value):
        raise ValueError(f"unknown {what} {value!r} (known: {', '.join(names())})")
    return value


def _plain_name(name: str) -> bool:
    """A relative path of plain parts (no `..`, no root, no drive): stays inside the folder it is joined to."""
    if not name or "\\" in name or ":" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and all(part not in ("", ".", "..") for part in path.parts)


# ---------------------------------------------------------------- migration


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """The manifest of any older format as the current one (defaults filled here, once)."""
    manifest = dict(raw)
    version = manifest.get("format_version")
    if version is None or version < 2:
        # format 1: `task` arrived late (bundles before it are classification); sections could be null
        if manifest.get("task") is None:
            manifest["task"] = DEFAULT_TASK
        for key in ("head", "data"):
            if manifest.get(key) is None:
                manifest[key] = {}
        for key in ("metrics", "versions"):
            if manifest.get(key) is None:
                manifest[key] = {}
        for key in ("history", "notes", "skipped"):
            if manifest.get(key) is None:
                manifest[key] = []
        manifest["format_version"] = FORMAT_VERSION
    backbone = manifest.get("backbone")
    if isinstance(backbone, dict) and backbone.get("name") == "voice-encoder" and not backbone.get("options"):
        # written before the voice-encoder's pooling option: those bundles ran GE2E's d-vectors (now pool=last)
        manifest["backbone"] = {**backbone, "options": {"pool": "last"}}
    return manifest


def parse_manifest(raw: object, where: str = MANIFEST) -> Manifest:
    """The typed manifest of a decoded manifest.json (migrated), or a BundleError saying what is wrong."""
    if not isinstance(raw, dict):
        raise BundleError(
            f"{where} holds {type(raw).__name__ if raw is not None else 'null'}, not a manifest",
            expected="a JSON object written by `headstart fit`",
            fix="the bundle is corrupt: train it again with `headstart fit`",
        )
    if raw.get("format") != FORMAT:
        raise BundleError(
            f"{where} is not a headstart manifest",
            expected=f'"format": "{FORMAT}"',
            fix="use a bundle from `headstart fit`",
        )
    version = raw.get("format_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        raise BundleError(
            f"{where} has format version {version!r}",
            expected=f"a whole number from 1 to {FORMAT_VERSION}",
            fix="the bundle is corrupt: train it again with `headstart fit`",
        )
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version!r} is newer than this headstart understands ({FORMAT_VERSION})",
            fix="upgrade headstart: pip install -U headstart",
        )
    try:
        return Manifest.model_validate(migrate(raw))
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BundleError(
            f"{where} is invalid: {field}: {first['msg'].removeprefix('Value error, ')}"
            + (f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""),
            expected="a manifest as `headstart fit` writes it (labels a list of texts, files a mapping, a strategy)",
            fix="the bundle is corrupt or was edited: train it again with `headstart fit`",
        ) from None


# ---------------------------------------------------------------- reading a bundle's manifest


def read_manifest(path: str | Path) -> Manifest:
    """The checked manifest of the bundle folder at `path`: shape, kinds, files and head weights, before any load."""
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
        raw = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise BundleError(
            f"{manifest_path} is not valid JSON ({type(err).__name__}: {str(err)[:200]})",
            fix="the bundle is corrupt: train it again with `headstart fit`",
        ) from None
    manifest = parse_manifest(raw, str(manifest_path))
    check_files(path, manifest)
    check_head_outputs(manifest, head_shapes(path / HEAD_WEIGHTS))
    return manifest


def check_files(folder: Path, manifest: Manifest) -> None:
    """Every recorded file is a regular file inside `folder` whose hash matches (head weights are required)."""
    root = folder.resolve()
    names = dict(manifest.files)
    if HEAD_WEIGHTS not in names:
        raise BundleError(
            f"the manifest of {folder} does not list {HEAD_WEIGHTS}",
            expected=f'"files": {{"{HEAD_WEIGHTS}": "<sha256>"}}',
            fix="the bundle is corrupt or was edited: train it again with `headstart fit`",
        )
    for name, digest in names.items():
        file = folder / name
        inside = file.resolve().is_relative_to(root)  # a symlink out of the folder is not the bundle's file
        if not inside:
            raise BundleError(
                f"bundle file {name} of {folder} points outside the bundle folder",
                expected="files inside the bundle folder",
                fix="copy the bundle's real files into the folder (no links), or train it again",
            )
        if not file.is_file():
            what = "a folder" if file.is_dir() else "missing"
            raise BundleError(f"bundle file {name} in {folder} is {what}", fix="copy the whole bundle folder")
        if file_sha256(file) != digest:
            raise BundleError(
                f"bundle file {name} in {folder} does not match its recorded hash",
                expected="files unchanged since `headstart fit` wrote them",
                fix="the bundle was modified or corrupted: train it again",
            )


def head_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors file's header, read as JSON (nothing is unpickled or loaded)."""
    bad = BundleError(
        f"{file} is not a safetensors file",
        expected="head weights written by headstart (safetensors; a pickle or torch file is never loaded)",
        fix="the bundle is corrupt or was edited: train it again with `headstart fit`",
    )
    try:
        with open(file, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise bad
            (size,) = struct.unpack("<Q", prefix)
            if size > MAX_HEADER_BYTES:
                raise bad
            header = json.loads(f.read(size))
            total = f.seek(0, 2) - 8 - size
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, struct.error):
        raise bad from None
    if not isinstance(header, dict):
        raise bad
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(int(n) for n in entry["shape"])
            start, end = (int(n) for n in entry["data_offsets"])
        except (TypeError, KeyError, ValueError):
            raise bad from None
        if not 0 <= start <= end <= total:
            raise bad
        shapes[name] = shape
    return shapes


OUTPUT_TENSORS = ("intercept", "head.bias", "label_embeddings")  # rows: one per output of the head


def check_head_outputs(manifest: Manifest, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """BundleError when the head's outputs and the manifest's labels disagree in number."""
    n = len(manifest.labels)
    if n == 0:
        raise BundleError("the manifest lists no labels", fix="the bundle is corrupt or was edited: train it again")
    kind = manifest.kind
    expected = {len(kind.output_names(manifest.labels, None))}
    if kind.outputs is Outputs.CLASSES and n == 2:
        expected.add(1)  # a binary logistic head scores one side
    for name in OUTPUT_TENSORS:
        shape = shapes.get(name)
        if shape and shape[0] not in expected:
            raise BundleError(
                f"the manifest lists {n} label(s) but the head has {shape[0]} output(s)",
                expected="one label per output of the head, as `headstart fit` wrote them",
                fix="the bundle's manifest was edited: restore it, or train the model again",
            )


# ---------------------------------------------------------------- building


def build_manifest(
    *,
    task: str,
    modality: str,
    labels: list[str],
    model_sections: Mapping[str, Any],
    backbone: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    targets: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
    **sections: Any,
) -> Manifest:
    """The manifest of a new bundle (fit and expand): the model's own sections (`strategy`, `head`...) and the rest.

    `files` is filled by `save_bundle`; `created` is now unless given.
    """
    document: dict[str, Any] = {
        "task": task,
        "modality": modality,
        "labels": list(labels),
        "targets": targets,
        "backbone": backbone,
        **model_sections,
        "data": data,
        "versions": dict(versions or {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **sections,
    }
    try:
        return Manifest.model_validate(json.loads(json.dumps(document, default=json_default)))
    except ValidationError as err:  # a bug: headstart itself built it
        raise AssertionError(f"built an invalid manifest: {err}") from err


def json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
