"""A text prior for `linear` at very few labels: an image-text backbone's label prompts as one extra example each.

With a CLIP or SigLIP backbone the image features live in the same space as the text tower's embeddings, so each
class's prompt embedding (the zero-shot classifier's row) is a sensible extra training example: at one to
`MAX_PER_CLASS` labelled pictures per class it pulls the logistic regression towards zero-shot, and with more
pictures it weighs less and less (cross-modal adaptation, Lin et al., CVPR 2023). Other backbones: no prior.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.backbones.base import Backbone

MAX_PER_CLASS = 4  # the prior is added when the rarest class has at most this many labelled items


@dataclass(frozen=True)
class TextPrior:
    """One pseudo-example per class: its prompts' mean embedding, scaled to the image features' mean norm."""

    rows: np.ndarray  # (n_classes, dim)
    labels: np.ndarray  # (n_classes,)
    prompts: dict[str, list[str]]
    templates: tuple[str, ...]

    def extend(self, features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The training set with the pseudo-examples appended."""
        return np.concatenate([features, self.rows.astype(features.dtype)]), np.concatenate([y, self.labels])

    def manifest(self) -> dict[str, Any]:
        return {
            "kind": "label prompts as one example per class",
            "max_per_class": MAX_PER_CLASS,
            "prompt_templates": list(self.templates),
            "prompts": self.prompts,
        }

    def note(self) -> str:
        return (
            f"linear: {len(self.labels)} label prompt embedding(s) of the image-text backbone added as one training "
            f"example per class (text prior; at most {MAX_PER_CLASS} labelled items in the rarest class)"
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
    """The prior for these few labels, or None (not an image-text backbone, or enough labels without it);
    `templates`: the prompt templates (None: `hf_clip.PROMPT_TEMPLATES`)."""
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
    scale = float(np.mean(np.linalg.norm(np.asarray(features, dtype=np.float64), axis=1)))
    return TextPrior(rows=vectors * scale, labels=np.array(classes, dtype=y.dtype), prompts=prompts, templates=chosen)
