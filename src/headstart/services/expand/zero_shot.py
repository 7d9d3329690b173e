"""Text zero-shot bundles: new classes become prototypes (mean normalised embeddings) beside the label texts."""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.errors import StrategyError
from headstart.features import extract_features
from headstart.services.expand.common import ExpandInputs, Expansion, l2_rows, run_options
from headstart.strategies.feature_model import FeatureHeadModel
from headstart.strategies.zero_shot import LabelSimilarityHead, ZeroShotHeadSection


def expand_zero_shot(parent: FeatureHeadModel, inputs: ExpandInputs) -> Expansion:
    """Append a prototype per new class (and fold `--update` examples into existing labels' vectors)."""
    manifest, train, labels, config = inputs.manifest, inputs.train, inputs.labels, inputs.config
    head = parent.head
    if not isinstance(head, LabelSimilarityHead):
        raise StrategyError(
            "expand cannot grow an image zero-shot bundle: its labels map onto the backbone's pretraining "
            "classes, and new examples do not fit that head",
            expected="a linear, fine-tuned or text zero-shot bundle",
            fix="fit a linear model on old + new data with `headstart fit DATA --strategy linear`",
        )
    assert parent.backbone is not None and train.labels is not None
    x = extract_features(parent.backbone, train, **run_options(config))
    unit = l2_rows(x.features)
    y = np.array([train.labels[i] for i in x.kept])
    old_labels = list(manifest.labels)
    vectors = [np.asarray(v, dtype=np.float64) for v in head.label_vectors]
    label_texts = dict(head.label_texts)
    prototypes: dict[str, Any] = dict(ZeroShotHeadSection.of(manifest.head).prototypes or {})
    for label in labels:
        rows = unit[y == label]
        if not len(rows):
            continue
        if label in old_labels:  # --update: a label text counts as one example beside the new ones
            i = old_labels.index(label)
            entry = prototypes.get(label) or {}  # none yet: the label text's embedding alone
            previous, with_text = int(entry.get("n", 0)), bool(entry.get("with_label_text", True))
            vectors[i] = vectors[i] * (previous + int(with_text)) + rows.sum(axis=0)
            prototypes[label] = {"n": previous + len(rows), "with_label_text": with_text}
        else:
            vectors.append(rows.mean(axis=0))
            label_texts[label] = f"(prototype of {len(rows)} example(s))"
            prototypes[label] = {"n": len(rows), "with_label_text": False}
    new_head = LabelSimilarityHead(l2_rows(np.stack(vectors)), label_texts, head.temperature)
    model = FeatureHeadModel(
        parent.backbone, new_head, labels, manifest.strategy.to_dict(), "zero-shot", config.threads, config.batch_size
    )
    notes = [
        "zero-shot: new classes are prototypes (mean normalised embedding of their examples); old label "
        "embeddings are unchanged. Prototypes of examples can sit closer to texts than label names do, so "
        "check old-class accuracy with `headstart evaluate`"
    ]
    return Expansion(
        model=model,
        memory=None,
        method="zero-shot label prototypes appended",
        n_train=len(x.kept),
        notes=notes,
        skipped=x.skipped,
        head_extra={"prototypes": prototypes},
    )
