"""Where a result came from: the package versions and the machine, recorded in bundles and tracked runs.

A leaf: it imports nothing from headstart, so the manifest writers, tracking and `reproduce` can all use it.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

VERSION = "0.1.0"  # headstart's own: `headstart.__version__`, bundles, exports and the HTTP service report it
PACKAGES = ("headstart", "torch", "onnxruntime", "scikit-learn", "numpy", "transformers")


def package_versions() -> dict[str, str]:
    """The installed versions of the packages a result depends on, and Python's (absent packages are left out)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def available_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine() -> dict[str, str | int]:
    """CPU model, cores and platform of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": available_cores(), "platform": platform.platform(terse=True)}
