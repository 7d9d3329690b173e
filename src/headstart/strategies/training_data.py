"""Training batches for the Trainer: cached frozen-prefix activations, or raw items through the network.

`ActivationData` serves `partial:K`: the frozen stages ran once (ONNX Runtime) and each epoch samples
one cached augmented view per item. `RawData` serves `full` and `scratch`: items are augmented and
preprocessed every epoch. Both reseed from (seed, epoch), so epochs are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from headstart.augment import AugmentSpec, augment_image, view_rng
from headstart.backbones.base import Backbone
from headstart.data.modalities import get_modality
from headstart.train.trainer import Batch


def epoch_order(n: int, epoch: int | None, seed: int) -> tuple[np.ndarray, np.random.Generator | None]:
    """Shuffled order and a generator for training epochs; identity order and None for evaluation."""
    if epoch is None:
        return np.arange(n), None
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(n), rng


def grouped_order(
    targets: np.ndarray, epoch: int | None, seed: int, group: int
) -> tuple[np.ndarray, np.random.Generator | None]:
    """`epoch_order`, but items of one class come in runs of `group`, so every batch holds same-class pairs.

    Contrastive losses need positives in the batch; with many classes a plain shuffle leaves most items
    without one. Evaluation order and `group <= 1` are the plain order.
    """
    order, rng = epoch_order(len(targets), epoch, seed)
    if rng is None or group <= 1:
        return order, rng
    runs: list[np.ndarray] = []
    for label in np.unique(targets):
        members = order[targets[order] == label]
        runs.extend(members[i : i + group] for i in range(0, len(members), group))
    return np.concatenate([runs[i] for i in rng.permutation(len(runs))]), rng


def activation_key(backbone: Backbone, cut: int) -> str:
    """The name of the activation a network cut at `cut` receives ("" for the raw inputs, cut 0)."""
    return str(getattr(backbone, "activation_key", "x")) if cut > 0 else ""


def activation_state(rows: Sequence[np.ndarray], modality: str, key: str) -> dict[str, torch.Tensor]:
    """Stack fixed-shape activations, or pad ragged activations (text tokens, audio windows) with an attention mask."""
    if not get_modality(modality).ragged:
        return {key: torch.from_numpy(np.stack(rows))}
    longest = max(r.shape[0] for r in rows)
    hidden = np.zeros((len(rows), longest, *rows[0].shape[1:]), dtype=np.float32)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for i, r in enumerate(rows):
        hidden[i, : r.shape[0]] = r
        mask[i, : r.shape[0]] = 1
    return {key: torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}


class ActivationData:
    """Cached activations at the cut: `views[k][v]` for item k; one view sampled per item per epoch."""

    group = 1  # > 1: same-class runs in each batch (see `grouped_order`)

    def __init__(self, views: list[list[np.ndarray]], targets: np.ndarray, modality: str, key: str) -> None:
        self.views = views
        self.targets = targets
        self.modality = modality
        self.key = key

    def __len__(self) -> int:
        return len(self.views)

    def picks(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[tuple[np.ndarray, list[int]]]:
        """Batch by batch: the items, and the view sampled for each (view 0 in evaluation)."""
        order, rng = grouped_order(self.targets, epoch, seed, self.group)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            yield chosen, [int(rng.integers(len(self.views[k]))) if rng is not None else 0 for k in chosen]

    def batches(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[Batch]:
        for chosen, views in self.picks(batch_size, epoch=epoch, seed=seed):
            rows = [self.views[k][v] for k, v in zip(chosen, views, strict=True)]
            yield activation_state(rows, self.modality, self.key), torch.from_numpy(self.targets[chosen])


class RawData:
    """Decoded items run through the whole network; images get a fresh augmented view each epoch."""

    group = 1  # > 1: same-class runs in each batch (see `grouped_order`)

    def __init__(
        self,
        backbone: Backbone,
        items: list[Any],
        digests: list[str],
        targets: np.ndarray,
        augment: AugmentSpec | None,
    ) -> None:
        self.backbone = backbone
        self.items = items
        self.digests = digests
        self.targets = targets
        self.augment = augment if get_modality(backbone.modality).augmentable else None

    def __len__(self) -> int:
        return len(self.items)

    def _view(self, k: int, epoch: int | None, seed: int) -> Any:
        item = self.items[k]
        if self.augment is None or epoch is None or not isinstance(item, Image.Image):
            return item
        return augment_image(item, view_rng(seed, self.digests[k], 1_000 + epoch), self.augment)

    def batches(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[Batch]:
        order, _ = grouped_order(self.targets, epoch, seed, self.group)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            inputs = self.backbone.preprocess([self._view(int(k), epoch, seed) for k in chosen])
            state = {name: torch.from_numpy(value) for name, value in inputs.items()}
            yield state, torch.from_numpy(self.targets[chosen])


class RecomputedPrefixData:
    """Unaugmented items run through the frozen prefix in torch every epoch (the uncached reference).

    Used to check that training on cached activations matches recomputing them, and to measure what
    the cache saves.
    """

    def __init__(self, backbone: Backbone, items: list[Any], targets: np.ndarray, cut: int, key: str) -> None:
        self.backbone = backbone
        self.items = items
        self.targets = targets
        self.cut = cut
        self.key = key

    def __len__(self) -> int:
        return len(self.items)

    def batches(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[Batch]:
        order, _ = epoch_order(len(self), epoch, seed)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            inputs = self.backbone.preprocess([self.items[int(k)] for k in chosen])
            with torch.no_grad():
                state = self.backbone.forward({k: torch.from_numpy(v) for k, v in inputs.items()}, 0, self.cut)
            if get_modality(self.backbone.modality).ragged:  # trim padding per item, then re-pad, as the cache does
                lengths = inputs["attention_mask"].sum(axis=1)
                rows = [state[self.key][i, : int(n)].numpy() for i, n in enumerate(lengths)]
                yield activation_state(rows, self.backbone.modality, self.key), torch.from_numpy(self.targets[chosen])
            else:
                yield {self.key: state[self.key]}, torch.from_numpy(self.targets[chosen])
