"""The listening socket, bound before the (slow) model load so a taken port fails in a second, not a minute; and
the ready announcement of a multi-process server."""

from __future__ import annotations

import errno
import socket
import time
import urllib.request
from collections.abc import Callable

from headstart.errors import UsageError


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; for port 0, on a free port chosen by the system.

    The single-process server serves on this very socket: the port is held from this check on (no other program
    can take it during the model load), and connections made after the "ready" line wait in its backlog.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use",
                expected="a free TCP port",
                fix=f"pass another --port (e.g. {port + 1}, or 0 for any free one), or stop the other server",
            ) from None
        raise UsageError(
            f"cannot listen on {host}:{port} ({error.strerror or error})",
            expected="an address of this machine (127.0.0.1, 0.0.0.0, ::) and a port you may open",
            fix="check --host, or use a port above 1023",
        ) from None
    return sock


def announce_when_answering(
    url: str, on_ready: Callable[[str], None], timeout: float = 900.0, every: float = 0.2
) -> bool:
    """Call `on_ready(url)` once `url`/v1/health answers 200 (workers load the model first); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}v1/health", timeout=5) as answer:
                if answer.status == 200:
                    on_ready(url)
                    return True
        except OSError:
            pass  # not answering yet: connection refused, reset, or a timeout while the workers start
        time.sleep(every)
    return False
