"""Heads that sit on backbone features, and how a bundle's manifest names them for loading."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from headstart.errors import BundleError
from headstart.strategies.linear import LinearHead


class Head(Protocol):
    """What a Predictor needs from a fitted head."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def config(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...


def head_manifest(head: LinearHead) -> dict[str, Any]:
    """The manifest entry that lets `load_head` rebuild `head`."""
    return {"type": "linear", **head.config()}


def load_head(config: dict[str, Any], state: dict[str, np.ndarray], classes: list[str]) -> Head:
    """Rebuild a head from its manifest entry and safetensors arrays."""
    kind = config.get("type")
    if kind == "linear":
        return LinearHead.from_state(config, state, classes)
    raise BundleError(
        f"the bundle's head type {kind!r} is not known to this headstart version",
        fix="upgrade headstart: pip install -U headstart",
    )
