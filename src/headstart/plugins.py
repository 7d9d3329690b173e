"""Plugins: packages that add backbones, modalities or task kinds through Python entry points.

A package declares, in its `pyproject.toml`:

    [project.entry-points."headstart.backbones"]
    my-cnn = "my_package.headstart_plugin:register"

An entry point names a function headstart calls once with no arguments (it calls
`headstart.register_backbone(...)`, `headstart.register_modality(...)` or `headstart.register_task(...)`), or
a module that registers on import. The groups are read lazily: the first time a registry is listed or asked
for a name it does not hold, never at `import headstart`. A plugin that fails to load is reported as a warning
and skipped, so one broken package does not break every command.
"""

from __future__ import annotations

import warnings
from importlib import metadata

GROUPS = ("headstart.backbones", "headstart.modalities", "headstart.tasks")
_SCANNED: set[str] = set()  # groups whose entry points were read in this process
_LOADED: dict[str, str] = {}  # "group:name" -> entry point value, for entry points loaded successfully


class PluginWarning(UserWarning):
    """A plugin package could not be loaded (it is skipped)."""


def load_plugins(group: str, *, rescan: bool = False) -> list[str]:
    """Load the entry points of `group` not loaded yet (read once per process unless `rescan`); their names."""
    if group in _SCANNED and not rescan:
        return []
    _SCANNED.add(group)
    loaded = []
    for ep in metadata.entry_points(group=group):
        key = f"{group}:{ep.name}"
        if _LOADED.get(key) == ep.value:
            continue
        try:
            target = ep.load()
            if callable(target):
                target()
        except Exception as exc:  # a third-party package: any error is its own, reported and skipped
            warnings.warn(
                f"headstart plugin {ep.name!r} ({ep.value}, group {group}) failed to load and is skipped: "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        _LOADED[key] = ep.value
        loaded.append(ep.name)
    return loaded


def loaded_plugins() -> dict[str, str]:
    """`group:name` -> `module:function` of every plugin loaded in this process."""
    return dict(_LOADED)
