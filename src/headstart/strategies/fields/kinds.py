"""The field extractors by kind, and an extractor back from its saved state (whichever kind it was)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from headstart.strategies.fields.extractor import FieldExtractor
from headstart.strategies.fields.rules import RulesExtractor
from headstart.strategies.fields.tagged import LinearExtractor, TfidfExtractor

EXTRACTOR_KINDS: dict[str, type[FieldExtractor]] = {
    RulesExtractor.kind: RulesExtractor,
    TfidfExtractor.kind: TfidfExtractor,
    LinearExtractor.kind: LinearExtractor,
}


def load_extractor(tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> FieldExtractor:
    """The extractor `state()` described, of the kind its config names; ValueError for an unknown kind."""
    kind = config.get("kind")
    if kind not in EXTRACTOR_KINDS:
        raise ValueError(f"unknown field extractor kind {kind!r} (known: {', '.join(EXTRACTOR_KINDS)})")
    return EXTRACTOR_KINDS[str(kind)].from_state(tensors, config)
