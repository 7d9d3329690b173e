"""A `LineEmbedder` from a text backbone: each distinct line text embedded once, through the feature cache."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.features import extract_features
from headstart.strategies.fields.extractor import LineEmbedder


def line_embedder(
    backbone: Backbone, *, threads: int | None = None, batch_size: int = 32, progress: bool = False
) -> LineEmbedder:
    """Line texts -> (n, feature_dim) float32 rows, in order; an empty line gets a row of zeros."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        distinct = list(dict.fromkeys(t for t in texts if t.strip()))
        rows = np.zeros((len(texts), backbone.feature_dim), dtype=np.float32)
        if not distinct:
            return rows
        lines = Dataset(modality="text", items=tuple(distinct), ids=tuple(f"line {n}" for n in range(len(distinct))))
        x = extract_features(backbone, lines, threads=threads, batch_size=batch_size, progress=progress)
        found = {distinct[int(i)]: x.features[row] for row, i in enumerate(x.kept)}
        for n, text in enumerate(texts):
            if text in found:
                rows[n] = found[text]
        return rows

    return embed
