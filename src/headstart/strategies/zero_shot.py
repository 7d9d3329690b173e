"""The `zero-shot` strategy: predict the user's labels without training on any example.

Images with an image-text backbone (`hf:` CLIP or SigLIP): each label's prompts ("a photo of a {label}.", or
its description as written) embedded by the model's text tower and matched to the image embeddings, softmax
at the model's own temperature. Other image backbones: their own pretraining head (e.g. ImageNet-1k). Each user
label is mapped to at most `TOP_M` source classes — exact name matches first, else whole-word substring
matches and text-embedding neighbours (cosine >= `MATCH_THRESHOLD` with the text backbone, `minilm-l6` by
default) ranked by similarity. A label's probability is the softmax mass of its source classes (a class claimed
by k labels gives each 1/k), renormalised over the labels. Labels without a match get no mass and are reported.

Texts: cosine similarity between each text's embedding and each label's embedding (its name, or a
description from a YAML/JSON file), softmax with temperature `TEMPERATURE`.

Multi-label data: each tag is scored on its own (images: its source classes' softmax mass, not renormalised;
texts: sigmoid((cosine - `CENTRE`) / `TEMPERATURE`)) and the per-tag thresholds are tuned on the labelled
training items; nothing else is learnt from them. Regression has no zero-shot form.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from scipy.special import expit, softmax
from torch import nn

from headstart.backbones import check_modality, get_backbone
from headstart.backbones.base import Backbone
from headstart.backbones.hf_clip import TextEncoder, label_prompts, prompt_templates
from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality
from headstart.errors import StrategyError, UsageError
from headstart.features import extract_features
from headstart.manifest import HeadSection
from headstart.strategies.base import FitInputs, Strategy, TrainReport, require_classes
from headstart.strategies.feature_model import FeatureHeadModel, FeatureSection
from headstart.tasks import Outputs, get_task, multi_hot, tune_thresholds

if TYPE_CHECKING:
    from headstart.manifest import Manifest

DEFAULT_TEXT_BACKBONE = "minilm-l6"
MATCH_THRESHOLD = 0.65  # minilm-l6 cosine between a label and a class name; below it names are unrelated
TOP_M = 3  # source classes per label at most
TEMPERATURE = 0.05  # text zero-shot: softmax(cosine / 0.05); a 0.1 cosine gap is a 7.4x odds ratio
CENTRE = 0.3  # multi-label text zero-shot: the cosine at which a tag's probability is 0.5 before tuning


def normalize_name(name: str) -> str:
    """Lowercase, `_`/`-` as spaces, single spaces: `"Sun_flower "` → `"sun flower"`."""
    return " ".join(re.sub(r"[_\-]+", " ", name).lower().split())


def read_descriptions(path: str | None, labels: list[str]) -> tuple[dict[str, str], list[str]]:
    """`{label: description}` from a YAML or JSON file, and notes on keys that match no label."""
    if path is None:
        return {}, []
    file = Path(path)
    fix = "pass --label-descriptions a YAML or JSON file mapping each label to a short description"
    if not file.is_file():
        raise UsageError(f"label descriptions file {path!r} not found", expected="an existing file", fix=fix)
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot parse label descriptions {path!r} ({err})", fix=fix) from err
    if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
        raise UsageError(
            f"label descriptions {path!r} is not a mapping of label to text",
            expected='e.g. {"positive": "a happy, enthusiastic review"}',
            fix=fix,
        )
    descriptions = {str(k): v.strip() for k, v in data.items() if str(k) in labels}
    unknown = sorted(str(k) for k in data if str(k) not in labels)
    notes = [f"label descriptions for unknown label(s) ignored: {', '.join(unknown)}"] if unknown else []
    return descriptions, notes


def embed_texts(
    backbone: Backbone, texts: list[str], *, threads: int | None, batch_size: int, progress: bool
) -> np.ndarray:
    """L2-normalised pooled embeddings of short strings (cached in the FeatureStore like any features)."""
    dataset = Dataset(modality="text", items=tuple(texts), ids=tuple(f"label {i}" for i in range(len(texts))))
    x = extract_features(backbone, dataset, threads=threads, batch_size=batch_size, on_bad="fail", progress=progress)
    return _l2(x.features)


def text_encoder_of(backbone: Backbone) -> TextEncoder | None:
    """The text tower of an image-text backbone (CLIP, SigLIP), else None."""
    encoder = getattr(backbone, "text_encoder", None)
    return encoder if isinstance(encoder, TextEncoder) else None


def image_text_label_vectors(encoder: TextEncoder, prompts: list[list[str]]) -> np.ndarray:
    """One unit vector per label: the mean of its prompts' embeddings (prompt ensembling), renormalised."""
    flat = [p for group in prompts for p in group]
    rows = encoder.embed(flat)
    bounds = np.cumsum([0, *(len(g) for g in prompts)])
    return _l2(np.stack([rows[bounds[i] : bounds[i + 1]].mean(axis=0) for i in range(len(prompts))]))


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------- label → source class matching


def match_labels(
    labels: list[str],
    class_names: list[str],
    label_vectors: np.ndarray,
    class_vectors: np.ndarray,
    *,
    threshold: float = MATCH_THRESHOLD,
    top_m: int = TOP_M,
) -> dict[str, list[dict[str, Any]]]:
    """For each label its source classes: `[{"index", "class", "similarity", "match"}]`, best first.

    Exact name matches (any comma-separated synonym of a class) win outright; otherwise whole-word
    substring matches and classes with cosine >= threshold compete on cosine, and the top m are kept.
    """
    sims = label_vectors @ class_vectors.T
    synonyms = [{normalize_name(s) for s in name.split(",")} | {normalize_name(name)} for name in class_names]
    result: dict[str, list[dict[str, Any]]] = {}
    for j, label in enumerate(labels):
        key = normalize_name(label)
        exact = [i for i, syn in enumerate(synonyms) if key in syn]
        if exact:
            chosen = [(i, "exact") for i in sorted(exact, key=lambda i: -sims[j, i])[:top_m]]
        else:
            word = re.compile(rf"\b{re.escape(key)}\b")
            candidates = {i: "substring" for i, syn in enumerate(synonyms) if any(word.search(s) for s in syn)}
            for i in np.flatnonzero(sims[j] >= threshold):
                candidates.setdefault(int(i), "embedding")
            chosen = sorted(candidates.items(), key=lambda c: -sims[j, c[0]])[:top_m]
        result[label] = [
            {"index": int(i), "class": class_names[i], "similarity": round(float(sims[j, i]), 4), "match": kind}
            for i, kind in chosen
        ]
    return result


def mapping_matrix(mapping: dict[str, list[dict[str, Any]]], labels: list[str], n_source: int) -> np.ndarray:
    """(n_source, n_labels) weights: 1 for each mapped class, split 1/k when k labels claim the same class."""
    m = np.zeros((n_source, len(labels)), dtype=np.float64)
    for j, label in enumerate(labels):
        for entry in mapping.get(label, []):
            m[entry["index"], j] = 1.0
    claims = m.sum(axis=1, keepdims=True)
    return np.divide(m, claims, out=np.zeros_like(m), where=claims > 0)


# ---------------------------------------------------------------- heads


class SourceMappedHead:
    """The pretraining head's softmax, summed over each label's mapped source classes and renormalised."""

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray,
        labels: list[str],
        mapping: dict[str, list[dict[str, Any]]],
        matching: dict[str, Any],
        multilabel: bool = False,
    ) -> None:
        self.multilabel = multilabel  # each label's mass on its own, not renormalised over the labels
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.labels = labels
        self.mapping = mapping
        self.matching = matching
        self.matrix = mapping_matrix(mapping, labels, len(self.bias))

    @property
    def unmatched(self) -> list[str]:
        return [label for label in self.labels if not self.mapping.get(label)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = np.asarray(X, dtype=np.float64) @ self.weight.T.astype(np.float64) + self.bias
        mass = softmax(logits, axis=1) @ self.matrix
        if self.multilabel:
            return np.asarray(mass)
        total = mass.sum(axis=1, keepdims=True)
        # Mapped classes always carry some softmax mass; the floor only guards against float underflow.
        return np.where(total > 1e-300, mass / np.maximum(total, 1e-300), 1.0 / len(self.labels))

    def torch_module(self) -> nn.Module:
        """The same computation in torch, for `headstart export`."""
        return _SourceMappedModule(self.weight, self.bias, self.matrix)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "source-mapping",
            "source_classes": len(self.bias),
            "mapping": self.mapping,
            "unmatched": self.unmatched,
            "unmatched_policy": "no probability mass (never predicted)",
            "multilabel": self.multilabel,
            **self.matching,
        }

    def state(self) -> dict[str, np.ndarray]:
        return {"source_weight": self.weight, "source_bias": self.bias}

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray], labels: list[str]) -> SourceMappedHead:
        matching: dict[str, Any] = {
            k: config[k] for k in ("threshold", "top_m", "text_backbone", "label_texts") if k in config
        }
        multilabel = bool(config.get("multilabel", False))
        return cls(state["source_weight"], state["source_bias"], labels, config["mapping"], matching, multilabel)


class LabelSimilarityHead:
    """softmax(cosine(text embedding, label embedding) / temperature) over the labels."""

    def __init__(
        self,
        label_vectors: np.ndarray,
        label_texts: dict[str, str],
        temperature: float = TEMPERATURE,
        multilabel: bool = False,
    ):
        self.multilabel = multilabel  # sigmoid((cosine - CENTRE) / temperature) per label instead of a softmax
        self.label_vectors = _l2(label_vectors).astype(np.float32)
        self.label_texts = label_texts
        self.temperature = temperature

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        cosine = _l2(X) @ self.label_vectors.T.astype(np.float64)
        if self.multilabel:
            return np.asarray(expit((cosine - CENTRE) / self.temperature))
        return softmax(cosine / self.temperature, axis=1)

    def torch_module(self) -> nn.Module:
        """The same computation in torch, for `headstart export`."""
        return _LabelSimilarityModule(self.label_vectors, self.temperature)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "label-similarity",
            "similarity": "cosine",
            "temperature": self.temperature,
            "label_texts": self.label_texts,
            "multilabel": self.multilabel,
            "centre": CENTRE if self.multilabel else None,
        }

    def state(self) -> dict[str, np.ndarray]:
        return {"label_embeddings": self.label_vectors}

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]) -> LabelSimilarityHead:
        multilabel = bool(config.get("multilabel", False))
        return cls(state["label_embeddings"], config["label_texts"], float(config["temperature"]), multilabel)


class _SourceMappedModule(nn.Module):
    weight: torch.Tensor  # buffers: the source head and the label mapping
    bias: torch.Tensor
    matrix: torch.Tensor

    def __init__(self, weight: np.ndarray, bias: np.ndarray, matrix: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(np.asarray(weight, dtype=np.float32)))
        self.register_buffer("bias", torch.as_tensor(np.asarray(bias, dtype=np.float32)))
        self.register_buffer("matrix", torch.as_tensor(np.asarray(matrix, dtype=np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mass = torch.softmax(features @ self.weight.T + self.bias, dim=1) @ self.matrix
        return mass / mass.sum(dim=1, keepdim=True).clamp_min(1e-30)


class _LabelSimilarityModule(nn.Module):
    labels: torch.Tensor  # buffer: one unit vector per label

    def __init__(self, label_vectors: np.ndarray, temperature: float) -> None:
        super().__init__()
        self.register_buffer("labels", torch.as_tensor(np.asarray(label_vectors, dtype=np.float32)))
        self.temperature = float(temperature)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cosine = torch.nn.functional.normalize(features, dim=1) @ self.labels.T
        return torch.softmax(cosine / self.temperature, dim=1)


# ---------------------------------------------------------------- strategy


class ZeroShotSection(FeatureSection):
    """`strategy` of a zero-shot bundle: how labels were matched and which text backbone embedded them."""

    # "label-similarity" (texts), "image-text" (an image-text model's text tower) or "source-mapping" (the image
    # backbone's own classes)
    mode: str | None = None
    label_descriptions: str | None = None
    text_backbone: dict[str, Any] | None = None  # name and weights hash
    prompts: dict[str, list[str]] | None = None  # image-text: each label's prompts, averaged into its vector
    prompt_templates: list[str] | None = None  # image-text: the templates those prompts were made with
    text_encoder: dict[str, Any] | None = None  # image-text: the text tower's tokenizer and temperature


class ZeroShotHeadSection(HeadSection):
    """`head` of a zero-shot bundle: the label texts and how they are matched (`kind` says which head)."""

    label_texts: dict[str, str] | None = None
    multilabel: bool | None = None
    similarity: str | None = None  # label-similarity: cosine over a temperature, centred for multi-label
    temperature: float | None = None
    centre: float | None = None
    prototypes: dict[str, Any] | None = None  # added by `expand`: per label, examples averaged in
    source_classes: int | None = None  # source-mapping: the backbone's classes and each label's matches
    mapping: dict[str, Any] | None = None
    unmatched: list[str] | None = None
    unmatched_policy: str | None = None
    threshold: float | None = None
    top_m: int | None = None
    text_backbone: str | None = None


class ZeroShotStrategy(Strategy):
    """No training: label names matched to the source head (images) or to text embeddings (texts)."""

    name = "zero-shot"
    description = (
        "no training: label names matched to the pretraining classes or an image-text model's image embeddings "
        "(images), or to the texts"
    )
    tasks = ("classification", "multilabel")
    options = frozenset({"text_backbone", "label_descriptions"})
    image_options = frozenset({"prompt_templates"})  # an image-text backbone's label prompts
    expansion = "label-similarity"
    manifest_section = ZeroShotSection
    head_section = ZeroShotHeadSection

    def fit(self, inputs: FitInputs) -> FeatureHeadModel:
        config, backbone, train = inputs.config, inputs.backbone, inputs.train
        assert backbone is not None
        labels = train.classes
        require_classes(labels)
        descriptions, notes = read_descriptions(config.label_descriptions, labels)
        label_texts = {label: descriptions.get(label, normalize_name(label)) for label in labels}
        notes.append(
            f"zero-shot: nothing trained; the {len(train)} training item(s) gave only their label names"
            + (" (--labels-per-class has no effect)" if config.labels_per_class is not None else "")
        )
        run: dict[str, Any] = {"threads": config.threads, "batch_size": config.batch_size, "progress": config.progress}
        head: SourceMappedHead | LabelSimilarityHead
        encoder = text_encoder_of(backbone)
        on_texts = get_modality(backbone.modality).accepts_texts  # (the generic note covers prompts on texts)
        if config.prompt_templates is not None and encoder is None and not on_texts:
            notes.append(
                f"zero-shot: --prompt-template is used only with an image-text backbone's text tower (CLIP, SigLIP); "
                f"{backbone.name!r} has none, so it is unused"
            )
        if on_texts:  # it embeds the label names itself
            if config.text_backbone is not None and config.text_backbone != backbone.name:
                notes.append(f"zero-shot on texts uses the backbone {backbone.name!r}; --text-backbone is unused")
            vectors = embed_texts(backbone, [label_texts[lab] for lab in labels], **run)
            head = LabelSimilarityHead(vectors, label_texts, multilabel=get_task(train.task).outputs is Outputs.TAGS)
            strategy = self._strategy_manifest(backbone, "label-similarity", config.label_descriptions, None)
            model = FeatureHeadModel(backbone, head, labels, strategy, "zero-shot", config.threads, config.batch_size)
        elif encoder is not None:  # an image-text model embeds the labels itself
            if config.text_backbone is not None:
                notes.append(f"zero-shot uses the text tower of {backbone.name!r}; --text-backbone is unused")
            templates = prompt_templates(config.prompt_templates)
            prompts = {
                lab: label_prompts(label_texts[lab], templates, is_description=lab in descriptions) for lab in labels
            }
            vectors = image_text_label_vectors(encoder, [prompts[lab] for lab in labels])
            multilabel = get_task(train.task).outputs is Outputs.TAGS
            head = LabelSimilarityHead(vectors, label_texts, encoder.temperature, multilabel=multilabel)
            strategy = self._strategy_manifest(backbone, "image-text", config.label_descriptions, None)
            strategy.update(prompts=prompts, prompt_templates=list(templates), text_encoder=encoder.describe())
            model = FeatureHeadModel(backbone, head, labels, strategy, "zero-shot", config.threads, config.batch_size)
        else:
            head, text_backbone = self._source_head(backbone, labels, label_texts, config.text_backbone, run)
            head.multilabel = get_task(train.task).outputs is Outputs.TAGS
            if head.unmatched:
                notes.append(
                    f"zero-shot: no source class of {backbone.name!r} matches label(s) {', '.join(head.unmatched)} "
                    f"(cosine < {MATCH_THRESHOLD} with {text_backbone.name!r}); they get no probability and are "
                    "never predicted — rename them after source classes, or use --strategy linear"
                )
            strategy = self._strategy_manifest(backbone, "source-mapping", config.label_descriptions, text_backbone)
            model = FeatureHeadModel(backbone, head, labels, strategy, "zero-shot", config.threads, config.batch_size)
        if get_task(train.task).outputs is Outputs.TAGS:
            self._tune_thresholds(model, train, config, notes)
        model.report = TrainReport(n_train=0, notes=notes)
        return model

    def _tune_thresholds(self, model: FeatureHeadModel, train: Dataset, config: Any, notes: list[str]) -> None:
        """Multi-label: each tag's threshold from the labelled training items (the only thing they are used for)."""
        x = model.embed_dataset(train, on_bad=config.on_bad, progress=config.progress, cache=True)
        assert train.labels is not None
        y = multi_hot([train.labels[i] for i in x.kept], model.labels)
        model.task = "multilabel"
        model.thresholds = tune_thresholds(y, model.head.predict_proba(x.features))
        notes.append(f"zero-shot multi-label: per-tag thresholds tuned on {len(x.kept)} labelled training item(s)")

    def _source_head(
        self,
        backbone: Backbone,
        labels: list[str],
        label_texts: dict[str, str],
        text_backbone_name: str | None,
        run: dict[str, Any],
    ) -> tuple[SourceMappedHead, Backbone]:
        source = backbone.source_head
        if source is None or not source.class_names:
            raise StrategyError(
                f"backbone {backbone.name!r} has no pretraining head with class names to map labels onto",
                expected="an image backbone that keeps its source head (e.g. efficientnet-lite0, ImageNet)",
                fix="use --backbone efficientnet-lite0, or --strategy linear",
            )
        text_backbone = get_backbone(text_backbone_name or DEFAULT_TEXT_BACKBONE)
        check_modality(text_backbone, "text")
        vectors = embed_texts(text_backbone, [*(label_texts[lab] for lab in labels), *source.class_names], **run)
        label_vectors, class_vectors = vectors[: len(labels)], vectors[len(labels) :]
        mapping = match_labels(labels, list(source.class_names), label_vectors, class_vectors)
        if not any(mapping.values()):
            raise StrategyError(
                f"none of the labels {', '.join(labels[:10])} matches a source class of {backbone.name!r}",
                expected=f"label names close to the backbone's classes (e.g. {', '.join(source.class_names[:3])})",
                fix="rename the labels after source classes, or use --strategy linear",
            )
        matching = {
            "threshold": MATCH_THRESHOLD,
            "top_m": TOP_M,
            "text_backbone": text_backbone.name,
            "label_texts": label_texts,
        }
        return SourceMappedHead(source.weight, source.bias, labels, mapping, matching), text_backbone

    def _strategy_manifest(
        self, backbone: Backbone, mode: str, descriptions: str | None, text_backbone: Backbone | None
    ) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": mode,
            "frozen_stages": list(backbone.stages),
            "trainable_stages": [],
            "label_descriptions": descriptions,
            "text_backbone": None
            if text_backbone is None
            else {"name": text_backbone.name, "weights_sha256": text_backbone.weights_sha256},
        }

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> FeatureHeadModel:
        assert backbone is not None
        labels = list(manifest.labels)
        config = manifest.head.to_dict()
        head: SourceMappedHead | LabelSimilarityHead
        if config["kind"] == "source-mapping":
            head = SourceMappedHead.from_state(config, tensors, labels)
        else:
            head = LabelSimilarityHead.from_state(config, tensors)
        model = FeatureHeadModel(backbone, head, labels, manifest.strategy.to_dict(), "zero-shot")
        model.task = manifest.task
        return model
