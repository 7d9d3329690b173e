"""Datasets from folders of files: `<root>/<class>/<file>`, optional `train/ test/ [validation/]` split
folders, and unlabelled lists of files or folders for prediction (read by `inputs.load_input_files`, folders
walked recursively). The rules are the same for every modality whose items are files; a `FileKind` says how its
files are recognised, checked and named (`IMAGES` here, recordings in `audio_loading`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from headstart.data.dataset import Dataset, SkippedItem, check_on_bad, normalize_split
from headstart.data.images import IMAGE_EXTENSIONS, check_image_header, is_image_file
from headstart.data.inputs import FolderListing, InputKind, load_input_files
from headstart.errors import BadItemError, DataError

ACCEPTED = ", ".join(sorted(IMAGE_EXTENSIONS))
OTHER_IMAGE_FORMATS = frozenset({".heic", ".heif", ".avif", ".jxl", ".svg", ".raw", ".cr2", ".nef", ".dng", ".psd"})
LAYOUT = "<root>/<class>/<file>"


@dataclass(frozen=True)
class FileKind:
    """The files of one modality, as folder datasets see them."""

    modality: str  # the Dataset's modality name
    noun: str  # "image" in "an image file", "image files"
    plural: str  # "images" in "no images found", "a folder of images"
    extensions: frozenset[str]
    example: str  # one file in its class folder, for fixes: "cat/1.jpg"
    recognises: Callable[[Path], bool]  # by name: the file is one of these
    check_header: Callable[[Path], object]  # raises BadItemError when the header shows the file cannot be used
    not_accepted: Callable[[Path], str]  # why a file of another kind is skipped

    @property
    def accepted(self) -> str:
        return ", ".join(sorted(self.extensions))

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        """(absolute path, None) for a usable file named in a table cell (relative to the table's folder), else
        (None, the reason)."""
        if not isinstance(raw, str) or not raw.strip():
            return None, f"empty {self.noun} path"
        given = Path(raw.strip())
        path = given if given.is_absolute() else table.parent / given
        if not self.recognises(path):
            return None, f"{raw!r} is not an {self.noun} file name ({self.accepted})"
        try:
            self.check_header(path)
        except BadItemError as err:
            return None, f"{raw}: {err.reason}"
        return str(path), None

    @property
    def inputs(self) -> InputKind:
        """These files as prediction inputs: folders read recursively, each real file once."""
        return InputKind(
            modality=self.modality,
            noun=self.noun,
            plural=self.plural,
            accepted=self.accepted,
            in_folders="at any depth",
            list_folder=_walk_inputs,
            check=self.check_header,
            foreign=lambda path: None if self.recognises(path) else self.not_accepted(path),
        )

    def header_problem(self, path: Path, item_id: str, on_bad: str) -> SkippedItem | None:
        """None when the header is fine; the skip record when not (or raise with `on_bad="fail"`)."""
        try:
            self.check_header(path)
        except BadItemError as e:
            if on_bad == "fail":
                raise BadItemError(item_id, e.reason) from e
            return SkippedItem(item_id, e.reason)
        return None


def _not_image(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in OTHER_IMAGE_FORMATS:
        return f"unsupported image format ({suffix}); accepted: {ACCEPTED}"
    return f"not an image file ({suffix or 'no extension'})"


IMAGES = FileKind(
    modality="image",
    noun="image",
    plural="images",
    extensions=IMAGE_EXTENSIONS,
    example="cat/1.jpg",
    recognises=is_image_file,
    check_header=check_image_header,
    not_accepted=_not_image,
)


def load_image_folder(root: str | Path, *, on_bad: str = "skip") -> Dataset:
    """A labelled image `Dataset` from `<root>/<class>/<file>`: `load_file_folder` with `IMAGES`."""
    return load_file_folder(root, IMAGES, on_bad=on_bad)


def load_image_inputs(paths: Sequence[str | Path], *, on_bad: str = "skip") -> Dataset:
    """An unlabelled image `Dataset` for prediction: `load_file_inputs` with `IMAGES`."""
    return load_file_inputs(paths, IMAGES, on_bad=on_bad)


def load_file_folder(root: str | Path, kind: FileKind, *, on_bad: str = "skip") -> Dataset:
    """A labelled `Dataset` of `kind`'s files from `<root>/<class>/<file>` (class folders may nest deeper).

    When the subfolders of `root` are split names (`train/`, `test/`, `validation/`, `val/`, `valid/` or
    `dev/`), each with class folders, the items carry those splits; a missing test part is carved from train
    by `split_dataset`, and a folder of `test/` alone is labelled data to evaluate on. Folders whose names
    start with "." or "__" (`.ipynb_checkpoints`, `__MACOSX`) are never classes. Ids are paths relative to
    `root`, sorted.
    """
    policy = check_on_bad(on_bad)
    base = Path(root)
    _refuse_bundle(base, kind)
    split_dirs, layout_notes = _split_layout(base, kind)
    if split_dirs is None:
        groups: list[tuple[Path, str | None]] = [(base, None)]
    else:
        groups = [(base / name, split) for split, name in split_dirs]
    paths: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    splits: list[str | None] = []
    skipped: list[SkippedItem] = []
    walk = Walk(base, seen_dirs={_dir_key(base), *(_dir_key(folder) for folder, _ in groups)})
    for group_root, _ in groups:  # a link from one class folder into another must not relabel its images
        walk.reserved.update(_dir_key(d) for d in _children(group_root)[0])
    n_found = 0
    for group_root, split in groups:
        class_dirs, loose = _children(group_root)
        if not class_dirs:
            where = LAYOUT if split is None else f"<root>/{group_root.name}/<class>/<file>"
            found = sum(1 for f in loose if kind.recognises(f))
            raise DataError(
                f"{str(group_root)!r} has no class subfolders"
                + (f" ({found} {kind.noun}(s) lie directly in it)" if found else ""),
                expected=f"one subfolder per class: {where}",
                fix=f"move the {kind.plural} into one folder per class, e.g. {group_root}/{kind.example}"
                + (
                    f"; or, if {group_root.name!r} is itself a class folder, pass the folder above it "
                    f"({group_root.parent})"
                    if found and split is None
                    else ""
                ),
            )
        for f in loose:
            reason = "not inside a class folder" if kind.recognises(f) else kind.not_accepted(f)
            skipped.append(SkippedItem(_rel(f, base), reason))
        for class_dir in class_dirs:
            for f in walk.files(class_dir):
                rel = _rel(f, base)
                if not kind.recognises(f):
                    skipped.append(SkippedItem(rel, kind.not_accepted(f)))
                    continue
                n_found += 1
                bad = kind.header_problem(f, rel, policy)
                if bad is not None:
                    skipped.append(bad)
                    continue
                paths.append(str(f))
                ids.append(rel)
                labels.append(class_dir.name)
                splits.append(split)
    if n_found == 0:
        raise DataError(
            f"no {kind.plural} found in {str(base)!r}",
            expected=f"{kind.noun} files ({kind.accepted}) laid out as {LAYOUT}",
            fix=f"check the path, and that the files have one of the extensions {kind.accepted}",
        )
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    return Dataset(
        modality=kind.modality,
        items=tuple(paths[i] for i in order),
        ids=tuple(ids[i] for i in order),
        labels=tuple(labels[i] for i in order),
        splits=None if split_dirs is None else tuple(splits[i] for i in order),
        source=str(base),
        skipped=tuple(sorted([*skipped, *walk.skipped], key=lambda s: s.id)),
        notes=(
            *layout_notes,
            *_ignored_notes(base, [base, *(folder for folder, split in groups if split)]),
            *walk.notes,
        ),
    )


def load_file_inputs(paths: Sequence[str | Path], kind: FileKind, *, on_bad: str = "skip") -> Dataset:
    """An unlabelled `Dataset` of `kind`'s files for prediction: each path is a file or a folder (recursive)."""
    return load_input_files(paths, kind.inputs, on_bad=on_bad)


def _walk_inputs(folder: Path, named: Path) -> FolderListing:
    """Every visible file under `folder` (recursive, each real one once), ids under the path as the user named it."""
    walk = Walk(folder, prefix=named)
    files = [(f, walk.id_of(f)) for f in walk.files(folder)]
    return FolderListing(files, walk.skipped, walk.notes)


def _split_layout(root: Path, kind: FileKind) -> tuple[list[tuple[str, str]] | None, list[str]]:
    """([(split, folder name)], notes) when the subfolders of `root` are split folders, else (None, notes).

    Split names are never silently read as classes: folders without a file of `kind` beside split folders are
    ignored (noted); two split folders beside folders of such files, or a split-named folder holding only
    subfolders there, is a `DataError`. One split name among class folders that holds such files itself
    (`valid/` beside `invalid/`) is a class. Two folders for one split (`val/` and `dev/`) is a `DataError`.
    """
    dirs, _ = _children(root)
    named = {d.name: normalize_split(d.name) for d in dirs}
    split_names = [name for name, split in named.items() if split is not None]
    if not split_names:
        return None, []
    others = [name for name, split in named.items() if split is None]
    with_files = [name for name in others if _holds(root / name, kind)]
    if with_files:
        _refuse_mixed_layout(root, split_names, with_files, kind)
        return None, []  # one split name among class folders, holding files itself: a class
    notes = []
    if others:
        shown_others = ", ".join(f"{name}/" for name in others)
        notes.append(f"ignored {shown_others} in {root}: no {kind.noun} in it, and it sits beside split folders")
    found = [named[name] for name in split_names]
    if len(set(found)) != len(found):
        shown = ", ".join(f"{name}/" for name in split_names)
        raise DataError(
            f"{str(root)!r} looks like a split layout ({shown}) but names one split twice",
            expected="one folder per split: train/, and optionally validation/ (or val/, valid/, dev/) and test/",
            fix="merge or rename the folders so that each split has one folder",
        )
    order = {"train": 0, "validation": 1, "test": 2}
    pairs = [(split, name) for name, split in named.items() if split is not None]
    return sorted(pairs, key=lambda pair: order[pair[0]]), notes


def _refuse_mixed_layout(root: Path, split_names: list[str], classes: list[str], kind: FileKind) -> None:
    """A `DataError` unless the one split-named folder beside class folders holds files itself (a class)."""
    looks_split = [name for name in split_names if not any(kind.recognises(f) for f in _children(root / name)[1])]
    if len(split_names) < 2 and not looks_split:
        return
    shown_splits = ", ".join(f"{name}/" for name in split_names)
    shown_classes = ", ".join(f"{name}/" for name in classes[:5]) + (" ..." if len(classes) > 5 else "")
    raise DataError(
        f"{str(root)!r} mixes split folders ({shown_splits}) with other folders of {kind.plural} ({shown_classes}); "
        "split names are not read as classes",
        expected="either split folders only (train/, and optionally validation/ and test/, each holding "
        f"<class>/<file>), or class folders only ({LAYOUT})",
        fix=f"move {shown_classes} out of {root} (or into the split folders), or rename the folders; folders "
        "whose names start with '.' or '__' are ignored",
    )


def _holds(folder: Path, kind: FileKind) -> bool:
    """Whether any visible file under `folder` is one of `kind` (stops at the first)."""
    for current, filenames in Walk(folder).folders(folder):
        if any(kind.recognises(current / name) for name in filenames):
            return True
    return False


def _hidden_folder(name: str) -> bool:
    """Folders that are never classes or splits: hidden ones (`.git`, `.ipynb_checkpoints`) and tool artefacts
    whose names start with "__" (`__MACOSX` in macOS zips, `__pycache__`)."""
    return name.startswith((".", "__"))


def _ignored_notes(base: Path, roots: list[Path]) -> list[str]:
    """A note naming the "__" folders skipped in `roots` (dot folders are hidden by convention, so not noted)."""
    skipped = [
        _rel(entry, base) + "/"
        for folder in roots
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.startswith("__") and entry.is_dir()
    ]
    if not skipped:
        return []
    return [f"ignored {', '.join(skipped)}: folders whose names start with '__' or '.' are never classes"]


def _children(folder: Path) -> tuple[list[Path], list[Path]]:
    """Visible subfolders (not `_hidden_folder`) and visible files of `folder`, each sorted by name."""
    dirs: list[Path] = []
    files: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not _hidden_folder(entry.name):
                dirs.append(entry)
        else:
            files.append(entry)
    return dirs, files


@dataclass
class Walk:
    """Visible files under folders, following links but never into a folder already read: a link back to an
    ancestor (`a/loop -> ../`) or a second link to the same folder is read once, and each real file counts once.

    `seen_dirs` are folders read already (the dataset root: a class folder linking back to it is not read);
    `reserved` folders are entered only as the folder asked for (class folders: a link into one is not followed);
    what was left out lands in `skipped` (a second path to a file, with ids relative to `base`) and `notes`
    (folders not re-entered).
    """

    base: Path
    prefix: Path | None = None  # ids are shown under this path instead of relative to `base` (predict's inputs)
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    reserved: set[tuple[int, int]] = field(default_factory=set)  # folders read only as the root of their own walk
    seen_files: dict[tuple[int, int], str] = field(default_factory=dict)
    skipped: list[SkippedItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def folders(self, folder: Path) -> Iterator[tuple[Path, list[str]]]:
        """(folder, its visible file names) for `folder` and every visible folder under it, each real one once."""
        for current, dirnames, filenames in os.walk(folder, followlinks=True):
            here = Path(current)
            key = _dir_key(here)
            if key in self.seen_dirs or (key in self.reserved and here != folder):
                dirnames[:] = []
                self.notes.append(
                    f"not read through {self.id_of(here)}/: it links to {os.path.realpath(here)}, which is read "
                    "once, as itself"
                )
                continue
            self.seen_dirs.add(key)
            dirnames[:] = sorted(d for d in dirnames if not _hidden_folder(d))
            yield here, sorted(name for name in filenames if not name.startswith("."))

    def files(self, folder: Path) -> list[Path]:
        """Visible files under `folder`, recursively, sorted by relative path; a second path to a file is skipped."""
        found: list[Path] = []
        for current, filenames in self.folders(folder):
            for name in filenames:
                path = current / name
                try:
                    st = path.stat()
                except OSError:
                    found.append(path)  # a broken link: reported by the header check ("file not found")
                    continue
                key = (st.st_dev, st.st_ino)
                first = self.seen_files.get(key)
                if first is not None:
                    self.skipped.append(SkippedItem(self.id_of(path), f"the same file as {first} (counted once)"))
                    continue
                self.seen_files[key] = self.id_of(path)
                found.append(path)
        return sorted(found, key=lambda f: f.relative_to(folder).as_posix())

    def id_of(self, path: Path) -> str:
        """How `path` is named in ids and messages."""
        shown = _shown(path, self.base)
        return shown if self.prefix is None else (self.prefix / shown).as_posix()


def _dir_key(folder: Path) -> tuple[int, int]:
    """The identity of a folder whatever the path (links included) that reaches it."""
    st = folder.stat()
    return st.st_dev, st.st_ino


def _shown(path: Path, base: Path) -> str:
    """`path` relative to `base` when under it (as ids are), else as given."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _refuse_bundle(folder: Path, kind: FileKind) -> None:
    """A headstart bundle (a folder with `manifest.json`) passed where a dataset is expected is a `DataError`."""
    if not (folder / "manifest.json").is_file():
        return
    raise DataError(
        f"{str(folder)!r} is a headstart bundle (a trained model), not a dataset",
        expected=f"a dataset: a folder of {kind.plural} laid out as {LAYOUT}, or a table",
        fix=f"pass the data folder instead; to use this model run `headstart predict {folder} INPUTS...`",
    )


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()
