"""headstart: adapt a pretrained network to a small labelled dataset, and prove what transfer gained.

The public functions (`headstart.fit`, `headstart.expand`, ...) live in `headstart.api` and are imported on first
use, so `import headstart` — and the CLI's `--help` — does not load torch, scikit-learn or ONNX Runtime.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "expand", "fit", "inspect", "list_backbones", "load", "predict", "rank", "study"]
__all__ += ["create_app", "export", "promote", "reproduce", "run_details", "runs", "serve"]

_API = frozenset(__all__) - {"__version__"}
_HELPERS = frozenset({"annotations", "sys", "types", "Any"})  # this module's own imports: not the package's API


class _Package(types.ModuleType):
    """`headstart` itself: API names resolve lazily, and stay functions when a same-named subpackage loads.

    `headstart.expand` and `headstart.study` are both functions and subpackages; importing a subpackage makes
    Python set it as an attribute of its parent, which would hide the function. The function wins; the
    subpackage stays reachable by its full name (`import headstart.expand.run`, `sys.modules`).
    """

    def __getattr__(self, name: str) -> Any:
        if name not in _API:
            raise AttributeError(f"module 'headstart' has no attribute {name!r}")
        from headstart import api

        value = getattr(api, name)
        types.ModuleType.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        own = (n for n in super().__dir__() if n not in _HELPERS and (n.startswith("__") or not n.startswith("_")))
        return sorted({*own, *_API})


sys.modules[__name__].__class__ = _Package
