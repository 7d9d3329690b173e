"""Linear bundles: refit the head, with the parent's C, on the stored features of the old items + the new data."""

from __future__ import annotations

import numpy as np

from headstart.features import extract_features
from headstart.manifest import Manifest
from headstart.services.expand.common import (
    ExpandInputs,
    Expansion,
    forgetting_checks,
    no_memory_error,
    reorder_rows,
    run_options,
)
from headstart.strategies.centroid import CentroidHead, centroid_note, wants_centroids
from headstart.strategies.feature_model import FeatureHeadModel, LinearHeadSection
from headstart.strategies.linear import MIN_PER_CLASS_FOR_CV, HeadKind, LinearHead, LinearStrategy
from headstart.strategies.memory import feature_memory, memory_bytes, merge_memories


def expand_linear(parent: FeatureHeadModel, inputs: ExpandInputs) -> Expansion:
    """Refit the head, with the parent's C, on the stored features of the old items + the new items'."""
    manifest, memory, train, labels, config = inputs.manifest, inputs.memory, inputs.train, inputs.labels, inputs.config
    per_class = inputs.per_class
    if memory is None or memory.kind != "features":
        raise no_memory_error(manifest, degraded=False)
    assert parent.backbone is not None and train.labels is not None
    x = extract_features(parent.backbone, train, **run_options(config))
    y_new = np.array([train.labels[i] for i in x.kept])
    old_labels = list(manifest.labels)
    y_old = np.array([old_labels[t] for t in memory.targets])
    memory_features = memory.feature_matrix()
    X = np.concatenate([memory_features, x.features])
    y = np.concatenate([y_old, y_new])
    C = parent_C(manifest)
    kind: HeadKind = "svm" if manifest.head.kind == "svm" else "logreg"  # a classification head is one of the two
    # the rule `linear` fits by: cosine centroids when a class has as few items as the backbone's limit (speakers
    # enrolled with 1-3 clips), so expanding gives the head a fit on the same data would
    centroids = wants_centroids(parent.backbone, y)
    head = CentroidHead().fit(X, y) if centroids else LinearHead(kind=kind, C=C, seed=config.seed).fit(X, y)
    reorder_rows(head, labels)
    model = LinearStrategy()._model(parent.backbone, head, config.threads, config.batch_size)  # type: ignore[arg-type]

    target_of = {label: i for i, label in enumerate(labels)}
    cap = memory_bytes(config.memory_mb) or memory.max_bytes
    fresh = feature_memory(x.features, y_new, labels, per_class, cap)
    new_memory = merge_memories(memory, fresh, per_class, cap)
    before = parent.head.predict_proba(memory_features).argmax(axis=1)
    after = head.predict_proba(memory_features).argmax(axis=1)
    checks = forgetting_checks(before, after, memory.targets)
    y_targets = np.array([target_of[v] for v in y])
    kept = "all the old training items" if memory.complete else f"{len(memory)} stored exemplar(s) of the old classes"
    notes = [f"linear head refit on {kept} and {len(x.kept)} new item(s)"]
    if centroids:
        notes.append(centroid_note(parent.backbone, y))
    elif C is not None:
        notes.append(f"C={C:g} reused from the parent (no new cross-validated search)")
    return Expansion(
        model=model,
        memory=new_memory,
        method="linear refit on stored exemplar features + new data",
        n_train=len(y_targets),
        notes=notes,
        skipped=x.skipped,
        checks=checks,
        head_extra={} if centroids else {"C_source": "parent" if C is not None else "cross-validation"},
    )


def parent_C(manifest: Manifest) -> float | None:
    """The parent's regularisation C, when it was fixed by the user or chosen by cross-validation, else None.

    Reused because the old classes' data, usually most of the refit's, is what it was tuned on, while a new
    search fits 3 folds × 3 values on all of it (most of a head fit's time). A parent with a class
    too small for cross-validation took C=1 by default rather than by search, so then the search runs again.
    """
    fixed = (manifest.config or {}).get("C")
    if fixed:
        return float(fixed)
    counts = (manifest.head.memory or {}).get("class_counts") or {}
    chosen = LinearHeadSection.of(manifest.head).C
    if not chosen or not counts or min(counts.values()) < MIN_PER_CLASS_FOR_CV:
        return None
    return float(chosen)
