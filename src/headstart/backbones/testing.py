"""Tiny deterministic backbones (`test-cnn`, `test-text`) that exercise every real code path in milliseconds.

Weights come from a fixed torch seed (global RNG untouched), so their `weights_sha256` is stable; no downloads.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from headstart.backbones.base import SourceHead, State
from headstart.backbones.catalog import TEST_CNN_INFO, TEST_TEXT_INFO
from headstart.backbones.sentence_transformer import masked_mean
from headstart.backbones.staged import ImageStagedBackbone, StagedNet, TextStagedBackbone, describe, eval_frozen

SEED = 0
SOURCE_CLASSES = [f"source-class-{i}" for i in range(10)]


class _Conv(nn.Module):
    def __init__(self, cin: int, cout: int, key_in: str) -> None:
        super().__init__()
        self.key_in = key_in
        self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()

    def forward(self, state: State) -> State:
        return {"feature_map": self.act(self.bn(self.conv(state[self.key_in])))}


class TestCNN(ImageStagedBackbone):
    """3 conv stages (32→16→8→4 px; 8, 16, 16 channels), global average pool → 16-d, 10 fake source classes."""

    __test__ = False  # not a pytest class
    name = "test-cnn"
    feature_dim = 16
    input_size = 32
    license = "MIT"

    def __init__(self) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            stages = [_Conv(3, 8, "image"), _Conv(8, 16, "feature_map"), _Conv(16, 16, "feature_map")]
            for s in stages:  # non-trivial BN statistics so eval-mode BN matters in parity tests
                mean, var = s.bn.running_mean, s.bn.running_var
                assert mean is not None and var is not None  # BatchNorm2d tracks running statistics by default
                mean.uniform_(-0.1, 0.1)
                var.uniform_(0.5, 1.5)
            self._head = nn.Linear(16, len(SOURCE_CLASSES))
        self._net = eval_frozen(StagedNet(["conv1", "conv2", "conv3"], stages))
        eval_frozen(self._head)
        self._info = TEST_CNN_INFO

    def preprocess_config(self) -> dict[str, Any]:
        return describe(
            kind="image",
            size=32,
            resize="stretch",
            interpolation="bilinear",
            mean=[0.5] * 3,
            std=[0.5] * 3,
            channels="RGB",
            layout="NCHW",
        )

    def preprocess(self, items: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        arrays = []
        for img in items:
            img = img.convert("RGB") if img.mode != "RGB" else img
            arr = np.asarray(img.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
            arrays.append(((arr - 0.5) / 0.5).transpose(2, 0, 1))
        if not arrays:
            return {"image": np.zeros((0, 3, 32, 32), np.float32)}
        return {"image": np.ascontiguousarray(np.stack(arrays), dtype=np.float32)}

    @property
    def source_head(self) -> SourceHead:
        return SourceHead(
            weight=self._head.weight.detach().numpy().copy(),
            bias=self._head.bias.detach().numpy().copy(),
            class_names=list(SOURCE_CLASSES),
        )


class HashTokenizer:
    """Lowercase words hashed (crc32) into a 1000-id vocabulary; 0 is [PAD], 1 is [UNK] (empty text)."""

    vocab_size = 1000
    pad_id, unk_id = 0, 1
    pattern = re.compile(r"\w+|[^\w\s]")

    def __init__(self, max_length: int = 32) -> None:
        self.max_length = max_length

    def count(self, text: str) -> int:
        """Tokens of `text` before truncation."""
        return len(self.pattern.findall(text.lower()))

    def ids(self, text: str) -> list[int]:
        words = self.pattern.findall(text.lower())[: self.max_length]
        return [2 + zlib.crc32(w.encode()) % (self.vocab_size - 2) for w in words] or [self.unk_id]

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = [self.ids(t) for t in texts]
        width = max((len(r) for r in rows), default=1)
        input_ids = np.full((len(rows), width), self.pad_id, np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}


class _TextEmbeddings(nn.Module):
    def __init__(self, vocab: int, dim: int, max_len: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, state: State) -> State:
        ids = state["input_ids"]
        pos = torch.arange(ids.shape[1], device=ids.device)
        hidden = self.norm(self.tokens(ids) + self.positions(pos)[None])
        return {"hidden": hidden, "attention_mask": state["attention_mask"]}


class _AttentionLayer(nn.Module):
    """Single-head self-attention + MLP, post-norm, with an additive padding mask (like BERT)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.scale = dim**-0.5

    def forward(self, state: State) -> State:
        x, mask = state["hidden"], state["attention_mask"]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(1, 2) * self.scale
        scores = scores + (1.0 - mask[:, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        x = self.norm1(x + self.out(scores.softmax(dim=-1) @ v))
        x = self.norm2(x + self.mlp(x))
        return {"hidden": x, "attention_mask": mask}


class TestText(TextStagedBackbone):
    """Hashed-word tokens → embeddings → 2 attention layers → masked mean → 16-d."""

    __test__ = False
    name = "test-text"
    feature_dim = 16
    input_size = 32
    license = "MIT"
    example_texts = ("a short one", "a somewhat longer example sentence, with more words")

    def __init__(self) -> None:
        self.tokenizer = HashTokenizer(max_length=self.input_size)
        self.max_tokens = self.input_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            stages = [
                _TextEmbeddings(HashTokenizer.vocab_size, 16, self.input_size),
                _AttentionLayer(16),
                _AttentionLayer(16),
            ]
        self._net = eval_frozen(StagedNet(["embeddings", "layer0", "layer1"], stages))
        self._info = TEST_TEXT_INFO

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [self.tokenizer.count(t) for t in texts]

    def preprocess_config(self) -> dict[str, Any]:
        return describe(
            kind="text",
            tokenizer="HashTokenizer/crc32-lower",
            vocab_size=1000,
            max_seq_length=self.input_size,
            padding="longest",
            truncation=True,
        )

    def preprocess(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        return self.tokenizer(list(items))

    def pool(self, state: State) -> torch.Tensor:
        return masked_mean(state["hidden"], state["attention_mask"])
