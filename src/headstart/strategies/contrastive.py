"""`contrastive`: SetFit-style few-shot fine-tuning, one forward pass per item instead of two per pair.

Phase 1 tunes the pretrained stages after the cut with a supervised contrastive loss (Khosla et al., 2020)
over every pair in each batch: items of one class pull together, the others push apart. SetFit samples
explicit pairs (up to n² of them) and runs two forward passes per pair; in-batch pairs give B(B-1)/2 pairs
for B forward passes, and batches are built from same-class runs so every item has a partner. Phase 2 fits
the linear head (C by cross-validation) on the tuned embeddings. The result is an ordinary `FinetuneModel`:
it predicts, saves, exports, serves and expands like `partial:K`.

The body trains with layer-wise learning-rate decay (the last stage at the full rate, each one below at
`LAYER_DECAY` times the one above). `contrastive` trains every stage after the first (the embeddings /
stem, computed once and cached); `contrastive:K` trains only the last K stages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from headstart.backbones.base import Backbone, State
from headstart.strategies.base import FitInputs, TrainReport, class_counts, merge_validation, require_classes
from headstart.strategies.finetune import (
    FinetuneModel,
    GradientStrategy,
    PartialStrategy,
    TopNet,
    build_top,
    frozen_batchnorm,
)
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import activation_memory
from headstart.tasks import encode_targets
from headstart.train import ProgressBar, TimeBudget, Trainer, TrainerConfig

TEMPERATURE = 0.1
SAME_CLASS_RUN = 4  # items of one class next to each other in a batch
LAYER_DECAY = 0.8  # each stage below the last trains at 0.8x the rate of the one above it


def supervised_contrastive_loss(
    embeddings: torch.Tensor, target: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """SupCon: for each item, the mean log-probability of its same-class partners among all other items.

    Items without a partner in the batch are skipped; a batch with no pair at all gives a zero loss.
    """
    z = functional.normalize(embeddings, dim=1)
    self_pair = torch.eye(len(target), dtype=torch.bool, device=z.device)
    similarity = (z @ z.T / temperature).masked_fill(self_pair, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    partners = (target[:, None] == target[None, :]) & ~self_pair
    counts = partners.sum(dim=1)
    anchors = counts > 0
    if not bool(anchors.any()):
        return embeddings.sum() * 0.0
    per_anchor = log_prob.masked_fill(~partners, 0.0).sum(dim=1)[anchors] / counts[anchors]
    return -per_anchor.mean()


class _Embedder(nn.Module):
    """The TopNet up to its pooled features: what the contrastive phase trains."""

    def __init__(self, top: TopNet) -> None:
        super().__init__()
        self.top = top

    def forward(self, state: State) -> torch.Tensor:
        return self.top.features(state)


class ContrastiveStrategy(GradientStrategy):
    """Tune the body with an in-batch contrastive loss, then fit a linear head on the tuned embeddings."""

    name = "contrastive"
    description = "SetFit-style: tune the body with an in-batch contrastive loss, then fit a linear head"
    default_epochs = 10
    default_lr = 3e-4  # the last stage's rate (lower stages decay by LAYER_DECAY); there is no head in this phase
    tasks = ("classification",)
    # a fixed schedule (no early stopping, so no patience) and rates that decay by depth (no lr_ratio)
    options = frozenset({"max_epochs", "lr", "time_budget"})
    image_options = frozenset({"augment", "views"})
    task_options = {}
    # on few-shot texts it can lead the probe by several points (BENCHMARKS.md, `auto` on texts)
    study_modalities = frozenset({"text"})
    uses_validation = False  # a fixed schedule and a cross-validated head: `merge_validation` adds it to train
    validation_note = "contrastive runs a fixed schedule and cross-validates its head's C"

    def cut(self, backbone: Backbone, params: dict[str, Any]) -> int:
        if "arg" in params:
            return PartialStrategy.cut(self, backbone, params)  # type: ignore[arg-type]  # errors say contrastive:K
        return 1

    def param_groups(self, top: TopNet, lr: float, ratio: float) -> list[dict[str, Any]]:
        """One group per trained stage: `lr` for the last, times LAYER_DECAY for each stage further down."""
        last = len(top.stages) - 1
        return [
            {"name": f"last stage - {last - i}" if i < last else "last stage", "params": list(stage.parameters()),
             "lr": lr * LAYER_DECAY ** (last - i)}
            for i, stage in enumerate(top.stages)
        ]  # fmt: skip

    def fit(self, inputs: FitInputs) -> FinetuneModel:
        inputs, merged = merge_validation(self, inputs)  # a no-op after api.fit; a study passes validation on
        config, backbone, train = inputs.config, inputs.backbone, inputs.train
        assert backbone is not None and train.labels is not None
        cut = self.cut(backbone, inputs.params)
        labels = sorted(set(train.labels))

        def encode(values: list[str]) -> np.ndarray:
            return encode_targets(values, "classification", labels)

        train_data, n_train, skipped, cache_counts = self._training_data(backbone, train, cut, config, encode)
        require_classes([labels[t] for t in train_data.targets])
        train_data.group = SAME_CLASS_RUN

        top = build_top(backbone, cut, len(labels))
        checkpoints = self._start_run(config, train)
        lr = config.lr or self.default_lr
        trainer = Trainer(
            _Embedder(top),
            self.param_groups(top, lr, config.lr_ratio),
            TrainerConfig(
                max_epochs=config.max_epochs or self.default_epochs, batch_size=config.batch_size, seed=config.seed
            ),
            frozen=frozen_batchnorm(top),
            loss=lambda embeddings, target, state: supervised_contrastive_loss(embeddings, target),
            callbacks=[
                TimeBudget(config.time_budget),
                checkpoints,
                ProgressBar(self.name, n_train, enabled=config.progress),
            ],
        )
        state = trainer.fit(train_data, None)
        run_notes = self._end_run(checkpoints, state)

        eval_data = self._training_data(backbone, train, cut, config, encode, evaluation=True)[0]
        embeddings = _embed(top, eval_data, config.batch_size)
        head = LinearHead(seed=config.seed).fit(embeddings, np.array([labels[t] for t in eval_data.targets]))
        top.init_head_from(head)

        notes = [
            *merged,
            "no validation split: the contrastive phase runs its fixed schedule, the head's C is cross-validated",
            *run_notes,
        ]
        manifest = self._manifest(backbone, cut, config, trainer, state)
        manifest["trainer"].pop("label_smoothing", None)
        manifest["objective"] = {
            "body": (
                f"supervised contrastive, in-batch pairs, temperature {TEMPERATURE}, "
                f"same-class runs of {SAME_CLASS_RUN}, layer-wise lr decay {LAYER_DECAY}"
            ),
            "head": "logistic regression on the tuned embeddings, C by cross-validation",
        }
        model = FinetuneModel(backbone, top, cut, labels, manifest)
        model.memory = activation_memory(backbone, train, cut, config, labels)
        model.report = TrainReport(
            n_train=n_train,
            skipped=skipped,
            features_cached=cache_counts[0],
            features_computed=cache_counts[1],
            history=state.history,
            notes=notes,
            class_counts=class_counts([labels[t] for t in train_data.targets]),
        )
        return model


@torch.no_grad()
def _embed(top: TopNet, data: Any, batch_size: int) -> np.ndarray:
    """Pooled features of `data` in evaluation order (no augmentation, dropout off)."""
    top.eval()
    rows = [top.features(state).numpy() for state, _ in data.batches(batch_size, epoch=None, seed=0)]
    return np.concatenate(rows)
