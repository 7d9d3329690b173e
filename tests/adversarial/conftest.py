"""The adversarial suite's session: tracking off, one folder of inputs built on demand, and the CLI run in-process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from headstart.cli.main import run
from tests.adversarial.inputs import World


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def invoke(args: list[str]) -> Outcome:
    """`headstart ARGS` in this process through the console script's entry point (`run`, which also turns Click's
    own usage errors into one JSON document with --json), capturing what it prints and how it exits."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["headstart", *args]
    code, exception = 0, None
    try:
        with redirect_stdout(out), redirect_stderr(err):
            run()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as raised:  # a bug: what the suite exists to catch
        code, exception = 1, raised
    finally:
        sys.argv = argv
    return Outcome(code, out.getvalue(), err.getvalue(), exception)


@pytest.fixture(scope="package")  # restored after this folder: tracking tests run later
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    saved = {k: os.environ.get(k) for k in ("HEADSTART_NO_TRACK", "COLUMNS")}
    os.environ["HEADSTART_NO_TRACK"] = "1"  # each tracked run costs a store write; tracking has its own tests
    os.environ["COLUMNS"] = "200"

    def fit(args: list[str]) -> None:
        outcome = invoke([*args, "--json"])
        assert outcome.code == 0, outcome.stdout + outcome.stderr

    yield World(tmp_path_factory.mktemp("adversarial"), fit)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can create files in, root included: chmod for users, `chattr +i` for root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if not made:
        pytest.skip("running as root where `chattr +i` is unavailable: no folder is unwritable")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
