"""Schemathesis with every check against a real server for each kind of bundle: the OpenAPI document matches.

Bodies the document allows are answered 2xx, bodies it forbids get a documented 4xx, never a 500. The error
statuses counted as refusals of schema-violating data are the API's own: schemathesis' list plus 413, which the
service answers for requests over its limits (a text over --max-text-chars violates the schema's maxLength).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.server import running_server

pytest.importorskip("schemathesis")
ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).parent / "st"
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
"""
MAX_EXAMPLES = "40"  # per operation and phase: about 10-20 s per bundle on 2 busy cores


@pytest.mark.skipif(not ST.exists(), reason="the schemathesis command-line tool `st` is not installed beside python")
@pytest.mark.parametrize("fixture", ["text_bundle", "image_bundle", "text_tag_bundle", "text_value_bundle"])
def test_schemathesis_finds_nothing(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    bundle: Path = request.getfixturevalue(fixture)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *(p for p in sys.path if p)]),
        "SCHEMATHESIS_HOOKS": "tests.serve.schemathesis_hooks",
    }
    with running_server(bundle) as url:
        command = [str(ST), "--config-file", str(config), "run", f"{url}/openapi.json", "--checks", "all"]
        options = ["--max-examples", MAX_EXAMPLES, "--seed", "19", "--workers", "1", "--no-color"]
        done = subprocess.run([*command, *options], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "No issues found" in report and "3 selected" in report, report[-3000:]
