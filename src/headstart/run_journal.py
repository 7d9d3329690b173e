"""Runs recorded off the critical path: a journal written in milliseconds, replayed into MLflow by a worker.

Importing MLflow and opening its SQLite store costs seconds, more than a linear fit on cached features. So a
run on an embedded store (`sqlite:///.../mlflow.db`) is first kept as a journal: its id (chosen here), tags,
params, metrics and artifacts (hard links, or copies, under `pending/<run_id>/files/`) in
`pending/<run_id>/journal.json` beside the database (first written when the run starts, marked RUNNING). When
the run ends, a background process (`python -m headstart.run_worker STORE_DB`) replays every ended journal
into MLflow under the same run id and deletes it. Anything that reads the store first replays what is pending
(`flush`), so `headstart runs`, `reproduce` and `promote` see every finished run. A RUNNING journal whose
process is gone (SIGKILL, a power cut) is recorded as KILLED; one whose process still runs waits.
`HEADSTART_TRACK_SYNC=1` records runs directly in MLflow, as they happen.

Only this module's replay imports MLflow; writing a journal needs the standard library alone.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENV_SYNC = "HEADSTART_TRACK_SYNC"
PENDING_DIR = "pending"
JOURNAL = "journal.json"
FILES = "files"
FAILED_DIR = "failed"
LOCK = ".lock"
LOG = "worker.log"
_BATCH = 100
# tags `headstart.tracking` sets on every run: which process runs it, and how a run killed with it ended
TAG_HOST = "headstart.host"
TAG_PID = "headstart.pid"
TAG_PROCESS_STARTED = "headstart.process_started"
TAG_ENDED = "headstart.ended"


def pending_root(db: Path) -> Path:
    """Where the journals of the store at `db` (its SQLite file) wait."""
    return db.parent / PENDING_DIR


def synchronous() -> bool:
    """`$HEADSTART_TRACK_SYNC` asks for the replay at the end of the run, in the recording process."""
    return os.environ.get(ENV_SYNC, "").strip().lower() in {"1", "true", "yes", "on"}


def now_ms() -> int:
    return int(time.time() * 1000)


class Journal:
    """One run's records, kept in memory until `write`; the id is chosen here and is the MLflow run id."""

    def __init__(self, db: Path, tags: Mapping[str, str], name: str | None) -> None:
        self.db = db
        self.run_id = uuid.uuid4().hex
        self.folder = pending_root(db) / self.run_id
        self.document: dict[str, Any] = {
            "run_id": self.run_id,
            "name": name,
            "start_time": now_ms(),
            "tags": dict(tags),
            "ops": [],
        }

    def _op(self, kind: str, **fields: Any) -> None:
        self.document["ops"].append({"op": kind, **fields})

    def params(self, rows: Mapping[str, str]) -> None:
        self._op("params", rows=dict(rows))

    def metrics(self, rows: list[tuple[str, float, int, int]]) -> None:
        self._op("metrics", rows=[list(r) for r in rows])

    def tags(self, rows: Mapping[str, str]) -> None:
        self._op("tags", rows=dict(rows))

    def artifact(self, path: Path, artifact_path: str | None) -> None:
        """Stage a file now (it may be temporary, or replaced by a later fit) and log it at replay."""
        staged = self._stage_dir() / path.name
        _link_or_copy(path, staged)
        self._op("artifact", file=str(staged.relative_to(self.folder)), artifact_path=artifact_path)

    def artifact_dir(self, path: Path, artifact_path: str | None) -> None:
        """Stage a folder's files (hard links: a bundle rewritten later keeps the linked version)."""
        staged = self._stage_dir()
        for source in sorted(p for p in path.rglob("*") if p.is_file()):
            _link_or_copy(source, staged / source.relative_to(path))
        self._op("artifacts", dir=str(staged.relative_to(self.folder)), artifact_path=artifact_path)

    def _stage_dir(self) -> Path:
        staged = self.folder / FILES / str(len(self.document["ops"]))
        staged.mkdir(parents=True, exist_ok=True)
        return staged

    def write(self, status: str) -> None:
        """Write the journal atomically with the run's status: RUNNING when it starts, its end when it ends."""
        self.document.update(status=status, end_time=None if status == "RUNNING" else now_ms())
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{JOURNAL}.tmp"
        tmp.write_text(json.dumps(self.document, default=str))
        os.replace(tmp, self.folder / JOURNAL)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(source, target)


def start_worker(db: Path) -> None:
    """Replay the store's journals in a detached process that outlives this one."""
    root = pending_root(db)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOG, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "headstart.run_worker", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # not killed with the terminal's process group (Ctrl-C after `fit`)
            close_fds=True,
        )


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One replaying process per store at a time (the worker, or a reader flushing)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pending(db: Path) -> list[Path]:
    """Journals waiting to be replayed, oldest first."""
    root = pending_root(db)
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{JOURNAL}"), key=lambda p: p.stat().st_mtime)


def flush(db: Path, open_store: Callable[[], tuple[Any, str]]) -> list[str]:
    """Replay every pending journal of the store at `db` (waiting for a running worker); the problems met.

    `open_store()` gives (MlflowClient, experiment id) of that store; it is called only when a journal waits.
    """
    if not pending(db):
        return []
    problems: list[str] = []
    with _locked(pending_root(db)):
        for journal in pending(db):
            problem = _replay_one(journal, open_store)
            if problem:
                problems.append(problem)
    return problems


def _orphaned(tags: Mapping[str, str]) -> bool:
    """Whether the process that wrote a RUNNING journal is gone (same host; pid *and* start time no longer match)."""
    import socket

    import psutil

    try:
        if tags[TAG_HOST] != socket.gethostname():
            return False  # another machine's process: this one cannot tell
        pid, started = int(tags[TAG_PID]), float(tags[TAG_PROCESS_STARTED])
        return abs(psutil.Process(pid).create_time() - started) >= 1.0
    except psutil.NoSuchProcess:
        return True
    except (KeyError, ValueError, psutil.Error):
        return False


def _replay_one(journal: Path, open_store: Callable[[], tuple[Any, str]]) -> str | None:
    folder = journal.parent
    try:
        document = json.loads(journal.read_text())
        if document["status"] == "RUNNING":
            if not _orphaned(document["tags"]):
                return None  # its process still runs: recorded when it ends
            from datetime import UTC, datetime

            when = datetime.now(UTC).isoformat(timespec="seconds")
            document.update(status="KILLED", end_time=now_ms())
            document["ops"].append(
                {"op": "tags", "rows": {TAG_ENDED: f"marked KILLED at {when}: its process had died"}}
            )
        client, experiment_id = open_store()
        replay(client, experiment_id, document, folder)
    except Exception as err:  # kept aside, never retried into a half-recorded run
        failed = folder.parent / FAILED_DIR / folder.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(folder, failed)
        return f"tracking: could not record run {folder.name} (kept in {failed}): {err}"
    shutil.rmtree(folder, ignore_errors=True)
    return None


def replay(client: Any, experiment_id: str, document: Mapping[str, Any], folder: Path) -> None:
    """Record one journal as an MLflow run with the journal's run id."""
    from mlflow.entities import Metric, Param, RunTag

    run_id = document["run_id"]
    with _run_id_chosen(run_id):
        created = client.create_run(
            experiment_id, start_time=document["start_time"], tags=document["tags"], run_name=document["name"]
        )
    if created.info.run_id != run_id:
        raise RuntimeError(f"MLflow gave the run id {created.info.run_id}, not the journal's {run_id}")
    for op in document["ops"]:
        kind = op["op"]
        if kind == "params":
            params = [Param(k, v) for k, v in op["rows"].items()]
            for start in range(0, len(params), _BATCH):
                client.log_batch(run_id, params=params[start : start + _BATCH])
        elif kind == "metrics":
            metrics = [Metric(k, float(v), int(t), int(s)) for k, v, t, s in op["rows"]]
            for start in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
        elif kind == "tags":
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in op["rows"].items()])
        elif kind == "artifact":
            client.log_artifact(run_id, str(folder / op["file"]), op["artifact_path"])
        elif kind == "artifacts":
            client.log_artifacts(run_id, str(folder / op["dir"]), op["artifact_path"])
    client.set_terminated(run_id, document["status"], end_time=document["end_time"])


@contextmanager
def _run_id_chosen(run_id: str) -> Iterator[None]:
    """MLflow's SQL store draws a run id with uuid4 and takes none from its caller: let it draw this one."""
    from types import SimpleNamespace

    from mlflow.store.tracking import sqlalchemy_store

    original = sqlalchemy_store.uuid
    sqlalchemy_store.uuid = SimpleNamespace(uuid4=lambda: uuid.UUID(hex=run_id))  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlalchemy_store.uuid = original
