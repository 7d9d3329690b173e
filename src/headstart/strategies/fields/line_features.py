"""One row per line for the tagger: the line's layout and flags, its neighbours' flags (left, above, right,
below), and the text representation of the line and of its left, above and right neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from unicodedata import normalize

import numpy as np
from scipy import sparse

from headstart.data.documents import OcrLine
from headstart.strategies.fields.extractor import LineEmbedder
from headstart.strategies.fields.flags import flag_features
from headstart.strategies.fields.layout import Neighbours, layout_features, neighbours
from headstart.strategies.fields.line_text import LineText


@dataclass(frozen=True)
class DocumentLayout:
    """What the tagger and the decoders read of one document besides its text: geometry, flags, neighbours."""

    lines: Sequence[OcrLine]
    layout: np.ndarray
    flags: np.ndarray
    near: Neighbours


def describe(lines: Sequence[OcrLine]) -> DocumentLayout:
    """A document's lines, their text in Unicode compatibility form (the full-width "（" a Chinese-English
    recogniser writes is "("), with their layout, flags and neighbours."""
    lines = [replace(line, text=normalize("NFKC", line.text)) if not line.text.isascii() else line for line in lines]
    flags = flag_features([line.text for line in lines])
    return DocumentLayout(lines, layout_features(lines), flags, neighbours(lines))


def _pick(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """rows[index] with zeros where index is -1, and a column saying whether the neighbour exists."""
    out = np.zeros((len(index), rows.shape[1] + 1), dtype=np.float32)
    has = index >= 0
    out[has, :-1] = rows[index[has]]
    out[has, -1] = 1.0
    return out


def _selector(index: np.ndarray, offset: int, total: int) -> sparse.csr_matrix:
    """A (len(index), total) 0/1 matrix whose row i picks row offset + index[i] (none when index[i] is -1)."""
    rows = np.flatnonzero(index >= 0)
    return sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, index[rows] + offset)), shape=(len(index), total)
    )


def line_matrix(
    documents: Sequence[DocumentLayout], text: LineText, embed: LineEmbedder | None
) -> np.ndarray | sparse.csr_matrix:
    """The tagger's input for every line of every document, in order (dense with embeddings, sparse with TF-IDF)."""
    texts = [line.text for doc in documents for line in doc.lines]
    dense_blocks = []
    selectors: dict[str, list[sparse.csr_matrix]] = {"left": [], "above": [], "right": []}
    offset = 0
    for doc in documents:
        base = np.hstack([doc.layout, doc.flags])
        near = doc.near
        dense_blocks.append(
            np.hstack(
                [base, _pick(doc.flags, near.left), _pick(doc.flags, near.above), _pick(doc.flags, near.right)]
                + [_pick(doc.flags, near.below)]
            )
        )
        for name in selectors:
            selectors[name].append(_selector(getattr(near, name), offset, len(texts)))
        offset += len(doc.lines)
    dense = np.vstack(dense_blocks) if dense_blocks else np.zeros((0, 0), dtype=np.float32)
    represented = text.transform(texts, embed)
    picked = [sparse.vstack(parts).tocsr() @ represented for parts in selectors.values()] if documents else []
    if sparse.issparse(represented):
        return sparse.hstack([sparse.csr_matrix(dense), represented, *picked], format="csr", dtype=np.float32)
    return np.hstack([dense, represented, *[np.asarray(p) for p in picked]]).astype(np.float32)
