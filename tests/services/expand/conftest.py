"""Shared fixtures of the expand tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def untracked() -> Iterator[None]:
    """Expand runs are tracked by default; tests/tracking covers that, so these skip MLflow (seconds each)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSTART_NO_TRACK", "1")
        yield
