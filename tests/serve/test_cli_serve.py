"""`headstart serve` and `headstart export` as CLI commands: registered, options reach the HTTP face, errors exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headstart.cli.main import app
from headstart.server import process

runner = CliRunner()


def test_help_lists_serve_and_export() -> None:
    result = runner.invoke(app, ["--help"])
    assert "serve" in result.stdout and "export" in result.stdout
    serve_help = runner.invoke(app, ["serve", "--help"])
    for option in ("--host", "--port", "--workers", "--max-batch", "--max-wait-ms", "--max-body-mb"):
        assert option in serve_help.stdout


def test_serve_options_reach_the_http_face(monkeypatch: pytest.MonkeyPatch, image_bundle: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(process, "serve", lambda bundle, **kw: calls.append({"bundle": bundle, **kw}))
    args = ["serve", str(image_bundle), "--port", "9123", "--workers", "2", "--max-batch", "8", "--max-wait-ms", "2"]
    args += ["--cors-origin", "https://a.example", "--cors-origin", "https://b.example"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls[0]["port"] == 9123 and calls[0]["workers"] == 2
    assert calls[0]["max_batch"] == 8 and calls[0]["max_wait_ms"] == 2.0 and calls[0]["host"] == "127.0.0.1"
    assert calls[0]["cors_origins"] == ("https://a.example", "https://b.example")


def test_serve_missing_bundle_exits_with_bundle_code(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 5
    assert "no bundle" in result.output


def test_serve_bad_option_exits_2(image_bundle: Path) -> None:
    result = runner.invoke(app, ["serve", str(image_bundle), "--max-batch", "0"])
    assert result.exit_code == 2


def test_serve_refuses_a_taken_port_before_loading_the_model(tmp_path: Path) -> None:
    """The port is checked first: a taken port is a usage error (exit 2) even when the bundle would fail later."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(tmp_path / "no-bundle-here"), "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output


def test_serve_announces_the_real_url_when_ready(text_bundle: Path) -> None:
    """`--port 0` serves on a free port; the ready line names it, and it answers at once."""
    import re
    import subprocess
    import sys
    import time

    import httpx

    command = [sys.executable, "-m", "headstart", "serve", str(text_bundle), "--port", "0", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            if "ready" in line or not line:
                break
        assert lines[0].startswith("loading ") and "ready" in lines[-1], lines
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", lines[-1])
        assert url is not None and url.group(1) != "0", lines
        # the socket listens before the ready line: the first request is answered, no retrying
        assert httpx.get(f"{url.group(0)}v1/health", timeout=10.0).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_json_prints_one_ready_document_on_stdout(text_bundle: Path, workers: str) -> None:
    """The ready line comes once a request is answered, with one process or several: no retrying."""
    import json
    import subprocess
    import sys

    import httpx

    command = [
        sys.executable,
        "-m",
        "headstart",
        "serve",
        str(text_bundle),
        "--port",
        "0",
        "--json",
        "--workers",
        workers,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["status"] == "ready" and ready["bundle"] == str(text_bundle)
        assert ready["url"].startswith("http://127.0.0.1:") and not ready["url"].endswith(":0/")
        assert ready["docs"] == ready["url"] + "docs"
        model = httpx.get(ready["url"] + "v1/model", timeout=10.0)
        assert model.status_code == 200 and model.json()["labels"]
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_json_error_is_a_json_document(tmp_path: Path) -> None:
    import json

    result = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--port", "0", "--json"])
    assert result.exit_code == 5
    document = json.loads(result.stdout)
    assert document["error"] and "no bundle" in json.dumps(document)
