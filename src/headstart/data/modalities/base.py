"""The `Modality` seam: one object per kind of input owns how its items are read, checked and shown.

Code outside the modality modules never compares a modality name to a string: it asks `get_modality(name)`
and uses the object. A new modality is added by subclassing `Modality` and calling `register_modality`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from headstart.errors import UsageError
from headstart.plugins import load_plugins

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset


class Modality:
    """A kind of input. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    noun: ClassVar[str]  # one item, in messages: "image", "text"
    default_backbone: ClassVar[str | None] = None  # `fit` without --backbone
    baseline_features: ClassVar[str] = ""  # the no-transfer baseline's features (strategies/baseline.py)
    size_unit: ClassVar[str] = ""  # what a backbone's input size counts ("px", "tokens")
    resizable: ClassVar[bool] = False  # a backbone's input size can be chosen (`name@SIZE`)
    items_are_files: ClassVar[bool] = False  # items are paths of files (hashed by content, absolute on workers)
    augmentable: ClassVar[bool] = False  # training can add augmented views of an item
    ragged: ClassVar[bool] = False  # activations are token sequences of varying length, with an attention mask
    # items are texts: the HTTP service takes JSON strings, `predict` raw strings, its backbones embed label names
    accepts_texts: ClassVar[bool] = False
    accepts_uploads: ClassVar[bool] = False  # the HTTP service takes multipart file uploads
    page_input: ClassVar[str] = "text"  # what the try-it page asks for: "text" (a text box) or "file"
    one_class_fix: ClassVar[str] = "add items of at least one other class"

    def decode(self, item: str) -> Any:
        """The decoded item a backbone preprocesses; raises BadItemError when it cannot be used."""
        return item

    def digest(self, item: str) -> str:
        """Content hash of one item (what fingerprints and feature caches key on)."""
        return hashlib.sha256(item.encode("utf-8", "surrogatepass")).hexdigest()  # a lone surrogate fails per item

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        """(item, None) for a usable cell of a table's item column, else (None, the reason)."""
        if raw is None or (isinstance(raw, float) and raw != raw):
            return None, f"empty {self.noun} (missing value)"
        text = raw if isinstance(raw, str) else str(raw)
        return (text, None) if text.strip() else (None, f"empty {self.noun}")

    def claims(self, path: Path) -> bool:
        """Whether `load` reads the dataset at `path` (checked before the built-in folder and table rules)."""
        return False

    def load(self, path: Path, **options: Any) -> Dataset:
        """The dataset at a path this modality `claims`; `options` are `load_dataset`'s (task, columns, on_bad...)."""
        raise NotImplementedError

    def load_inputs(self, inputs: Sequence[str], *, text_column: str | None, on_bad: str) -> Dataset | None:
        """Unlabelled items to predict from `inputs`, or None to read them by the built-in rules (files, tables)."""
        return None

    def inspect(self, ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        """Modality-specific statistics for `inspect` (image sizes...) and the items that fail its checks."""
        return None, []

    def check_items(self, directory: Path) -> tuple[str, ...] | None:
        """A few generated items (files written into `directory`) for `export`'s parity check; None: images/texts."""
        return None

    def decode_steps(self) -> list[str] | None:
        """How a file becomes the decoded item, for an export's card; None: the built-in image steps."""
        return None

    def page(self) -> dict[str, Any]:
        """What the try-it page and /v1/model say about the inputs this modality takes."""
        return {"input": self.page_input, "noun": self.noun, "texts": self.accepts_texts, "files": self.accepts_uploads}

    def __repr__(self) -> str:
        return f"<Modality {self.name}>"


_MODALITIES: dict[str, Modality] = {}


def register_modality(modality: Modality) -> Modality:
    """Make `modality` known by its name (to datasets, backbones, bundles, the service); returns it."""
    _MODALITIES[modality.name] = modality
    return modality


def unregister_modality(name: str) -> None:
    """Forget a registered modality (tests register fakes)."""
    _MODALITIES.pop(name, None)


def get_modality(name: str | Modality) -> Modality:
    """The registered modality called `name` (a Modality is returned as is); UsageError when unknown."""
    if isinstance(name, Modality):
        return name
    modality = _MODALITIES.get(name) if isinstance(name, str) else None
    if modality is None and isinstance(name, str) and load_plugins("headstart.modalities"):
        modality = _MODALITIES.get(name)
    if modality is None:
        raise UsageError(
            f"modality {name!r} is not known",
            expected=f"one of {', '.join(_MODALITIES)}",
            fix=f"pass modality={' or '.join(repr(m) for m in _MODALITIES)}, or leave it out",
        )
    return modality


def item_digests(ds: Dataset) -> list[str]:
    """The content hash of every item of `ds`, as its modality computes it (what fingerprints and caches key on)."""
    modality = get_modality(ds.modality)
    return [modality.digest(item) for item in ds.items]


def is_modality(name: object) -> bool:
    return isinstance(name, str) and name in _MODALITIES


def all_modalities() -> list[Modality]:
    load_plugins("headstart.modalities")
    return list(_MODALITIES.values())


def modality_names() -> tuple[str, ...]:
    return tuple(_MODALITIES)


def claiming(path: Path, names: Sequence[str] | None = None) -> Modality | None:
    """The registered modality that reads the dataset at `path` itself, if any."""
    for modality in _MODALITIES.values():
        if (names is None or modality.name in names) and modality.claims(path):
            return modality
    return None
