"""`reproduce`: re-run a tracked fit; what changed in the data, and how the new metrics compare with the old."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart import tracking
from headstart.commands.fit import fit
from headstart.commands.reading import data_options
from headstart.commands.runs import run_details
from headstart.config import EngineOptions, FitConfig, data_path, validated
from headstart.data import load_dataset
from headstart.errors import DataError, UsageError
from headstart.provenance import machine, package_versions

COMPARED = ("accuracy", "macro_f1", "ece", "n")
SHOWN_ITEMS = 10


@dataclass
class DataChanges:
    """Items added, removed, modified (content), relabelled (label or split; for image folders a file moved to
    another class folder, shown as `old id -> new id`) or renamed (same content and label, new id) since a run
    recorded the data."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified or self.relabelled or self.renamed)

    def describe(self) -> str:
        parts = []
        for name in ("modified", "added", "removed", "relabelled", "renamed"):
            ids: list[str] = getattr(self, name)
            if ids:
                more = f" and {len(ids) - SHOWN_ITEMS} more" if len(ids) > SHOWN_ITEMS else ""
                parts.append(f"{len(ids)} {name} ({', '.join(ids[:SHOWN_ITEMS])}{more})")
        return "; ".join(parts) or "no item differs, but the fingerprint does (modality changed?)"


def diff_items(recorded: dict[str, list[Any]], current: dict[str, list[Any]]) -> DataChanges:
    """Compare `{id: [sha256, label, split]}` maps (as written by `tracking.data_record`)."""
    changes = DataChanges(
        added=sorted(set(current) - set(recorded)),
        removed=sorted(set(recorded) - set(current)),
    )
    for item in sorted(set(recorded) & set(current)):
        old, new = recorded[item], current[item]
        if old[0] != new[0]:
            changes.modified.append(item)
        elif list(old[1:]) != list(new[1:]):
            changes.relabelled.append(item)
    _pair_moves(recorded, current, changes)
    return changes


def _pair_moves(recorded: dict[str, list[Any]], current: dict[str, list[Any]], changes: DataChanges) -> None:
    """A removed and an added item with the same content are one item that moved: a file taken from one class
    folder to another is relabelled, not one removal and one addition."""
    removed_by_digest: dict[str, list[str]] = {}
    for item in changes.removed:
        removed_by_digest.setdefault(recorded[item][0], []).append(item)
    still_added = []
    for item in changes.added:
        candidates = removed_by_digest.get(current[item][0])
        if not candidates:
            still_added.append(item)
            continue
        old = candidates.pop(0)
        changes.removed.remove(old)
        same_label = list(recorded[old][1:]) == list(current[item][1:])
        (changes.renamed if same_label else changes.relabelled).append(f"{old} -> {item}")
    changes.added = still_added


def data_changed_error(run_id: str, path: str, recorded: str, current: str, changes: DataChanges | None) -> DataError:
    """The refusal when the data no longer matches the run's fingerprint, naming the changed items."""
    detail = changes.describe() if changes is not None else "the run recorded no per-item digests to compare"
    return DataError(
        f"the data at {path!r} changed since run {run_id}: {detail}",
        expected=f"the data the run was trained on (fingerprint {recorded[:12]}, now {current[:12]})",
        fix="restore those items (e.g. from version control or a backup), or train anew with `headstart fit`",
    )


@dataclass
class ReproduceResult:
    """What `reproduce` returns: the new fit, and how its metrics and environment compare with the run's."""

    run_id: str
    new_run_id: str | None
    bundle: Path
    data: str
    matches: bool
    metrics: dict[str, dict[str, float | None]]
    versions: dict[str, dict[str, str | None]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "new_run_id": self.new_run_id,
            "bundle": str(self.bundle),
            "data": self.data,
            "matches": self.matches,
            "metrics": self.metrics,
            "versions_differ": self.versions,
            "notes": self.notes,
        }


def compare_metrics(recorded: dict[str, float], new: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per metric: recorded (`test_<name>` in the run), new, and new - recorded."""
    rows: dict[str, dict[str, float | None]] = {}
    names = [*COMPARED, *sorted(k for k in new if k not in COMPARED)]
    for name in names:
        old = recorded.get(f"test_{name}")
        value = new.get(name)
        if old is None and value is None:
            continue
        difference = None if old is None or value is None else float(value) - float(old)
        rows[name] = {"recorded": old, "new": None if value is None else float(value), "difference": difference}
    return rows


def compare_versions(recorded_params: dict[str, str], current: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """Packages whose version differs from the one the run recorded (`version.<name>` params)."""
    recorded = {k.removeprefix("version."): v for k, v in recorded_params.items() if k.startswith("version.")}
    return {
        name: {"recorded": recorded.get(name), "current": current.get(name)}
        for name in sorted(set(recorded) | set(current))
        if recorded.get(name) != current.get(name)
    }


def reproduce(
    run_id: str, *, out: str | Path | None = None, data: str | Path | None = None, progress: bool = True
) -> ReproduceResult:
    """Re-run a tracked fit with its recorded config on the same data and compare the metrics.

    Refuses with a DataError naming the added/removed/modified items when the data's fingerprint changed.
    """
    record = run_details(run_id)
    if record.kind != "fit":
        raise UsageError(
            f"run {record.run_id} is a {record.kind or 'non-headstart'} run",
            expected="the id of a `fit` run",
            fix="pick a run whose kind is fit in `headstart runs`",
        )
    recorded_config = tracking.load_json_artifact(record.run_id, tracking.CONFIG_ARTIFACT)
    if not recorded_config:
        raise UsageError(
            f"run {record.run_id} has no {tracking.CONFIG_ARTIFACT} artifact to reproduce from",
            fix="the run was recorded incompletely: fit again",
        )
    # where the run executed (local or a Ray cluster) does not change its result: reproduce here
    placement = set(EngineOptions.model_fields)
    known = {k: v for k, v in recorded_config.items() if k in FitConfig.model_fields and k not in placement}
    config: FitConfig = validated(FitConfig, **known)
    source = str(data or record.data_path)
    dataset = load_dataset(source, **data_options(config))  # as fit read it: same task, target and separator
    current = tracking.data_record(source, dataset)
    if current["fingerprint"] != record.data_fingerprint:
        saved = tracking.load_json_artifact(record.run_id, tracking.ITEMS_ARTIFACT)
        changes = diff_items(saved["items"], current["items"]) if saved else None
        raise data_changed_error(record.run_id, source, record.data_fingerprint, current["fingerprint"], changes)
    if out is None:
        bundle = record.tags.get(tracking.TAG_BUNDLE)
        out = (
            Path(bundle).with_name(f"{Path(bundle).name}-reproduce-{record.run_id[:8]}")
            if bundle
            else Path(tempfile.mkdtemp(prefix="headstart-reproduce-")) / "model"
        )
    again = {**config.model_dump(), "out": str(out), "progress": progress, "resume": False}
    new = fit(data_path(source, "fit"), validated(FitConfig, **again))
    if new.run_id:
        new.notes.extend(tracking.set_run_tags(new.run_id, {"headstart.reproduces": record.run_id}))
    metrics = compare_metrics(record.metrics, new.metrics)
    matches = bool(metrics) and all(row["difference"] == 0 for row in metrics.values())
    versions = compare_versions(record.params, package_versions())
    notes = list(new.notes)
    if versions:
        changed = ", ".join(f"{k} {v['recorded']} -> {v['current']}" for k, v in versions.items())
        notes.append(f"package versions differ from the run's: {changed}")
    if record.params.get("machine.cpu") not in (None, machine()["cpu"]):
        notes.append(f"the run was recorded on another CPU: {record.params['machine.cpu']}")
    return ReproduceResult(
        run_id=record.run_id,
        new_run_id=new.run_id,
        bundle=new.bundle,
        data=source,
        matches=matches,
        metrics=metrics,
        versions=versions,
        notes=notes,
    )
