"""One local Ray instance (2 CPUs) shared by every Ray test of the session, shut down at the end."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

RAY_MISSING = importlib.util.find_spec("ray") is None


@pytest.fixture(scope="session")
def ray_instance(isolated_cache: Path) -> Iterator[Any]:
    """Started after the isolated cache is set, so the workers inherit the test session's environment."""
    ray = pytest.importorskip(
        "ray", reason="ray is not installed (pip install 'headstart[ray]' or the test extra)", exc_type=ImportError
    )

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
