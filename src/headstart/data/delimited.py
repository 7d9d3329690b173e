"""Reading CSV and TSV strictly: a quote left open or a row with extra fields is found and named by its line.

pandas' parser is lenient where it matters here: a quote never closed merges the rows after it into one cell,
and a first row with one field too many silently turns the first column into the index (every column shifts).
Python's `csv` module in strict mode reports both, so tables are parsed with it and handed to pandas as strings.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from headstart.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MAX_CELL_CHARS = 10_000_000  # one cell: a long document fits, a file with one runaway quote does not


class _Rows:
    """The records of an open file with the line each starts on (1-based, the header is line 1 or later)."""

    def __init__(self, lines: Iterator[str], delimiter: str) -> None:
        self._reader = csv.reader(_text_lines(lines), delimiter=delimiter, strict=True)
        self.end_line = 0  # the last line of the last record read

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            start = self.end_line + 1
            try:
                record = next(self._reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise _ParseProblem(start, self._reader.line_num, str(err)) from err
            self.end_line = self._reader.line_num
            if record:  # a blank line is no row
                yield start, record


def _text_lines(lines: Iterator[str]) -> Iterator[str]:
    """The lines, refusing a NUL byte: the csv module reads one as a character, but no text file holds one."""
    for n, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise _ParseProblem(n, n, "line contains NUL")
        yield line


class _ParseProblem(Exception):
    def __init__(self, start: int, end: int, reason: str) -> None:
        super().__init__(reason)
        self.start, self.end, self.reason = start, end, reason


@contextmanager
def _cell_limit(chars: int) -> Iterator[None]:
    """`csv.field_size_limit` raised for one read (it is process-wide), then put back."""
    previous = csv.field_size_limit(chars)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_delimited(path: Path, delimiter: str) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The table at `path` as strings (empty cells NaN, as pandas reads them), indexed by row number from 1, and
    the rows left out.

    A row with more fields than the header is left out with its line number (its cells cannot be matched to
    columns); a row with fewer keeps its missing cells empty, as pandas does. A quote that is never closed, or
    closed in the middle of a field, is a `DataError` naming the line it opened on: the rows after it cannot be
    told apart.
    """
    import pandas as pd

    kind = "TSV" if delimiter == "\t" else "CSV"
    with open(path, encoding="utf-8-sig", newline="") as f, _cell_limit(MAX_CELL_CHARS):
        rows = _Rows(f, delimiter)
        try:
            records = list(rows)
        except _ParseProblem as problem:
            raise _problem_error(path, kind, problem) from None
    if not records:
        raise pd.errors.EmptyDataError("no header line")
    _, header = records[0]
    columns = _column_names(header)
    data: list[list[str | float]] = []
    index: list[int] = []
    bad: list[tuple[int, str]] = []
    for n, (line, record) in enumerate(records[1:], start=1):
        if len(record) > len(columns):
            bad.append(
                (
                    n,
                    f"line {line} has {len(record)} fields where the header has {len(columns)}: a stray "
                    f"{_name(delimiter)} or a quote not closed? (its cells cannot be matched to columns)",
                )
            )
            continue
        cells: list[str | float] = [cell if cell != "" else math.nan for cell in record]
        data.append(cells + [math.nan] * (len(columns) - len(record)))
        index.append(n)
    frame = pd.DataFrame(data, columns=columns, index=index, dtype=object)
    return frame, bad


def _column_names(header: list[str]) -> list[str]:
    """Header cells as pandas names them: `Unnamed: i` for an empty one, `name.1` for a repeated one."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw if raw != "" else f"Unnamed: {i}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def _name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'"}.get(delimiter, repr(delimiter))


def _problem_error(path: Path, kind: str, problem: _ParseProblem) -> DataError:
    reason = problem.reason
    if "field larger than field limit" in reason:
        what = f"line {problem.start} of {str(path)!r} holds a cell over {MAX_CELL_CHARS:,} characters"
        return DataError(
            what + (f" (it runs to line {problem.end})" if problem.end > problem.start else ""),
            expected=f"cells of at most {MAX_CELL_CHARS:,} characters",
            fix=f"check for a quote opened on line {problem.start} and never closed, or shorten the text",
        )
    if "NUL" in reason:
        return DataError(
            f"line {problem.end} of {str(path)!r} holds a NUL byte: it is not a {kind} text file",
            expected=f"a {kind} file of UTF-8 text",
            fix=f"check that the right file was given; re-export the data as {kind}",
        )
    if "unexpected end of data" in reason:
        what = f"a quote opened on line {problem.start} of {str(path)!r} is never closed"
    else:
        what = (
            f"a quote opened on line {problem.start} of {str(path)!r} is closed in the middle of a field on line "
            f"{problem.end} ({reason})"
        )
    return DataError(
        what + ": the rows after it would merge into one cell",
        expected=f"a well-formed {kind} file: a field either has no quotes, or is wholly quoted with any quote "
        'inside it doubled ("")',
        fix=f"repair the quotes on line {problem.start}, or re-export the file as {kind}",
    )
