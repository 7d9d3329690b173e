"""Issue 19 item 12: runs whose process was killed with SIGKILL do not stay RUNNING forever.

The next tracked run started on the same machine marks them KILLED; runs of live processes, of other machines,
and runs without headstart's process tags are left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from headstart import tracking

START_AND_DIE = """
import os, signal, sys
from headstart import tracking
run = tracking.start_run("fit", {"seed": 1})
print(run.run_id, flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # "live": run until the test closes stdin
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(tracking.ENV_URI, uri)
    monkeypatch.delenv(tracking.ENV_NO_TRACK, raising=False)
    return uri


def _status(run_id: str) -> str:
    record = tracking.find_run(run_id)
    assert record is not None
    return record.status


def test_a_run_killed_with_sigkill_is_marked_killed_by_the_next_run(store: str) -> None:
    env = {**os.environ, tracking.ENV_URI: store}
    live = subprocess.Popen(
        [sys.executable, "-c", START_AND_DIE, "live"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None
        live_id = live.stdout.readline().strip()
        other_machine = tracking.start_run("fit", {"seed": 2})
        tracking._Store.open().client.set_tag(other_machine.run_id, tracking.TAG_HOST, "another-machine")
        untagged = tracking._Store.open().client.create_run(tracking._Store.open().experiment_id).info.run_id
        dead = subprocess.run(
            [sys.executable, "-c", START_AND_DIE, "die"], env=env, capture_output=True, text=True, timeout=120
        )
        assert dead.returncode == -signal.SIGKILL
        dead_id = dead.stdout.strip()
        assert _status(dead_id) == "RUNNING"

        run = tracking.start_run("fit", {"seed": 3})

        assert _status(dead_id) == "KILLED"
        assert f"tracking: marked 1 run(s) KILLED whose process had died: {dead_id}" in run.problems
        ended = tracking.find_run(dead_id).tags[tracking.TAG_ENDED]  # type: ignore[union-attr]
        assert "marked KILLED" in ended and "had died" in ended
        assert _status(live_id) == "RUNNING"  # its process still runs
        assert _status(other_machine.run_id) == "RUNNING"  # this machine cannot see that process
        assert _status(untagged) == "RUNNING"  # not headstart's: no process tags
        assert _status(run.run_id) == "RUNNING"
        run.end()
        other_machine.end()
    finally:
        live.communicate(timeout=60)
