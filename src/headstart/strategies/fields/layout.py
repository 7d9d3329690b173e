"""Where each line sits on its page: normalised position and size, rank from the top and the bottom, and the
neighbours that say most about it (the line to its left on the same row, the line above, the line to its right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from headstart.data.documents import OcrLine

ROW_OVERLAP = 0.5  # two lines share a row when their vertical overlap is this share of the shorter one's height
LAYOUT_NAMES = (
    "left",
    "right",
    "top",
    "bottom",
    "centre_x",
    "centre_y",
    "width",
    "height",
    "rank_top",
    "rank_bottom",
    "first",
    "last",
    "row_size",
    "row_position",
    "page",
)


@dataclass(frozen=True)
class Neighbours:
    """Per line, the index of its left, right and above neighbours (-1 when it has none)."""

    left: np.ndarray
    right: np.ndarray
    above: np.ndarray
    below: np.ndarray


def _boxes(lines: Sequence[OcrLine]) -> np.ndarray:
    """(n, 5): left, top, right, bottom, page."""
    return np.array([[x.left, x.top, x.right, x.bottom, x.page] for x in lines], dtype=np.float64).reshape(-1, 5)


def same_row(lines: Sequence[OcrLine]) -> np.ndarray:
    """(n, n) bool: whether two lines of one page share a row (and are not the same line)."""
    b = _boxes(lines)
    overlap = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    height = b[:, 3] - b[:, 1]
    shorter = np.minimum(height[:, None], height[None, :])
    row = (shorter > 0) & (overlap >= ROW_OVERLAP * shorter) & (b[:, None, 4] == b[None, :, 4])
    np.fill_diagonal(row, False)
    return row


def neighbours(lines: Sequence[OcrLine]) -> Neighbours:
    """The nearest line left and right on the same row, and the nearest line above and below that overlaps it
    horizontally (else the previous / next line in reading order)."""
    n = len(lines)
    b = _boxes(lines)
    row = same_row(lines)
    centre = (b[:, 0] + b[:, 2]) / 2
    shift = centre[None, :] - centre[:, None]  # [i, j]: how far j's centre is right of i's
    overlaps = (np.minimum(b[:, None, 2], b[None, :, 2]) > np.maximum(b[:, None, 0], b[None, :, 0])) & ~row
    overlaps &= b[:, None, 4] == b[None, :, 4]
    np.fill_diagonal(overlaps, False)
    half = 0.5 * (b[:, 3] - b[:, 1])
    gap_up = b[:, None, 1] - b[None, :, 3]  # [i, j]: i's top minus j's bottom
    gap_down = b[None, :, 1] - b[:, None, 3]
    up = overlaps & (b[None, :, 3] <= (b[:, 1] + half)[:, None])
    down = overlaps & (b[None, :, 1] >= (b[:, 3] - half)[:, None])

    def nearest(mask: np.ndarray, distance: np.ndarray) -> np.ndarray:
        scored = np.where(mask, distance, np.inf)
        best = np.argmin(scored, axis=1) if n else np.zeros(0, dtype=np.int64)
        return np.where(np.isfinite(scored[np.arange(n), best]), best, -1).astype(np.int64) if n else best

    left = nearest(row & (shift < 0), -shift)
    right = nearest(row & (shift > 0), shift)
    above = nearest(up, gap_up)
    below = nearest(down, gap_down)
    index = np.arange(n)
    above = np.where((above < 0) & (index > 0), index - 1, above)
    below = np.where((below < 0) & (index + 1 < n), index + 1, below)
    return Neighbours(left, right, above, below)


def layout_features(lines: Sequence[OcrLine]) -> np.ndarray:
    """(n, len(LAYOUT_NAMES)) float32: each line's geometry on its page, in [0, 1] where it can be."""
    n = len(lines)
    out = np.zeros((n, len(LAYOUT_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    pages = sorted({line.page for line in lines})
    rows = same_row(lines)
    for page in pages:
        index = [i for i, line in enumerate(lines) if line.page == page]
        x0 = min(lines[i].left for i in index)
        x1 = max(lines[i].right for i in index)
        y0 = min(lines[i].top for i in index)
        y1 = max(lines[i].bottom for i in index)
        width, height = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        heights = np.array([lines[i].bottom - lines[i].top for i in index], dtype=np.float64)
        median_height = max(float(np.median(heights)), 1.0)
        order = sorted(index, key=lambda i: (lines[i].top, lines[i].left))
        rank = {i: r for r, i in enumerate(order)}
        m = len(index)
        for i in index:
            line = lines[i]
            mates = [int(j) for j in np.flatnonzero(rows[i])]
            row = sorted([i, *mates], key=lambda j: lines[j].left)
            out[i] = (
                (line.left - x0) / width,
                (line.right - x0) / width,
                (line.top - y0) / height,
                (line.bottom - y0) / height,
                ((line.left + line.right) / 2 - x0) / width,
                ((line.top + line.bottom) / 2 - y0) / height,
                (line.right - line.left) / width,
                min((line.bottom - line.top) / median_height, 4.0) / 4.0,
                rank[i] / max(m - 1, 1),
                (m - 1 - rank[i]) / max(m - 1, 1),
                float(rank[i] == 0),
                float(rank[i] == m - 1),
                min(len(row), 5) / 5.0,
                row.index(i) / max(len(row) - 1, 1),
                pages.index(page) / max(len(pages) - 1, 1),
            )
    return out
