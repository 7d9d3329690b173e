"""A text prior for `linear` at very few labels: an image-text backbone's label prompts as one extra example each.

With a CLIP or SigLIP backbone the image features live in the same space as the text tower's embeddings, so each
class's prompt embedding (the zero-shot classifier's row) is a sensible extra training example: at one to
`MAX_PER_CLASS` labelled pictures per class it pulls the logistic regression towards zero-shot, and with more
pictures it weighs less and less (cross-modal adaptation, Lin et al., CVPR 2023). Other backbones: no prior.

The prior helps only when the text tower is aligned with the image features *for these labels*: names the text
tower does not know ("class_3"), or towers that were never trained together, make the prompt rows misleading
examples. So it is added only when the prompts themselves classify the labelled items better than chance (a
one-sided binomial test at `ALIGNMENT_P`); otherwise linear says so in a note and fits without it.
bench/text_prior.py measures both cases (BENCHMARKS.md, "text prior").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.backbones.base import Backbone

MAX_PER_CLASS = 4  # the prior is considered when the rarest class has at most this many labelled items
ALIGNMENT_P = 0.1  # ... and used when the prompts' accuracy on those items is less likely than this by chance


@dataclass(frozen=True)
class TextPrior:
    """One pseudo-example per class: its prompts' mean embedding, scaled to the image features' mean norm; and
    how well those prompts classify the labelled items (whether the text tower is aligned with them)."""

    rows: np.ndarray  # (n_classes, dim)
    labels: np.ndarray  # (n_classes,)
    prompts: dict[str, list[str]]
    templates: tuple[str, ...]
    correct: int  # labelled items the prompts alone classify right (zero-shot on the training items)
    n_items: int
    p_value: float  # the chance of at least `correct` right answers by guessing uniformly among the classes

    @property
    def aligned(self) -> bool:
        """Whether the prompts classify the labelled items better than chance (so the prior is used)."""
        return self.p_value < ALIGNMENT_P

    def extend(self, features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The training set with the pseudo-examples appended."""
        return np.concatenate([features, self.rows.astype(features.dtype)]), np.concatenate([y, self.labels])

    def manifest(self) -> dict[str, Any]:
        return {
            "kind": "label prompts as one example per class",
            "max_per_class": MAX_PER_CLASS,
            "used": self.aligned,
            "prompt_accuracy_on_labelled": f"{self.correct}/{self.n_items}",
            "p_value": round(self.p_value, 6),
            "prompt_templates": list(self.templates),
            "prompts": self.prompts,
        }

    def note(self) -> str:
        score = (
            f"the label prompts classify {self.correct} of the {self.n_items} labelled item(s) right "
            f"(chance 1/{len(self.labels)}, p={self.p_value:.2g})"
        )
        if self.aligned:
            return (
                f"linear: {len(self.labels)} label prompt embedding(s) of the image-text backbone added as one "
                f"training example per class (text prior; at most {MAX_PER_CLASS} labelled items in the rarest "
                f"class; {score})"
            )
        return (
            f"linear: text prior not used: {score}, so the text tower does not look aligned with these labels "
            "(name the classes in words the model knows, or give more labels)"
        )


def unused_prompts_note() -> str:
    """Why linear did not use the prompt templates it was given."""
    return (
        "linear: --prompt-template is used only by the text prior (an image-text backbone such as CLIP or SigLIP, "
        f"at most {MAX_PER_CLASS} labelled items in the rarest class); it was not used here"
    )


def text_prior(
    backbone: Backbone, features: np.ndarray, y: np.ndarray, templates: Sequence[str] | None = None
) -> TextPrior | None:
    """The prior for these few labels (check `.aligned` before using it), or None (not an image-text backbone, or
    enough labels without it); `templates`: the prompt templates (None: `hf_clip.PROMPT_TEMPLATES`)."""
    if getattr(backbone, "text_encoder", None) is None or not len(y):  # checked without importing torch
        return None
    if min(Counter(y.tolist()).values()) > MAX_PER_CLASS:
        return None
    from headstart.backbones.hf_clip import label_prompts, prompt_templates
    from headstart.strategies.zero_shot import image_text_label_vectors, normalize_name, text_encoder_of

    encoder = text_encoder_of(backbone)
    if encoder is None:
        return None
    classes = sorted({str(c) for c in y.tolist()})
    chosen = prompt_templates(templates)
    prompts = {c: label_prompts(normalize_name(c), chosen) for c in classes}
    vectors = image_text_label_vectors(encoder, [prompts[c] for c in classes])
    x = np.asarray(features, dtype=np.float64)
    scale = float(np.mean(np.linalg.norm(x, axis=1)))
    guessed = np.array(classes)[np.argmax(x @ vectors.T, axis=1)]  # zero-shot on the labelled items
    correct = int(np.sum(guessed == np.array([str(c) for c in y.tolist()])))
    from scipy.stats import binomtest

    p_value = float(binomtest(correct, len(y), 1.0 / len(classes), alternative="greater").pvalue)
    return TextPrior(
        rows=vectors * scale,
        labels=np.array(classes, dtype=y.dtype),
        prompts=prompts,
        templates=chosen,
        correct=correct,
        n_items=len(y),
        p_value=p_value,
    )
