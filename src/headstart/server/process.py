"""Running the HTTP service: one uvicorn process, or several sharing one listening socket (`--workers`)."""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Unpack

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

from headstart.bundle import load as load_bundle
from headstart.config import validated
from headstart.errors import UsageError
from headstart.runtime import default_threads
from headstart.server.app import ENV_SPEC, create_app
from headstart.server.ports import announce_when_answering, listening_socket
from headstart.server.schemas import ServeConfig, ServeOptions


def serve(
    bundle: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    on_ready: Callable[[str], object] | None = None,
    **options: Unpack[ServeOptions],
) -> None:
    """Serve a bundle over HTTP until interrupted (uvicorn; `workers` > 1 starts that many processes):
    `headstart.serve`.

    The port is bound before the model loads (a taken port fails at once; port 0 picks a free one) and held
    until the server serves on it. `on_ready(url)` is called once a request sent then is answered: when the one
    process has warmed up, or when a worker of several answers `/v1/health`. The other options are
    `headstart.server.ServeConfig` fields (max_batch, max_wait_ms, top_k, threads, precision...).
    """
    if workers < 1:
        raise UsageError(f"workers={workers} is not a process count", expected="an integer >= 1", fix="pass --workers")
    if not 0 <= port <= 65535:
        raise UsageError(f"port={port} is not a TCP port", expected="0 to 65535", fix="pass --port 8000")
    if workers > 1 and options.get("threads") is None:
        options["threads"] = max(1, default_threads() // workers)  # the cores are shared by the processes
    validated(ServeConfig, **options)
    if workers == 1:
        with listening_socket(host, port) as sock:  # a taken port fails now, not after a model load
            predictor = load_bundle(bundle)
            url = service_url(host, sock.getsockname()[1])

            def ready() -> None:
                if on_ready is not None:
                    on_ready(url)

            app = create_app(predictor, on_ready=ready, **options)
            config = uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=log_config())
            uvicorn.Server(config).run(sockets=[sock])
        return
    with listening_socket(host, port) as sock:  # held from here: port 0 stays the port the workers serve on
        load_bundle(bundle)  # fail here, before any process starts, when the bundle is unusable
        url = service_url(host, sock.getsockname()[1])
        os.environ[ENV_SPEC] = json.dumps({"bundle": str(Path(bundle).resolve()), "options": options})
        config = uvicorn.Config(
            "headstart.server.app:app_from_environment",
            factory=True,
            host=host,
            port=sock.getsockname()[1],
            workers=workers,
            log_level=log_level,
            log_config=log_config(),
        )
        if on_ready:  # once a worker has loaded the model and answers, not when the processes start
            threading.Thread(target=announce_when_answering, args=(url, on_ready), daemon=True).start()
        sock.set_inheritable(True)
        Multiprocess(config, sockets=[sock]).run()


def log_config() -> dict[str, Any]:
    """uvicorn's logging, access lines included, on stderr: stdout holds only what headstart prints (`--json`)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def service_url(host: str, port: int) -> str:
    """The URL a browser opens for `host:port` (an IPv6 address in brackets)."""
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
