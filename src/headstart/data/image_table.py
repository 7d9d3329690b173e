"""Image datasets described by a table: one row per image, `path,labels` (multi-label) or `path,value` (regression).

Paths are relative to the table's folder (or absolute). A column is taken as the image column when it is named
like one (`path`, `image`, `file`...) and most of its values end in an image extension.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from headstart.data.images import check_image_header, is_image_file
from headstart.errors import BadItemError

if TYPE_CHECKING:
    import pandas as pd

IMAGE_COLUMN_NAMES = ("path", "image", "image_path", "file", "filename", "filepath", "file_path")
MIN_IMAGE_SHARE = 0.9


def image_path_column(frame: pd.DataFrame, exclude: set[str | None]) -> str | None:
    """The column of image paths, or None when the table holds no such column."""
    wanted = set(IMAGE_COLUMN_NAMES)
    for column in frame.columns:
        if column in exclude or str(column).strip().lower() not in wanted:
            continue
        values = [v for v in frame[column].tolist() if isinstance(v, str) and v.strip()]
        if values and sum(is_image_file(v.strip()) for v in values) >= MIN_IMAGE_SHARE * len(values):
            return str(column)
    return None


def image_path_value(table: Path, raw: object) -> tuple[str | None, str | None]:
    """(absolute path, None) for a readable image named in a cell, else (None, reason)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "empty image path"
    given = Path(raw.strip())
    path = given if given.is_absolute() else table.parent / given
    if not is_image_file(path):
        return None, f"{raw!r} is not an image file name"
    try:
        check_image_header(path)
    except BadItemError as err:
        return None, f"{raw}: {err.reason}"
    return str(path), None
