"""`headstart serve` and `headstart export` as CLI commands: registered, options reach the api, errors exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.cli.main import app

runner = CliRunner()


def test_help_lists_serve_and_export() -> None:
    result = runner.invoke(app, ["--help"])
    assert "serve" in result.stdout and "export" in result.stdout
    serve_help = runner.invoke(app, ["serve", "--help"])
    for option in ("--host", "--port", "--workers", "--max-batch", "--max-wait-ms", "--max-body-mb"):
        assert option in serve_help.stdout


def test_serve_options_reach_the_api(monkeypatch: pytest.MonkeyPatch, image_bundle: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(api, "serve", lambda bundle, **kw: calls.append({"bundle": bundle, **kw}))
    args = ["serve", str(image_bundle), "--port", "9123", "--workers", "2", "--max-batch", "8", "--max-wait-ms", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls[0]["port"] == 9123 and calls[0]["workers"] == 2
    assert calls[0]["max_batch"] == 8 and calls[0]["max_wait_ms"] == 2.0 and calls[0]["host"] == "127.0.0.1"


def test_serve_missing_bundle_exits_with_bundle_code(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 5
    assert "no bundle" in result.output


def test_serve_bad_option_exits_2(image_bundle: Path) -> None:
    result = runner.invoke(app, ["serve", str(image_bundle), "--max-batch", "0"])
    assert result.exit_code == 2
