"""`api` for the commands, imported on first use: `--help` and option errors answer before torch loads.

For the type checker `api` is `headstart.api` itself, so every command's call is checked against the facade.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


class _LazyApi:
    """Attribute access goes to `headstart.api`, imported the first time; monkeypatching that module works."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("headstart.api"), name)


if TYPE_CHECKING:
    from headstart import api
else:
    api = _LazyApi()
