"""The Tracker: records runs (params, data, environment, metrics, artifacts) in MLflow, embedded SQLite by default.

Store: `$HEADSTART_TRACKING_URI` (any MLflow tracking URI, or a plain folder), else `./headstart-runs/`
(`sqlite:///headstart-runs/mlflow.db`, artifacts in `headstart-runs/artifacts/`). Tracking is off when
`$HEADSTART_NO_TRACK=1` or the caller passes `enabled=False` (`--no-track`). On an embedded store a run is
kept as a journal and replayed into MLflow by a background process when it ends (`headstart.run_journal`):
the command never waits for MLflow, and every reader of the store replays what is still pending first.
MLflow is imported only to replay or read runs, or for a run on another store.

A tracking failure never loses the work being tracked: every call below catches MLflow errors, warns
(`TrackingWarning`) and records the problem in `Run.problems`; a run that could not start is a no-op
`Run` whose `run_id` is None.

Use from any command (study, rank, expand...):

    from headstart import tracking

    with tracking.tracked_run("study", params={"strategies": "linear,full", ...},
                              data=tracking.data_record(path, dataset), enabled=config.track) as run:
        ...                                         # the work; an exception marks the run FAILED
        run.log_metrics({"best_macro_f1": 0.91})    # or log_metrics(history_row, step=epoch)
        run.log_artifact_dir(report_dir, "report")  # a folder (bundle, HTML report) as artifacts
        run.log_json("results.json", table)         # a JSON document as an artifact
        run.set_tags({"headstart.best": "linear"})
    run.run_id                                      # str, or None when tracking is off or failed

`tracked_run` logs by itself: the kind, `params` (flattened to dotted keys), the data path and
fingerprint (plus per-item digests as `data_items.json` when `data` carries them), package versions,
machine (CPU model, cores, threads) and the exact command line (`command.json`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from headstart import run_journal
from headstart.provenance import machine, package_versions

if TYPE_CHECKING:
    from headstart.data import Dataset
    from headstart.manifest import Manifest

ENV_URI = "HEADSTART_TRACKING_URI"
ENV_NO_TRACK = "HEADSTART_NO_TRACK"
DEFAULT_DIR = "headstart-runs"
EXPERIMENT = "headstart"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
CONFIG_ARTIFACT = "config.json"
ITEMS_ARTIFACT = "data_items.json"
COMMAND_ARTIFACT = "command.json"
BUNDLE_ARTIFACT = "bundle"
TAG_KIND = "headstart.kind"
TAG_FINGERPRINT = "headstart.data_fingerprint"
TAG_DATA_PATH = "headstart.data_path"
TAG_COMMAND = "headstart.command"
TAG_BUNDLE = "headstart.bundle"
TAG_STRATEGY = "headstart.strategy"
TAG_BACKBONE = "headstart.backbone"
TAG_PROMOTED = "promoted"
# which process runs a run (so a later run can tell it was killed), and how a killed run ended: see run_journal
TAG_HOST, TAG_PID, TAG_PROCESS_STARTED, TAG_ENDED = (
    run_journal.TAG_HOST,
    run_journal.TAG_PID,
    run_journal.TAG_PROCESS_STARTED,
    run_journal.TAG_ENDED,
)
ABANDONED_SCAN = 200  # RUNNING runs of this machine looked at per start; older ones wait for the next start
_MAX_PARAM = 6000
_BATCH = 100


class TrackingWarning(UserWarning):
    """Tracking failed or degraded; the tracked work itself went on."""


def tracking_enabled(enabled: bool = True) -> bool:
    """Whether runs are recorded: `enabled` (e.g. `--no-track`) and not `$HEADSTART_NO_TRACK`."""
    off = os.environ.get(ENV_NO_TRACK, "").strip().lower() in {"1", "true", "yes", "on"}
    return enabled and not off


def tracking_uri() -> str:
    """The MLflow tracking URI in use: `$HEADSTART_TRACKING_URI` or the SQLite store in `./headstart-runs/`."""
    given = os.environ.get(ENV_URI, "").strip()
    if given and ("://" in given or given.startswith("sqlite:")):
        return given
    folder = Path(given or DEFAULT_DIR).resolve()
    return f"sqlite:///{folder / DB_NAME}"


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Point every tracking call inside the block at `uri` (e.g. the store a bundle's run was recorded in)."""
    previous = os.environ.get(ENV_URI)
    os.environ[ENV_URI] = uri
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = previous


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :]
    return None if path in ("", ":memory:") else Path(path)


def _artifact_root(uri: str) -> str | None:
    """Artifacts of an embedded store live beside its database; a server decides for itself."""
    db = _sqlite_file(uri)
    return (db.parent / ARTIFACTS_DIR).resolve().as_uri() if db else None


def _warn(message: str) -> str:
    warnings.warn(message, TrackingWarning, stacklevel=3)
    return message


class _Store:
    """An MlflowClient on the configured store plus the `headstart` experiment (created on first use).

    Use `_Store.open()`: opening a SQLite store checks its schema (about half a second), so a process
    reuses one `_Store` per URI.
    """

    _open: dict[str, _Store] = {}

    @classmethod
    def open(cls) -> _Store:
        uri = tracking_uri()
        if uri not in cls._open:
            cls._open[uri] = cls(uri)
        return cls._open[uri]

    def __init__(self, uri: str) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our output stays ours
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)  # no migration chatter on a fresh store
        self.uri = uri
        db = _sqlite_file(self.uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=_artifact_root(self.uri))
        else:
            self.experiment_id = experiment.experiment_id


def store_exists(uri: str | None = None) -> bool:
    """False when the embedded store has never been written (so reading it would only create it)."""
    db = _sqlite_file(uri or tracking_uri())
    return db is None or db.is_file() or bool(run_journal.pending(db))


def flush_pending() -> list[str]:
    """Record the runs of the current store still waiting as journals (see `headstart.run_journal`).

    Called before anything reads the store, so a run is visible as soon as the command that made it ended.
    """
    db = _sqlite_file(tracking_uri())
    if db is None:
        return []

    def open_store() -> tuple[Any, str]:
        store = _Store.open()
        return store.client, store.experiment_id

    return [_warn(problem) for problem in run_journal.flush(db, open_store)]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (`{"a": {"b": 1}}` -> `{"a.b": 1}`)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def metric_name(name: str) -> str:
    """A name MLflow accepts for a metric or param (letters, digits, `_-. /`)."""
    return re.sub(r"[^\w\-. /]", "_", name)


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MAX_PARAM]


def data_record(path: str | Path, dataset: Dataset, digests: Sequence[str] | None = None) -> dict[str, Any]:
    """What `tracked_run(data=...)` records for a dataset: path, fingerprint and per-item digests.

    `items` maps each item id to `[sha256, label, split]`, so a later `reproduce` can name what changed.
    """
    from headstart.data.modalities import item_digests  # tracking loads without the data package

    digests = list(digests) if digests is not None else item_digests(dataset)
    labels = dataset.labels or (None,) * len(dataset)
    splits = dataset.splits or (None,) * len(dataset)
    return {
        "path": str(Path(path).resolve()),
        "fingerprint": dataset.fingerprint(digests),
        "modality": dataset.modality,
        "items": {dataset.ids[i]: [digests[i], labels[i], splits[i]] for i in range(len(dataset))},
    }


@dataclass
class Run:
    """A tracked run; every method is a no-op when `run_id` is None (tracking off or failed to start)."""

    run_id: str | None = None
    store: _Store | None = None
    problems: list[str] = field(default_factory=list)
    journal: run_journal.Journal | None = None  # an embedded store's run, recorded when it ends

    @property
    def active(self) -> bool:
        return self.run_id is not None and (self.store is not None or self.journal is not None)

    def _client(self) -> Any:
        """The MLflow client of an active run without a journal (every caller checked `active` first)."""
        assert self.store is not None
        return self.store.client

    def _id(self) -> str:
        assert self.run_id is not None
        return self.run_id

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except Exception as err:  # tracking must never break the tracked work
            self.problems.append(_warn(f"tracking: could not {action} for run {self.run_id}: {err}"))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (nested mappings flattened to dotted keys; values as text)."""
        if not self.active or not params:
            return
        if self.journal is not None:
            self.journal.params({metric_name(k): _param_value(v) for k, v in flatten(params).items()})
            return
        from mlflow.entities import Param

        flat = [Param(metric_name(k), _param_value(v)) for k, v in flatten(params).items()]
        with self._guard("log params"):
            for start in range(0, len(flat), _BATCH):
                self._client().log_batch(self._id(), params=flat[start : start + _BATCH])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric metrics (nested mappings flattened; non-numbers and None skipped) at `step`."""
        if not self.active:
            return
        stamp = run_journal.now_ms()
        values = [
            (metric_name(k), float(v), stamp, step or 0)
            for k, v in flatten(metrics).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if self.journal is not None:
            self.journal.metrics(values)
            return
        from mlflow.entities import Metric

        rows = [Metric(*value) for value in values]
        with self._guard("log metrics"):
            for start in range(0, len(rows), 1000):
                self._client().log_batch(self._id(), metrics=rows[start : start + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (values as text); tags, unlike params, may be changed later."""
        if not self.active or not tags:
            return
        if self.journal is not None:
            self.journal.tags({k: _param_value(v) for k, v in tags.items()})
            return
        from mlflow.entities import RunTag

        rows = [RunTag(k, _param_value(v)) for k, v in tags.items()]
        with self._guard("set tags"):
            self._client().log_batch(self._id(), tags=rows)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy one file into the run's artifacts (under `artifact_path`)."""
        if self.journal is not None:
            with self._guard(f"keep artifact {path}"):
                self.journal.artifact(Path(path), artifact_path)
        elif self.active:
            with self._guard(f"log artifact {path}"):
                self._client().log_artifact(self._id(), str(path), artifact_path)

    def log_artifact_dir(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a folder's contents (e.g. a bundle or a report) into the run's artifacts under `artifact_path`."""
        if self.journal is not None:
            with self._guard(f"keep artifacts from {path}"):
                self.journal.artifact_dir(Path(path), artifact_path)
        elif self.active:
            with self._guard(f"log artifacts from {path}"):
                self._client().log_artifacts(self._id(), str(path), artifact_path)

    def log_json(self, name: str, document: Any, artifact_path: str | None = None) -> None:
        """Write `document` as the JSON artifact `name`."""
        if not self.active:
            return
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / name
            file.write_text(json.dumps(document, indent=1, default=str))
            self.log_artifact(file, artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED, FAILED or KILLED (a journal is written, then recorded by a background process)."""
        if self.journal is not None:
            with self._guard("write the run's journal"):
                self.journal.write(status)
                run_journal.start_worker(self.journal.db)
            self.journal = None  # ended: later calls are no-ops
        elif self.active:
            with self._guard("end the run"):
                self._client().set_terminated(self._id(), status)


def start_run(
    kind: str,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    enabled: bool = True,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run and log the kind, params, data, environment and command line; end it with `Run.end`.

    Prefer `tracked_run`, which ends the run (FAILED on an exception) by itself.
    """
    if not tracking_enabled(enabled):
        return Run()
    run_tags = {
        TAG_KIND: kind,
        TAG_COMMAND: shlex.join(sys.argv),
        "mlflow.source.name": sys.argv[0] or "python",
        **_process_tags(),
    }
    if data:
        run_tags[TAG_FINGERPRINT] = str(data.get("fingerprint", ""))
        run_tags[TAG_DATA_PATH] = str(data.get("path", ""))
    all_tags = {k: _param_value(v) for k, v in {**run_tags, **(tags or {})}.items()}
    marked: list[str] = []
    try:
        db = _sqlite_file(tracking_uri())
        if db is not None and not run_journal.synchronous():  # recorded after the command, in the background
            journal = run_journal.Journal(db.resolve(), all_tags, name)
            run = Run(run_id=journal.run_id, journal=journal)
        else:
            store = _Store.open()
            marked = mark_abandoned_runs(store)
            created = store.client.create_run(store.experiment_id, run_name=name, tags=all_tags)
            run = Run(run_id=created.info.run_id, store=store)
    except Exception as err:
        return Run(problems=[_warn(f"tracking: could not start a {kind} run at {tracking_uri()}: {err}")])
    if marked:
        shown = ", ".join(marked[:5]) + (" ..." if len(marked) > 5 else "")
        run.problems.append(f"tracking: marked {len(marked)} run(s) KILLED whose process had died: {shown}")
    environment = {"version": package_versions(), "machine": machine()}
    recorded_data = {k: v for k, v in (data or {}).items() if k != "items"}
    run.log_params(
        {"kind": kind, **(params or {}), **({"data": recorded_data} if recorded_data else {}), **environment}
    )
    run.log_json(COMMAND_ARTIFACT, {"argv": sys.argv, "cwd": os.getcwd(), "python": sys.executable})
    if data and "items" in data:
        run.log_json(ITEMS_ARTIFACT, {"modality": data.get("modality"), "items": data["items"]})
    if run.journal is not None:  # a process killed before the run ends leaves a journal that says so
        with run._guard("write the run's journal"):
            run.journal.write("RUNNING")
    return run


def _process_tags() -> dict[str, str]:
    """This machine, process id and process start time: a pid alone may be reused by another process."""
    return {
        TAG_HOST: socket.gethostname(),
        TAG_PID: str(os.getpid()),
        TAG_PROCESS_STARTED: repr(psutil.Process().create_time()),
    }


def _process_alive(pid: int, started: float) -> bool:
    """Whether the process that started a run still runs (the same pid *and* start time); unsure counts as alive."""
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # e.g. access denied: leave the run alone


def mark_abandoned_runs(store: _Store) -> list[str]:
    """Mark KILLED the runs left RUNNING by a process of this machine that is gone (kill -9, a power cut), so they
    do not stay RUNNING forever; returns their ids. Runs of other machines, of live processes, or without the
    process tags (older headstart, other tools) are never touched."""
    host = socket.gethostname()
    where = f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = {_quote(host)}"
    marked: list[str] = []
    try:
        runs = store.client.search_runs([store.experiment_id], where, max_results=ABANDONED_SCAN)
        for found in runs:
            tags = found.data.tags
            try:
                pid, started = int(tags[TAG_PID]), float(tags[TAG_PROCESS_STARTED])
            except (KeyError, ValueError):
                continue
            if pid == os.getpid() or _process_alive(pid, started):
                continue
            when = datetime.now(UTC).isoformat(timespec="seconds")
            store.client.set_tag(
                found.info.run_id, TAG_ENDED, f"marked KILLED at {when}: process {pid} on {host} had died"
            )
            store.client.set_terminated(found.info.run_id, "KILLED")
            marked.append(found.info.run_id)
    except Exception as err:  # tracking never fails the work: a store that cannot be searched is only warned about
        _warn(f"tracking: could not check for runs left RUNNING by killed processes: {err}")
    return marked


@contextmanager
def tracked_run(
    kind: str,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    enabled: bool = True,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[Run]:
    """A run around a block: started with `start_run`, FINISHED at the end, FAILED/KILLED on an exception."""
    run = start_run(kind, params, data, enabled=enabled, name=name, tags=tags)
    try:
        yield run
    except KeyboardInterrupt:
        run.end("KILLED")
        raise
    except BaseException:
        run.end("FAILED")
        raise
    run.end("FINISHED")


def record_fit(run: Run, config: Any, result: Any, manifest: Manifest) -> None:
    """Log what a finished `fit` produced: metrics, per-epoch curves, energy, the bundle and its config."""
    if not run.active:
        return
    try:
        test = manifest.test_metrics
        metrics: dict[str, Any] = {f"test_{k}": v for k, v in result.metrics.items()}
        per_label = test.get("per_class") or test.get("per_label") or {}  # classes, or tags (multi-label)
        metrics.update({f"test_f1.{label}": m["f1"] for label, m in per_label.items()})
        metrics.update({f"time.{k}": v for k, v in result.timings.items()})
        metrics.update({f"count.{k}": v for k, v in result.counts.items()})
        energy = manifest.energy or {}
        metrics.update({f"energy.{k}": v for k, v in flatten(energy).items()})
        run.log_metrics(metrics)
        for row in manifest.history:
            epoch = int(row.get("epoch", 0))
            run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        backbone = manifest.backbone.name if manifest.backbone else ""
        run.set_tags(
            {
                TAG_BUNDLE: str(result.bundle),
                TAG_STRATEGY: result.strategy,
                TAG_BACKBONE: backbone,
                **{f"headstart.energy.{k}": v for k, v in flatten(energy).items() if isinstance(v, str | bool)},
            }
        )
        head = manifest.head.to_dict()  # what was chosen (C by cross-validation, ...), beside what was asked
        run.log_params({f"chosen.{k}": v for k, v in head.items() if isinstance(v, str | int | float | bool)})
        run.log_json(CONFIG_ARTIFACT, config.model_dump())
        run.log_artifact_dir(result.bundle, BUNDLE_ARTIFACT)
    except Exception as err:
        run.problems.append(_warn(f"tracking: could not record the fit in run {run.run_id}: {err}"))


@dataclass
class RunRecord:
    """One run as `headstart runs` shows it; `artifacts` is filled only by `get_run`."""

    run_id: str
    name: str
    kind: str
    status: str
    started: str
    ended: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifact_uri: str
    artifacts: list[str] = field(default_factory=list)

    def _tag_or_param(self, tag: str, param: str) -> str:
        """The run's tag, else the parameter of the same meaning (runs without the tag), else ""."""
        return self.tags.get(tag) or self.params.get(param, "")

    @property
    def data_fingerprint(self) -> str:
        return self._tag_or_param(TAG_FINGERPRINT, "data.fingerprint")

    @property
    def data_path(self) -> str:
        return self._tag_or_param(TAG_DATA_PATH, "data.path")

    @property
    def strategy(self) -> str:
        return self._tag_or_param(TAG_STRATEGY, "strategy")

    @property
    def backbone(self) -> str:
        return self._tag_or_param(TAG_BACKBONE, "backbone")

    @property
    def promoted(self) -> bool:
        return self.tags.get(TAG_PROMOTED, "").lower() == "true"

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "started": self.started,
            "strategy": self.strategy,
            "backbone": self.backbone,
            "data_path": self.data_path,
            "data_fingerprint": self.data_fingerprint,
            "accuracy": self.metrics.get("test_accuracy"),
            "macro_f1": self.metrics.get("test_macro_f1"),
            "promoted": self.promoted,
            "bundle": self.tags.get(TAG_BUNDLE),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "name": self.name,
            "ended": self.ended,
            "params": self.params,
            "metrics": self.metrics,
            "tags": self.tags,
            "artifact_uri": self.artifact_uri,
            "artifacts": self.artifacts,
        }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _record(run: Any) -> RunRecord:
    tags = dict(run.data.tags)
    return RunRecord(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        kind=tags.get(TAG_KIND, ""),
        status=run.info.status,
        started=_iso(run.info.start_time) or "",
        ended=_iso(run.info.end_time),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
        artifact_uri=run.info.artifact_uri,
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search_runs(
    *,
    kind: str | None = None,
    strategy: str | None = None,
    data_paths: Sequence[str] = (),
    fingerprints: Sequence[str] = (),
    limit: int = 20,
) -> list[RunRecord]:
    """Runs of the store, newest first; a run matches any of `data_paths` / `fingerprints` (prefixes allowed)."""
    if not store_exists():
        return []
    flush_pending()
    store = _Store.open()
    base = []
    if kind:
        base.append(f"tags.`{TAG_KIND}` = {_quote(kind)}")
    if strategy:
        base.append(f"tags.`{TAG_STRATEGY}` = {_quote(strategy)}")
    alternatives = [f"tags.`{TAG_DATA_PATH}` = {_quote(p)}" for p in data_paths]
    alternatives += [f"tags.`{TAG_FINGERPRINT}` LIKE {_quote(f + '%')}" for f in fingerprints]
    found: dict[str, Any] = {}
    for extra in alternatives or [""]:  # "": no alternative, the base conditions alone
        where = " and ".join([*base, *([extra] if extra else [])])
        for run in store.client.search_runs(
            [store.experiment_id], where, max_results=limit, order_by=["attributes.start_time DESC"]
        ):
            found[run.info.run_id] = run
    ordered = sorted(found.values(), key=lambda r: r.info.start_time or 0, reverse=True)
    return [_record(r) for r in ordered[:limit]]


def find_run(run_id: str) -> RunRecord | None:
    """The run with this id or unique id prefix, with its artifact list; None when there is none."""
    from headstart.errors import UsageError

    if not store_exists():
        return None
    flush_pending()
    store = _Store.open()
    try:
        run = store.client.get_run(run_id)
    except Exception:
        matches = [
            r
            for r in store.client.search_runs([store.experiment_id], max_results=5000)
            if r.info.run_id.startswith(run_id)
        ]
        if len(matches) > 1:
            raise UsageError(
                f"run id prefix {run_id!r} matches {len(matches)} runs",
                expected="a unique prefix or the full run id",
                fix="use more characters of the id (see `headstart runs`)",
            ) from None
        if not matches:
            return None
        run = matches[0]
    record = _record(run)
    record.artifacts = _list_artifacts(store, record.run_id)
    return record


def _list_artifacts(store: _Store, run_id: str, path: str | None = None) -> list[str]:
    files: list[str] = []
    try:
        for info in store.client.list_artifacts(run_id, path):
            files.extend(_list_artifacts(store, run_id, info.path) if info.is_dir else [info.path])
    except Exception as err:
        _warn(f"tracking: could not list the artifacts of run {run_id}: {err}")
    return files


def load_json_artifact(run_id: str, name: str) -> Any:
    """A JSON artifact of a run, or None when the run has no such artifact."""
    flush_pending()
    store = _Store.open()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = store.client.download_artifacts(run_id, name, tmp)
        except Exception:
            return None
        return json.loads(Path(local).read_text())


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> list[str]:
    """Tag an existing run; returns the problems (empty when it worked)."""
    if not tracking_enabled():
        return []
    try:
        problems = flush_pending()
        run = Run(run_id=run_id, store=_Store.open(), problems=problems)
    except Exception as err:
        return [_warn(f"tracking: could not open the store at {tracking_uri()}: {err}")]
    run.set_tags(tags)
    return run.problems


def register_alias(name: str, source: str, run_id: str | None, alias: str) -> tuple[int | None, list[str]]:
    """Register `source` as a new version of model `name` and point `alias` at it; (version, problems)."""
    if not tracking_enabled():
        return None, []
    try:
        flush_pending()
        store = _Store.open()
        client = store.client
        if not client.search_registered_models(f"name = {_quote(name)}"):
            client.create_registered_model(name, description="headstart bundles; alias `production` = promoted")
        version = client.create_model_version(name, source=source, run_id=run_id)
        client.set_registered_model_alias(name, alias, version.version)
        return int(version.version), []
    except Exception as err:
        return None, [_warn(f"tracking: could not register model {name!r} with alias {alias!r}: {err}")]


def bundle_artifact_uri(record: RunRecord) -> str:
    """Where a fit run keeps its bundle artifact."""
    return f"{record.artifact_uri.rstrip('/')}/{BUNDLE_ARTIFACT}"
