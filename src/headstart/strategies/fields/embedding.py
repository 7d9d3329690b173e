"""A headstart text backbone as a `LineEmbedder`: line texts -> its pooled embeddings, computed once and kept in
the features cache (keyed by the backbone's weights and each text's content), so a second fit is instant."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from headstart.backbones.base import Backbone
from headstart.backbones.registry import get_backbone
from headstart.data.dataset import Dataset
from headstart.data.modalities.builtin import TEXT
from headstart.errors import BackboneError
from headstart.feature_store import FeatureStore
from headstart.features import Extraction, extract_features
from headstart.strategies.fields.extractor import LineEmbedder

DEFAULT_BACKBONE = "minilm-l6"


def line_embedder(
    backbone: str | Backbone = DEFAULT_BACKBONE,
    *,
    batch_size: int = 64,
    threads: int | None = None,
    progress: bool = False,
    store: FeatureStore | None | bool = None,
) -> LineEmbedder:
    """A LineEmbedder over a text backbone (a name or an instance); `store` as in `extract_features` (None: the
    default on-disk cache, False: memory only). Repeated texts are embedded once; blank lines embed as zeros."""
    model = get_backbone(backbone) if isinstance(backbone, str) else backbone
    if model.modality != TEXT.name:
        raise BackboneError(
            f"backbone {model.name!r} reads {model.modality}, not text",
            expected="a text backbone for OCR lines (e.g. minilm-l6)",
            fix="choose a text backbone (`headstart models` lists them)",
        )

    def extract(dataset: Dataset) -> Extraction:
        return extract_features(
            model, dataset, store=store, batch_size=batch_size, threads=threads, on_bad="fail", progress=progress
        )

    def embed(texts: Sequence[str]) -> np.ndarray:
        return embed_distinct(texts, model.feature_dim, extract)

    return embed


def embed_distinct(texts: Sequence[str], dim: int, extract: Callable[[Dataset], Extraction]) -> np.ndarray:
    """One `dim`-wide row per text, in order, from `extract` run once on the distinct stripped texts (a text
    dataset); a blank text's row is zeros."""
    distinct = sorted({t.strip() for t in texts if t.strip()})
    rows = np.zeros((len(texts), dim), dtype=np.float32)
    if not distinct:
        return rows
    dataset = Dataset(modality=TEXT.name, items=tuple(distinct), ids=tuple(f"line {i}" for i in range(len(distinct))))
    found = extract(dataset)
    where = {distinct[int(i)]: row for row, i in enumerate(found.kept)}
    for index, text in enumerate(texts):
        row = where.get(text.strip())
        if row is not None:
            rows[index] = found.features[row]
    return rows
