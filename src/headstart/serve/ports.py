"""Check the listening address before the (slow) model load, so a taken port fails in a second, not a minute."""

from __future__ import annotations

import errno
import socket

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


def claim_port(host: str, port: int) -> int:
    """`port` if (host, port) can be bound now; for port 0, a free port chosen by the system.

    For several worker processes, which uvicorn's supervisor binds itself: the socket is released again, so a
    race with another program remains possible, but the common mistakes (a second server on 8000, a typo'd
    host) are caught before the model loads.
    """
    with listening_socket(host, port) as probe:
        return int(probe.getsockname()[1])
