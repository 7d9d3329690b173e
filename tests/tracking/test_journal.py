"""Runs on an embedded store are journals first, replayed into MLflow off the critical path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headstart import run_journal, tracking


@pytest.fixture
def background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store with background recording on; returns its database path."""
    db = tmp_path / "runs" / "mlflow.db"
    monkeypatch.setenv(tracking.ENV_URI, f"sqlite:///{db}")
    monkeypatch.delenv(run_journal.ENV_SYNC, raising=False)
    return db


def _record_a_run(tmp_path: Path) -> tracking.Run:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"labels": ["a"]}')
    with tracking.tracked_run("fit", {"strategy": "linear", "nested": {"C": 0.1}}, {"path": "/data"}) as run:
        run.log_metrics({"test_accuracy": 0.75})
        run.log_metrics({"train_loss": 0.5}, step=2)
        run.set_tags({tracking.TAG_BUNDLE: str(bundle)})
        run.log_json("config.json", {"seed": 3})
        run.log_artifact_dir(bundle, tracking.BUNDLE_ARTIFACT)
    (tmp_path / "new.json").write_text("a later fit")  # bundles are replaced, never written in place:
    (tmp_path / "new.json").replace(bundle / "manifest.json")  # the run keeps the version it logged
    return run


def test_a_run_is_a_journal_until_the_store_is_read(
    background: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Path] = []
    monkeypatch.setattr(run_journal, "start_worker", started.append)
    run = _record_a_run(tmp_path)
    assert run.run_id and started == [background.resolve()]
    assert not background.exists()  # MLflow has not been touched
    assert [p.parent.name for p in run_journal.pending(background)] == [run.run_id]

    record = tracking.find_run(run.run_id)  # a reader replays what is pending first, under the same id
    assert record is not None and record.run_id == run.run_id and record.status == "FINISHED"
    assert record.params["strategy"] == "linear" and record.params["nested.C"] == "0.1"
    assert record.params["data.path"] == "/data" and record.kind == "fit"
    assert record.metrics["test_accuracy"] == 0.75 and record.tags[tracking.TAG_BUNDLE].endswith("bundle")
    assert {"config.json", "bundle/manifest.json", "command.json"} <= set(record.artifacts)
    assert tracking.load_json_artifact(run.run_id, "config.json") == {"seed": 3}
    logged = tracking.load_json_artifact(run.run_id, "bundle/manifest.json")
    assert logged == {"labels": ["a"]}
    assert run_journal.pending(background) == []


def test_the_worker_records_pending_runs_by_itself(background: Path, tmp_path: Path) -> None:
    run = _record_a_run(tmp_path)  # starts the real background process
    deadline = time.monotonic() + 120
    while run_journal.pending(background) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_journal.pending(background) == [], (background.parent / "pending" / "worker.log").read_text()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking.tracking_uri())  # read without headstart's flush: the worker did the work
    recorded = client.get_run(run.run_id)
    assert recorded.info.status == "FINISHED" and recorded.data.metrics["test_accuracy"] == 0.75


def test_a_journal_that_cannot_be_replayed_is_kept_aside_and_reported(
    background: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_journal, "start_worker", lambda db: None)
    run = _record_a_run(tmp_path)
    journal = run_journal.pending(background)[0]
    document = json.loads(journal.read_text())
    document["ops"].append({"op": "artifact", "file": "files/missing.json", "artifact_path": None})
    journal.write_text(json.dumps(document))
    with pytest.warns(tracking.TrackingWarning, match=f"could not record run {run.run_id}"):
        assert tracking.search_runs() is not None
    assert (background.parent / "pending" / "failed" / str(run.run_id) / "journal.json").is_file()
    assert run_journal.pending(background) == []


def test_recording_a_fit_does_not_import_mlflow(tmp_path: Path) -> None:
    """The recording process writes a journal with the standard library; MLflow loads in the worker."""
    code = (
        "import sys\n"
        "from unittest import mock\n"
        "from headstart import run_journal, tracking\n"
        "with mock.patch.object(run_journal, 'start_worker'):\n"
        "    with tracking.tracked_run('fit', {'a': 1}) as run:\n"
        "        run.log_metrics({'m': 1.0})\n"
        "assert run.run_id and 'mlflow' not in sys.modules, sorted(m for m in sys.modules if 'mlflow' in m)[:3]\n"
    )
    env = {"HEADSTART_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, **_pythonpath()})
    assert done.returncode == 0, done.stderr


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_a_run_whose_process_was_killed_is_recorded_killed(background: Path) -> None:
    code = (
        "import os, signal\n"
        "from headstart import tracking\n"
        "run = tracking.start_run('fit', {'seed': 1})\n"
        "print(run.run_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != run_journal.ENV_SYNC}
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    run_id = dead.stdout.strip()
    assert dead.returncode == -9 and run_id
    record = tracking.find_run(run_id)
    assert record is not None and record.status == "KILLED" and record.params["seed"] == "1"
    assert "its process had died" in record.tags[tracking.TAG_ENDED]


def test_a_live_run_s_journal_waits_for_its_end(background: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_journal, "start_worker", lambda db: None)
    run = tracking.start_run("fit", {"seed": 2})
    assert tracking.search_runs() == []  # this process still runs: its journal is not recorded yet
    assert run_journal.pending(background)
    run.end()
    assert [r.run_id for r in tracking.search_runs()] == [run.run_id]
