"""Text datasets from tables (CSV, TSV, JSONL, Parquet) and plain `.txt` files (one text per line).

Rows are numbered from 1 (the header is not a row), so `row N` in messages is the N-th data row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.cells import is_missing as _is_missing
from headstart.data.dataset import (
    SPLIT_ALIASES,
    Dataset,
    SkippedItem,
    check_on_bad,
    normalize_split,
)
from headstart.data.delimited import read_delimited
from headstart.data.image_table import image_path_column
from headstart.data.modalities import get_modality
from headstart.errors import BadItemError, DataError, UsageError, did_you_mean
from headstart.tasks import DEFAULT_SEPARATOR, Outputs, detect_task, get_task, task_label

if TYPE_CHECKING:  # pandas loads with the first table read: image commands never pay its ~0.5 s import
    import pandas as pd

TABLE_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TEXT_FILE_EXTENSIONS: frozenset[str] = frozenset({".txt"})
TEXT_COLUMN_NAMES = (
    "text",
    "sentence",
    "review",
    "message",
    "content",
    "body",
    "utterance",
    "document",
    "question",
)
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "target", "intent", "y")
SPLIT_COLUMN_NAME = "split"
CSV_DELIMITERS = (",", ";", "\t", "|")  # what `csv_delimiter` recognises in a .csv header
LONGISH_TEXT_CHARS = 15


def is_table_file(path: str | Path) -> bool:
    """True for a table (CSV/TSV/JSONL/Parquet) or `.txt` extension, case-insensitive."""
    suffix = Path(path).suffix.lower()
    return suffix in TABLE_EXTENSIONS or suffix in TEXT_FILE_EXTENSIONS


def load_table(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    on_bad: str = "skip",
    require_labels: bool = True,
    task: str = "auto",
    separator: str = DEFAULT_SEPARATOR,
    target: str | None = None,
) -> Dataset:
    """A text `Dataset` from a table or a `.txt` file; bad rows are skipped (listed) or fail.

    Columns are detected when not given (see `TEXT_COLUMN_NAMES`, `LABEL_COLUMN_NAMES`); a
    `split` column is honoured. With `require_labels=False` a table without labels is accepted.
    A column of image paths (`path`, `image`, `file`...) makes an image dataset. `target` names a
    numeric column (regression unless `task` says otherwise); `task="auto"` detects multi-label
    when a label cell holds `separator` between tags.
    """
    policy = check_on_bad(on_bad)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in TEXT_FILE_EXTENSIONS:
        if require_labels:
            raise DataError(
                f"{str(p)!r} is a plain text file, which holds texts without labels",
                expected="a table with a text and a label column (CSV, TSV, JSONL or Parquet)",
                fix="save the data as CSV with columns text,label, or use the .txt file only for predict",
            )
        return load_text_lines(p)
    frame, bad_rows = read_table(p)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target is not None and label_column is not None and target != label_column:
        raise UsageError(
            f"both --target {target!r} and --label-column {label_column!r} were given",
            expected="one column to learn: --target for a numeric value, --label-column for labels",
            fix="pass only one of them",
        )
    label_col = _resolve_label_column(p, columns, text_column, label_column or target, require_labels)
    split_col = _find_column(columns, (SPLIT_COLUMN_NAME,))
    kind = "classification"
    if label_col is not None:
        kind = detect_task(frame[label_col].tolist(), task, separator, numeric_target=target is not None)
    image_col = None if text_column is not None else image_path_column(frame, exclude={label_col, split_col})
    if image_col is not None:
        columns_used = (image_col, label_col, split_col)
        return _build(p, frame, bad_rows, *columns_used, policy, require_labels, kind, separator, modality="image")
    text_col = _resolve_text_column(p, frame, text_column, exclude={label_col, split_col})
    if label_col is not None and label_col == text_col:
        raise UsageError(
            f"the text column and the label column of {str(p)!r} are both {text_col!r}",
            expected="two different columns: one with the texts, one with the labels",
            fix="pass --text-column NAME and --label-column NAME with different names",
        )
    return _build(p, frame, bad_rows, text_col, label_col, split_col, policy, require_labels, kind, separator)


def load_text_lines(path: str | Path) -> Dataset:
    """Unlabelled texts, one per line; blank lines separate nothing and are not items."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise _not_utf8(p, e) from e
    items: list[str] = []
    ids: list[str] = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            items.append(line)
            ids.append(f"row {n}")
    return Dataset(modality="text", items=tuple(items), ids=tuple(ids), source=str(p))


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The table at `path` indexed by 1-based row number, and rows that could not be parsed at all.

    CSV/TSV cells are read as strings (only empty cells are missing), so labels keep their spelling.
    """
    import pandas as pd

    p = Path(path)
    kind = TABLE_EXTENSIONS.get(p.suffix.lower())
    if kind is None:
        raise DataError(
            f"{str(p)!r} has an unsupported extension {p.suffix!r}",
            expected="a table: " + ", ".join(sorted(TABLE_EXTENSIONS)) + ", or .txt (one text per line)",
            fix="convert the file to CSV with columns text,label",
        )
    bad: list[tuple[int, str]] = []
    try:
        if kind in ("csv", "tsv"):
            frame, bad = read_delimited(p, csv_delimiter(p) if kind == "csv" else "\t")
        elif kind == "jsonl":
            frame, bad = _read_jsonl(p)
        else:
            frame = pd.read_parquet(p)
    except UnicodeDecodeError as e:
        raise _not_utf8(p, e) from e
    except pd.errors.EmptyDataError as e:
        raise DataError(
            f"{str(p)!r} is empty",
            expected="a header line with column names and at least one data row",
            fix="check that the right file was given and that it was fully written",
        ) from e
    except (pd.errors.ParserError, OSError, ValueError) as e:
        raise DataError(
            f"cannot parse {str(p)!r} as {kind.upper()}: {e}",
            expected=f"a well-formed {kind.upper()} file",
            fix=f"open the file and repair it, or re-export it as {kind.upper()}",
        ) from e
    if kind == "parquet":
        frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame, bad


def csv_delimiter(path: Path) -> str:
    """The delimiter of a .csv file: `,` unless its header line has no comma but splits on `;`, tab or `|`.

    Only the header decides: its column names rarely hold separators, while texts below often hold `,` and `;`.
    European spreadsheet exports use `;`.
    """
    import csv

    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            header = next((line for line in f if line.strip()), "")
    except OSError:
        return ","
    fields = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in CSV_DELIMITERS}
    if fields[","] > 1:
        return ","
    best = max(CSV_DELIMITERS, key=lambda sep: fields[sep])
    return best if fields[best] > 1 else ","


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Objects one per line, indexed by line number; invalid lines are returned as bad rows."""
    import pandas as pd

    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                bad.append((n, f"invalid JSON ({e.msg} at column {e.colno})"))
                continue
            if not isinstance(obj, dict):
                bad.append((n, f"expected a JSON object, got {type(obj).__name__}"))
                continue
            records.append(obj)
            numbers.append(n)
    frame = pd.DataFrame.from_records(records, index=numbers) if records else pd.DataFrame()
    if frame.empty and not bad:
        raise pd.errors.EmptyDataError("no JSON objects")
    return frame, bad


def _not_utf8(path: Path, e: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{str(path)!r} is not UTF-8 text (byte {e.start}: {e.reason})",
        expected="a UTF-8 encoded file",
        fix="re-save the file as UTF-8 (e.g. in a spreadsheet: CSV UTF-8)",
    )


def _find_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The single column whose name is in `names` (case-insensitive); None when there is none."""
    found = _columns_named(columns, names)
    return found[0] if len(found) == 1 else None


def _columns_named(columns: Sequence[str], names: Sequence[str]) -> list[str]:
    wanted = {n.lower() for n in names}
    return [c for c in columns if c.strip().lower() in wanted]


def _check_given(path: Path, columns: list[str], name: str, what: str, flag: str) -> str:
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    guess = did_you_mean(name, columns)
    hint = f"did you mean {guess!r}? " if guess else ""
    raise DataError(
        f"{str(path)!r} has no {what} column {name!r}; its columns are {columns}",
        expected=f"the name of the {what} column, one of {columns}",
        fix=f"{hint}pass {flag} NAME with one of the columns above",
    )


def _resolve_label_column(
    path: Path,
    columns: list[str],
    text_column: str | None,
    label_column: str | None,
    require_labels: bool,
) -> str | None:
    if label_column is not None:
        return _check_given(path, columns, label_column, "label", "--label-column")
    found = [c for c in _columns_named(columns, LABEL_COLUMN_NAMES) if c != text_column]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        if not require_labels:
            return None
        raise DataError(
            f"cannot tell which column of {str(path)!r} holds the labels: {found} all could",
            expected="exactly one label column",
            fix=f"pass --label-column NAME with one of {found}",
        )
    if require_labels:
        raise DataError(
            f"{str(path)!r} has no label column; its columns are {columns}",
            expected="a label column named one of " + ", ".join(LABEL_COLUMN_NAMES),
            fix="pass --label-column NAME with the column that holds the labels",
        )
    return None


def _resolve_text_column(path: Path, frame: pd.DataFrame, text_column: str | None, exclude: set[str | None]) -> str:
    columns = list(frame.columns)
    if text_column is not None:
        return _check_given(path, columns, text_column, "text", "--text-column")
    named = [c for c in _columns_named(columns, TEXT_COLUMN_NAMES) if c not in exclude]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DataError(
            f"cannot tell which column of {str(path)!r} holds the text: {named} all could",
            expected="exactly one text column",
            fix=f"pass --text-column NAME with one of {named}",
        )
    stringy = [c for c in columns if c not in exclude and _median_text_length(frame[c]) is not None]
    longish = [c for c in stringy if (_median_text_length(frame[c]) or 0) >= LONGISH_TEXT_CHARS]
    if len(longish) == 1:
        return longish[0]
    if not longish and len(stringy) == 1:
        return stringy[0]
    candidates = longish or stringy
    raise DataError(
        f"cannot tell which column of {str(path)!r} holds the text; its columns are {columns}"
        + (f" and {candidates} could all be text" if candidates else " and none looks like text"),
        expected="a text column named one of " + ", ".join(TEXT_COLUMN_NAMES),
        fix="pass --text-column NAME with the column that holds the texts",
    )


def _median_text_length(column: pd.Series) -> float | None:
    """Median length of a column's values when they are mostly non-numeric strings, else None."""
    values = [v for v in column.tolist() if not _is_missing(v)]
    if not values:
        return None
    strings = [v for v in values if isinstance(v, str) and not _looks_numeric(v)]
    if len(strings) < 0.9 * len(values):
        return None
    return float(np.median([len(s) for s in strings]))


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def label_to_str(value: object) -> str | None:
    """A label as a string (`1` and `1.0` become "1"), or None when it is missing or blank."""
    if _is_missing(value):
        return None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        raise TypeError(f"the label is a {type(value).__name__}; one label per row is supported")
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return str(int(f)) if math.isfinite(f) and f.is_integer() else str(f)
    text = str(value).strip()
    return text or None


def _build(
    path: Path,
    frame: pd.DataFrame,
    bad_rows: list[tuple[int, str]],
    text_col: str,
    label_col: str | None,
    split_col: str | None,
    on_bad: str,
    require_labels: bool,
    task: str = "classification",
    separator: str = DEFAULT_SEPARATOR,
    modality: str = "text",
) -> Dataset:
    """Rows → items (texts, or image paths resolved from the table's folder), labels and splits."""
    if on_bad == "fail" and bad_rows:
        first, why = bad_rows[0]
        raise BadItemError(f"{path}: row {first}", why)
    skipped: list[SkippedItem] = [SkippedItem(f"row {n}", reason) for n, reason in bad_rows]
    items: list[str] = []
    ids: list[str] = []
    labels: list[str | None] = []
    splits: list[str | None] = []
    texts = frame[text_col].tolist()
    raw_labels = frame[label_col].tolist() if label_col is not None else [None] * len(frame)
    raw_splits = frame[split_col].tolist() if split_col is not None else [None] * len(frame)
    target_problems: list[str] = []
    for n, text_raw, label_raw, split_raw in zip(frame.index.tolist(), texts, raw_labels, raw_splits, strict=True):
        row_id = f"row {n}"
        text, reason = get_modality(modality).table_item(path, text_raw)
        label: str | None = None
        if reason is None and label_col is not None:
            if get_task(task).outputs is Outputs.CLASSES:
                try:
                    label = label_to_str(label_raw)
                except TypeError as e:
                    reason = str(e)
            elif not _is_missing(label_raw):
                label, reason = task_label(label_raw, task, separator)
                if reason is not None:
                    target_problems.append(f"{row_id}: {reason}")
            if reason is None and label is None and require_labels:
                reason = f"missing label in column {label_col!r}"
        if reason is not None:
            if on_bad == "fail":
                raise BadItemError(f"{path}: {row_id}", reason)
            skipped.append(SkippedItem(row_id, reason))
            continue
        items.append(text)  # type: ignore[arg-type]
        ids.append(row_id)
        labels.append(label)
        splits.append(_split_value(path, row_id, split_col, split_raw) if split_col else None)
    notes: list[str] = []
    final_labels: tuple[str, ...] | None = None
    if label_col is not None:
        if all(lab is not None for lab in labels):
            final_labels = tuple(labels)  # type: ignore[arg-type]
        else:
            missing = sum(lab is None for lab in labels)
            notes.append(
                f"labels ignored: {missing} row(s) have no value in column {label_col!r}, "
                "so the data is treated as unlabelled"
            )
    skipped.sort(key=lambda s: int(s.id.split()[1]))
    if target_problems and len(target_problems) >= len(items):
        raise DataError(
            f"column {label_col!r} of {str(path)!r} cannot be a {task} target: {len(target_problems)} row(s) are "
            f"unusable ({'; '.join(target_problems[:3])})",
            expected="numbers in every row"
            if get_task(task).outputs is Outputs.VALUE
            else f"tags separated by {separator!r}",
            fix="pass --label-column NAME for class labels, --target NAME for a numeric column, or --task to force "
            "the task kind",
        )
    return Dataset(
        modality=modality,  # type: ignore[arg-type]
        items=tuple(items),
        ids=tuple(ids),
        labels=final_labels,
        splits=tuple(splits) if split_col is not None else None,
        source=str(path),
        skipped=tuple(skipped),
        notes=tuple(notes),
        task=task if label_col is not None else "classification",
    )


def _split_value(path: Path, row_id: str, column: str, raw: object) -> str:
    value = None if _is_missing(raw) else normalize_split(str(raw))
    if value is None:
        allowed = ", ".join(SPLIT_ALIASES)
        shown = "an empty value" if _is_missing(raw) else repr(raw)
        raise DataError(
            f"{str(path)!r} {row_id} has {shown} in column {column!r}",
            expected=f"one of {allowed} (case-insensitive)",
            fix=f"correct the value in {row_id}, or rename or drop the {column!r} column to split automatically",
        )
    return value
