"""Image datasets described by a table: one row per image, `path,labels` (multi-label) or `path,value` (regression).

Paths are relative to the table's folder (or absolute). A column is taken as the image column when it is named
like one (`path`, `image`, `file`...) and most of its values end in an image extension.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headstart.data.images import is_image_file

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
