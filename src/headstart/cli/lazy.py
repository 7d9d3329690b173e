"""`api` for the commands, imported on first use: `--help` and option errors answer before torch loads."""

from __future__ import annotations

import importlib
from typing import Any


class _LazyApi:
    """Attribute access goes to `headstart.api`, imported the first time; monkeypatching that module works."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("headstart.api"), name)


api: Any = _LazyApi()
