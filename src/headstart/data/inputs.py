"""Unlabelled datasets to predict from the files and folders a user names: one walk for every modality whose
items are files. An `InputKind` says what differs: how a folder lists its files, how one file is checked, what
the files are called and which modality they make (`folders.load_file_inputs` for images and recordings,
`modalities.documents` for documents)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from headstart.data.dataset import Dataset, SkippedItem, check_on_bad
from headstart.errors import BadItemError, DataError


@dataclass(frozen=True)
class FolderListing:
    """The files a folder holds, each with its id, and what its walk left out (`Walk.skipped`, `Walk.notes`)."""

    files: list[tuple[Path, str]]
    skipped: list[SkippedItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _never_foreign(path: Path) -> str | None:
    return None


@dataclass(frozen=True)
class InputKind:
    """The files of one modality, as prediction inputs see them."""

    modality: str  # the Dataset's modality name
    noun: str  # "image" in "an image file", "image files"
    plural: str  # "images" in "no images found", "a folder of images"
    accepted: str  # the accepted extensions, for messages: ".jpg, .png"
    in_folders: str  # where a folder holds them, for messages: "at any depth"
    list_folder: Callable[[Path, Path], FolderListing]  # (folder, as the user named it) -> its files with ids
    check: Callable[[Path], object]  # raises BadItemError when the file cannot be used (skipped, or raised on fail)
    foreign: Callable[[Path], str | None] = _never_foreign  # why a file is another kind's: skipped even on fail
    resolve: bool = False  # keep each item's absolute path (else the path as found)

    @property
    def a_noun(self) -> str:
        return ("an " if self.noun[:1] in "aeiou" else "a ") + self.noun


def load_input_files(paths: Sequence[str | Path], kind: InputKind, *, on_bad: str = "skip") -> Dataset:
    """An unlabelled `Dataset` of `kind`'s files for prediction, in the order given: each path is a file or a
    folder (listed by `kind.list_folder`). A file another kind's is skipped with the reason; one that fails
    `kind.check` is skipped, or raised with `on_bad="fail"`. A `DataError` when a path does not exist or no file
    of any kind was found."""
    policy = check_on_bad(on_bad)
    items: list[str] = []
    ids: list[str] = []
    skipped: list[SkippedItem] = []
    notes: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise DataError(
                f"input {str(given)!r} does not exist",
                expected=f"{kind.a_noun} file ({kind.accepted}) or a folder of {kind.plural}",
                fix="check the path (relative paths start from the current directory)",
            )
        if path.is_dir():
            listing = kind.list_folder(path, Path(given))
            files = listing.files
            skipped.extend(listing.skipped)
            notes.extend(listing.notes)
        else:
            files = [(path, str(given))]
        for file, item_id in files:
            reason = kind.foreign(file)
            if reason is not None:
                skipped.append(SkippedItem(item_id, reason))
                continue
            try:
                kind.check(file)
            except BadItemError as err:
                if policy == "fail":
                    raise BadItemError(item_id, err.reason) from err
                skipped.append(SkippedItem(item_id, err.reason))
                continue
            items.append(str(file.resolve() if kind.resolve else file))
            ids.append(item_id)
    if not items and not skipped:
        shown = ", ".join(repr(str(p)) for p in paths) or "(no inputs)"
        raise DataError(
            f"no {kind.plural} found in {shown}",
            expected=f"{kind.noun} files ({kind.accepted}), or folders holding them ({kind.in_folders})",
            fix=f"pass {kind.noun} files or folders that contain {kind.plural}",
        )
    return Dataset(
        modality=kind.modality,
        items=tuple(items),
        ids=tuple(ids),
        source=", ".join(str(p) for p in paths),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )
