"""The audio modality's datasets, and its registration: folders of recordings per class (`<root>/<class>/<file>`,
optional split folders), tables with a column of audio paths, and unlabelled files or folders to predict.

Each file's header is checked while listing (0-byte, non-audio, too many channels, too long): those are
skipped with their reason, or raise with `on_bad="fail"`; what only decoding reveals (truncated bodies, NaN
samples, silence) is skipped when the item is decoded, as for images.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from headstart.data.audio import AUDIO_EXTENSIONS, is_audio_file, read_header
from headstart.data.dataset import Dataset, SkippedItem, check_on_bad
from headstart.data.folders import Walk, _children, _split_layout
from headstart.data.images import is_image_file
from headstart.data.modalities import register_modality
from headstart.data.modalities.audio import AudioModality
from headstart.errors import BadItemError, DataError

ACCEPTED = ", ".join(sorted(AUDIO_EXTENSIONS))
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
LAYOUT = "<root>/<class>/<file>"
PATH_COLUMN_NAMES = ("path", "audio", "audio_path", "file", "filename", "filepath", "file_path", "wav")
MIN_AUDIO_SHARE = 0.9
PEEK_FILES = 64  # files looked at to decide whether a folder holds recordings
PEEK_ROWS = 100


def holds_audio(folder: Path) -> bool:
    """Whether the first visible files under `folder` are mostly recordings (not images or texts)."""
    if (folder / "manifest.json").is_file():
        return False
    audio = other = 0
    for _, names in Walk(folder).folders(folder):
        for name in names:
            if is_audio_file(name):
                audio += 1
            elif is_image_file(name):
                other += 1
            if audio + other >= PEEK_FILES:
                return audio > other
        if audio + other >= PEEK_FILES:
            break
    return audio > other


def audio_path_column(columns: Sequence[str], rows: Sequence[dict[str, object]]) -> str | None:
    """The column named like a path whose values are mostly audio file names, or None."""
    for column in columns:
        if str(column).strip().lower() not in PATH_COLUMN_NAMES:
            continue
        values = [v for v in (r.get(column) for r in rows) if isinstance(v, str) and v.strip()]
        if values and sum(is_audio_file(v.strip()) for v in values) >= MIN_AUDIO_SHARE * len(values):
            return str(column)
    return None


def table_has_audio(path: Path) -> bool:
    """Whether a CSV/TSV/JSONL table names recordings in a path column (its first rows are read)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                rows = list(islice(reader, PEEK_ROWS))
                columns = list(reader.fieldnames or [])
        elif suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                rows = [
                    r
                    for r in (json.loads(line) for line in islice(f, PEEK_ROWS) if line.strip())
                    if isinstance(r, dict)
                ]
            columns = list(dict.fromkeys(k for r in rows for k in r))
        else:
            return False
    except (OSError, UnicodeDecodeError, ValueError, csv.Error):
        return False  # the table reader says what is wrong with it
    return audio_path_column(columns, rows) is not None


def header_problem(path: Path, item_id: str, on_bad: str) -> SkippedItem | None:
    """None when the header passes the guards; the skip record when not (or raise with `on_bad="fail"`)."""
    try:
        read_header(path)
    except BadItemError as e:
        if on_bad == "fail":
            raise BadItemError(item_id, e.reason) from e
        return SkippedItem(item_id, e.reason)
    return None


def not_audio(path: Path) -> str:
    return f"not an audio file ({path.suffix.lower() or 'no extension'}); accepted: {ACCEPTED}"


def load_audio_folder(root: Path, *, on_bad: str = "skip", task: str = "auto", target: str | None = None) -> Dataset:
    """A labelled audio `Dataset` from `<root>/<class>/<file>` (split folders as for images); ids are relative paths."""
    from headstart.data.loading import folder_task  # loading imports the modalities: read on use

    policy = check_on_bad(on_bad)
    split_dirs, notes = _split_layout(root)
    groups = [(root, None)] if split_dirs is None else [(root / name, split) for split, name in split_dirs]
    paths: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    splits: list[str | None] = []
    skipped: list[SkippedItem] = []
    walk = Walk(root)
    found = 0
    for group_root, split in groups:
        class_dirs, loose = _children(group_root)
        if not class_dirs:
            raise DataError(
                f"{str(group_root)!r} has no class subfolders",
                expected=f"one subfolder per class: {LAYOUT} (e.g. one folder per speaker)",
                fix=f"move the recordings into one folder per class, e.g. {group_root}/alice/1.wav",
            )
        for f in loose:
            reason = "not inside a class folder" if is_audio_file(f) else not_audio(f)
            skipped.append(SkippedItem(f.relative_to(root).as_posix(), reason))
        for class_dir in class_dirs:
            for f in walk.files(class_dir):
                rel = f.relative_to(root).as_posix()
                if not is_audio_file(f):
                    skipped.append(SkippedItem(rel, not_audio(f)))
                    continue
                found += 1
                bad = header_problem(f, rel, policy)
                if bad is not None:
                    skipped.append(bad)
                    continue
                paths.append(str(f))
                ids.append(rel)
                labels.append(class_dir.name)
                splits.append(split)
    if not found:
        raise DataError(
            f"no recordings found in {str(root)!r}",
            expected=f"audio files ({ACCEPTED}) laid out as {LAYOUT}",
            fix="check the path, and that the files have an audio extension",
        )
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    ds = Dataset(
        modality="audio",
        items=tuple(paths[i] for i in order),
        ids=tuple(ids[i] for i in order),
        labels=tuple(labels[i] for i in order),
        splits=None if split_dirs is None else tuple(splits[i] for i in order),
        source=str(root),
        skipped=tuple(sorted([*skipped, *walk.skipped], key=lambda s: s.id)),
        notes=(*notes, *walk.notes),
    )
    return folder_task(ds, task, target)


def load_audio_table(path: Path, **options: object) -> Dataset:
    """An audio `Dataset` from a table with a column of recording paths (relative to the table's folder)."""
    from headstart.data import tables

    policy = check_on_bad(str(options.get("on_bad", "skip")))
    require_labels = bool(options.get("require_labels", True))
    task = str(options.get("task", "auto"))
    separator = str(options.get("separator", tables.DEFAULT_SEPARATOR))
    target = options.get("target")
    label_column = options.get("label_column") or target
    frame, bad_rows = tables.read_table(path)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    rows = frame.head(PEEK_ROWS).to_dict("records")
    audio_col = audio_path_column(columns, rows)
    if audio_col is None:  # claims() saw one in the first rows: the table changed since
        raise DataError(
            f"{str(path)!r} has no column of audio paths", expected=f"a column named path with {ACCEPTED} files"
        )
    label_col = tables._resolve_label_column(path, columns, audio_col, label_column, require_labels)  # type: ignore[arg-type]
    split_col = tables._find_column(columns, (tables.SPLIT_COLUMN_NAME,))
    kind = "classification"
    if label_col is not None:
        kind = tables.detect_task(frame[label_col].tolist(), task, separator, numeric_target=target is not None)
    return tables._build(
        path,
        frame,
        bad_rows,
        audio_col,
        label_col,
        split_col,
        policy,
        require_labels,
        kind,
        separator,
        modality="audio",
    )


def load_audio_inputs(inputs: Sequence[str], *, on_bad: str = "skip") -> Dataset:
    """Unlabelled recordings to predict: each input is an audio file or a folder (read recursively)."""
    policy = check_on_bad(on_bad)
    items: list[str] = []
    ids: list[str] = []
    skipped: list[SkippedItem] = []
    notes: list[str] = []
    for given in inputs:
        p = Path(given)
        if not p.exists():
            raise DataError(
                f"input {str(given)!r} does not exist",
                expected="an audio file or a folder of recordings",
                fix="check the path (relative paths start from the current directory)",
            )
        if p.is_dir():
            walk = Walk(p, prefix=Path(given))
            files = [(f, walk.id_of(f)) for f in walk.files(p)]
            skipped.extend(walk.skipped)
            notes.extend(walk.notes)
        else:
            files = [(p, str(given))]
        for f, item_id in files:
            if not is_audio_file(f):
                skipped.append(SkippedItem(item_id, not_audio(f)))
                continue
            bad = header_problem(f, item_id, policy)
            if bad is not None:
                skipped.append(bad)
                continue
            items.append(str(f))
            ids.append(item_id)
    if not items and not skipped:
        raise DataError(
            f"no recordings found in {', '.join(repr(str(i)) for i in inputs)}",
            expected=f"audio files with one of the extensions {ACCEPTED}",
            fix="pass audio files or folders that contain recordings",
        )
    return replace(
        Dataset(modality="audio", items=tuple(items), ids=tuple(ids), source=", ".join(map(str, inputs))),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


class AudioDatasets(AudioModality):
    """`AudioModality` with the dataset readers: folders per class, tables with a path column, inputs to predict."""

    def claims(self, path: Path) -> bool:
        if path.is_dir():
            return holds_audio(path)
        return path.suffix.lower() in TABLE_SUFFIXES and table_has_audio(path)

    def load(self, path: Path, **options: Any) -> Dataset:
        if path.is_dir():
            return load_audio_folder(
                path,
                on_bad=str(options.get("on_bad", "skip")),
                task=str(options.get("task", "auto")),
                target=options.get("target"),
            )
        return load_audio_table(path, **options)

    def load_inputs(self, inputs: Sequence[str], *, text_column: str | None, on_bad: str) -> Dataset | None:
        return load_audio_inputs(inputs, on_bad=on_bad)


AUDIO = register_modality(AudioDatasets())
