"""Check the listening address before the (slow) model load, so a taken port fails in a second, not a minute."""

from __future__ import annotations

import errno
import socket

from headstart.errors import UsageError


def claim_port(host: str, port: int) -> int:
    """`port` if (host, port) can be bound now; for port 0, a free port chosen by the system.

    The socket is released again (uvicorn binds its own, with the same SO_REUSEADDR), so a race with another
    program remains possible but the common mistakes — a second server on 8000, a typo'd host — are caught here.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
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
        return int(probe.getsockname()[1])
