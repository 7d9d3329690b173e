"""The text tower of an image-text dual encoder (CLIP, SigLIP): label prompts into the joint embedding space.

`zero-shot` on images embeds each label's prompts with it and matches them to the image features of the
same model (`TransformerImage` pools a dual encoder into the joint space). Labels are few, so the tower
runs eagerly in torch; the temperature is the model's own (1 / exp(logit_scale)).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from headstart.backbones.hf_source import HfSource
from headstart.errors import BackboneError

PROMPT_TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.")  # --prompt-template's default


class TextEncoder:
    """Tokenizer + text tower + projection of a dual encoder; `embed` gives L2-normalised rows."""

    def __init__(self, model: Any, resolved: HfSource) -> None:
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(resolved.source, **resolved.load_kwargs())
        except (OSError, ValueError) as exc:
            raise BackboneError(
                f"{resolved.source!r} is an image-text model without a usable tokenizer ({exc})",
                expected="the tokenizer files beside the model (tokenizer.save_pretrained(folder))",
            ) from exc
        if not hasattr(model, "get_text_features"):
            raise BackboneError(f"{resolved.source!r} has no text tower", expected="a CLIP- or SigLIP-style model")
        self._model: Any = model
        self.model_type = str(resolved.config.get("model_type", ""))
        self.padding = "max_length" if self.model_type.startswith("siglip") else "longest"
        text_config = getattr(model.config, "text_config", None)
        self.max_length = int(getattr(text_config, "max_position_embeddings", 77) or 77)
        scale = getattr(model, "logit_scale", None)
        self.temperature = 1.0 / math.exp(float(scale.detach().reshape(-1)[0])) if scale is not None else 0.01

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), joint dim) L2-normalised text embeddings."""
        enc = self.tokenizer(
            list(texts), padding=self.padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            out: Any = self._model.get_text_features(**{k: v for k, v in enc.items() if k != "token_type_ids"})
        feats = out.pooler_output if hasattr(out, "pooler_output") else out
        rows = feats.float().numpy().astype(np.float64)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    def describe(self) -> dict[str, Any]:
        """What the label embeddings depend on (for the manifest)."""
        vocab = json.dumps(sorted(self.tokenizer.get_vocab().items()))
        return {
            "model_type": self.model_type,
            "tokenizer": type(self.tokenizer).__name__,
            "tokenizer_sha256": hashlib.sha256(vocab.encode()).hexdigest(),
            "padding": self.padding,
            "temperature": self.temperature,
        }


def prompt_templates(given: Sequence[str] | None) -> tuple[str, ...]:
    """The templates a fit uses: the user's (`--prompt-template`, checked by `config.check_prompt_template`), else
    `PROMPT_TEMPLATES`."""
    return tuple(given) if given else PROMPT_TEMPLATES


def label_prompts(text: str, templates: Sequence[str] = PROMPT_TEMPLATES, *, is_description: bool = False) -> list[str]:
    """The prompts a label's text is embedded through (a user's description is used as written)."""
    return [text] if is_description else [t.format(text) for t in templates]
