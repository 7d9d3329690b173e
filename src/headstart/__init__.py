"""headstart: adapt a pretrained network to a small labelled dataset, and prove what transfer gained.

The public functions (`headstart.fit`, `headstart.expand`, ...) live in `headstart.api`, and `headstart.serve` /
`headstart.create_app` in the HTTP face (`headstart.server`), whose handlers call the api. Each is imported on
first use (PEP 562), so `import headstart` — and the CLI's `--help` — does not load torch, scikit-learn or ONNX
Runtime.
No subpackage is named like one of them (a test checks), so importing a subpackage never hides a function.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headstart.provenance import VERSION as __version__

if TYPE_CHECKING:  # what a type checker sees: the facade's signatures (at run time they load on first use)
    from headstart.api import (
        evaluate,
        expand,
        export,
        fit,
        inspect,
        list_backbones,
        load,
        predict,
        promote,
        rank,
        reproduce,
        run_details,
        runs,
        study,
    )
    from headstart.backbones.base import BackboneInfo
    from headstart.backbones.registry import register_backbone
    from headstart.data.modalities import register_modality
    from headstart.server.app import create_app
    from headstart.server.process import serve
    from headstart.tasks import register_task

__all__ = ["__version__", "evaluate", "expand", "fit", "inspect", "list_backbones", "load", "predict", "rank", "study"]
__all__ += ["create_app", "export", "promote", "reproduce", "run_details", "runs", "serve"]
_FACES = {"serve": "headstart.server.process", "create_app": "headstart.server.app"}  # the HTTP face's entry points
# What a plugin package needs (see headstart.plugins): registries, not the facade, so no torch loads with them.
_REGISTRIES = {
    "register_backbone": "headstart.backbones.registry",
    "BackboneInfo": "headstart.backbones.base",
    "register_modality": "headstart.data.modalities",
    "register_task": "headstart.tasks",
}
__all__ += ["BackboneInfo", "register_backbone", "register_modality", "register_task"]  # the keys of _REGISTRIES


def __getattr__(name: str) -> Any:
    """`headstart.fit` and the other public functions, from their module the first time one is asked for."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'headstart' has no attribute {name!r}")
    module = _FACES.get(name) or _REGISTRIES.get(name) or "headstart.api"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names and the module's dunders, not its helpers (`Any`, `annotations`)."""
    return sorted({*(n for n in globals() if n.startswith("__")), *__all__})
