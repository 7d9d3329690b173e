"""Helpers shared by the bench scripts: paths, machine description, JSON output, goal results.

`write_result` is how a bench script records the current figure of a goal: one JSON file per goal in
bench/results/latest/ (schema in bench/report.py), which `bench/report.py` renders into BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = (REPO_ROOT / ".." / "shared" / "data").resolve()
RESULTS_DIR = REPO_ROOT / "bench" / "results"
LATEST_DIR = RESULTS_DIR / "latest"
LATEST_ENV = "HEADSTART_BENCH_LATEST"  # another folder for goal results (e.g. a trial run), or "off"
# The instruction-set flags that change what a CPU figure means (ONNX Runtime and torch pick kernels by them).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def require_data(path: Path, what: str) -> None:
    """Exit with a clear message (status 2) when a benchmark input is absent."""
    if not path.exists():
        sys.exit(
            f"bench: {what} not found at {path}.\n"
            "The benchmarks need the shared datasets (see ../shared/data/README.md); "
            "pass --data-root to point at them."
        )


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str] | None:
    """The ISA_FLAGS this CPU has, from /proc/cpuinfo (None where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [flag for flag in ISA_FLAGS if flag in have]
    except OSError:
        pass
    return None


def ram_gib() -> float | None:
    """Total RAM in GiB from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (a proxy for other work on the shared CPU)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_commit() -> str | None:
    """The checked-out commit (read-only query)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, library versions, load average: what a figure needs to be read."""
    import numpy
    import sklearn
    import torch

    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags() or "not recorded",
        "cores_available": cores,
        "cpu_count": os.cpu_count(),
        "ram_gib": ram_gib(),
        "gpu": None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "git_commit": git_commit(),
        "load_average_at_start": load_average(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` atomically (tmp file then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def git_describe() -> str | None:
    """The commit, marked when the working tree has uncommitted changes outside bench/results (a figure then is not
    of that commit)."""
    commit = git_commit()
    if commit is None:
        return None
    try:
        code = [".", ":!bench/results"]  # the results a run writes are no change to the code measured
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "--", *code],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return commit
    return f"{commit} + uncommitted changes" if out.stdout.strip() else commit


def command_line(argv: list[str] | None = None) -> str:
    """The command that produced a result, as a reader would retype it (OMP_NUM_THREADS included when set)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else None
    if script is not None and script.is_relative_to(REPO_ROOT):
        argv[0] = str(script.relative_to(REPO_ROOT))
    threads = os.environ.get("OMP_NUM_THREADS")
    prefix = f"OMP_NUM_THREADS={threads} " if threads else ""
    return f"{prefix}.venv/bin/python {shlex.join(argv)}"


def goal_machine() -> dict[str, Any]:
    """The machine facts a goal's figure needs: CPU model and ISA flags, cores, RAM, library versions."""
    info = machine_info()
    return {
        "cpu": info["cpu_model"],
        "cpu_flags": info["cpu_flags"],
        "cores": info["cores_available"],
        "ram_gib": info["ram_gib"],
        "gpu": None,
        "python": info["python"],
        "torch": info["torch"],
        "onnxruntime": info["onnxruntime"],
    }


def write_result(
    goal: str,
    *,
    title: str,
    target: str,
    status: str,
    figure: str,
    table: dict[str, list[Any]] | None = None,
    notes: list[str] | None = None,
    sources: list[str] | None = None,
    issue: int | None = None,
    order: int | None = None,
    load: list[float] | str | None = None,
    argv: list[str] | None = None,
    commit: str | None = None,
    date: str | None = None,
) -> Path | None:
    """Record the current figure of `goal` as bench/results/latest/<goal>.json (schema: bench/report.py).

    The command line, commit, machine (CPU flags included), load average and date are filled in here, so every
    script records them the same way. `load` defaults to the load average now (pass the one during the run
    when the script sampled it); `commit` and `date` default to now too (pass the measurement's when a script
    only summarises earlier runs). Set HEADSTART_BENCH_LATEST to another folder for a trial run, or to "off".
    Returns the file written, or None when switched off.
    """
    folder_name = os.environ.get(LATEST_ENV, "")
    if folder_name.lower() == "off":
        return None
    folder = Path(folder_name) if folder_name else LATEST_DIR
    payload: dict[str, Any] = {
        "schema": 1,
        "goal": goal,
        "issue": issue,
        "order": order,
        "title": title,
        "target": target,
        "status": status,
        "figure": figure,
        "table": table,
        "notes": notes or [],
        "command": [command_line(argv)],
        "commit": commit or git_describe() or "not recorded",
        "machine": goal_machine(),
        "load": load if load is not None else (load_average() or "not recorded"),
        "date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sources": sources or [],
    }
    path = folder / f"{goal}.json"
    write_json(path, {key: value for key, value in payload.items() if value is not None})
    return path
