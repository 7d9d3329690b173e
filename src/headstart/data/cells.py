"""Table cells: whether a cell is missing, and a cell as a text item."""

from __future__ import annotations

import numpy as np


def is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def text_value(value: object) -> tuple[str | None, str | None]:
    """(text, None) for a usable text, else (None, reason)."""
    if is_missing(value):
        return None, "empty text (missing value)"
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return None, f"the text is a {type(value).__name__}, expected a string"
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        return None, "empty text (only whitespace)" if text else "empty text"
    return text, None
