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
from itertools import islice
from pathlib import Path
from typing import Any

from headstart.data.audio import AUDIO_EXTENSIONS, RECORDINGS, is_audio_file
from headstart.data.dataset import Dataset, check_on_bad
from headstart.data.folders import Walk, load_file_folder, load_file_inputs
from headstart.data.images import is_image_file
from headstart.data.modalities import register_modality
from headstart.data.modalities.audio import AudioModality
from headstart.errors import DataError

ACCEPTED = ", ".join(sorted(AUDIO_EXTENSIONS))
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
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


def load_audio_folder(root: Path, *, on_bad: str = "skip", task: str = "auto", target: str | None = None) -> Dataset:
    """A labelled audio `Dataset` from `<root>/<class>/<file>` (split folders as for images); ids are relative paths."""
    from headstart.data.loading import folder_task  # loading imports the modalities: read on use

    return folder_task(load_file_folder(root, RECORDINGS, on_bad=on_bad), task, target)


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
    return load_file_inputs(inputs, RECORDINGS, on_bad=on_bad)


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
