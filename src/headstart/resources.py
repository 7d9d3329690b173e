"""`ResourceMeter`: wall time, CPU time and peak memory of a block of code.

CPU time is user + system time of this process and its waited-for children (`resource.getrusage`), so
it counts every thread of PyTorch and ONNX Runtime. Peak memory is the highest resident set size (RSS)
of the process seen by a sampling thread while the block runs (`ru_maxrss` is a lifetime high-water
mark that cannot be reset between blocks); `rss_increase_mb` is that peak minus the RSS at the start.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

SAMPLE_SECONDS = 0.05
MB = 1024.0 * 1024.0


@dataclass
class ResourceReading:
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    rss_increase_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ResourceMeter:
    """Context manager: `with ResourceMeter() as meter: ...` then `meter.reading`."""

    def __init__(self, sample_seconds: float = SAMPLE_SECONDS) -> None:
        self.sample_seconds = sample_seconds
        self.reading = ResourceReading()
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._peak = 0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_seconds):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> ResourceMeter:
        self._start_rss = self._process.memory_info().rss
        self._peak = self._start_rss
        self._thread = threading.Thread(target=self._sample, name="headstart-rss", daemon=True)
        self._thread.start()
        self._cpu = _cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        cpu = _cpu_seconds() - self._cpu
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.reading = ResourceReading(
            wall_seconds=wall,
            cpu_seconds=cpu,
            peak_rss_mb=self._peak / MB,
            rss_increase_mb=(self._peak - self._start_rss) / MB,
        )
