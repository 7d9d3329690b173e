"""Reproducing a tracked fit: what changed in the data, and how the new metrics compare with the recorded ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import DataError

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
