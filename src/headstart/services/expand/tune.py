"""Fine-tuned bundles with `--tune-stages`: grow the head, then train on new data + rehearsal with distillation
(Learning without Forgetting), then refit the head."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.backbones.base import State
from headstart.config import ExpandConfig
from headstart.data import split_dataset
from headstart.services.expand.common import ExpandInputs, Expansion, forgetting_checks, parent_fit_config
from headstart.services.expand.head import pooled_features, refit_head
from headstart.strategies import get_strategy
from headstart.strategies.finetune import (
    FinetuneModel,
    GradientSection,
    GradientStrategy,
    TopNet,
    build_top,
    frozen_batchnorm,
)
from headstart.strategies.memory import activation_memory, memory_bytes, merge_memories
from headstart.strategies.training_data import ActivationData, activation_key, activation_state
from headstart.train import EarlyStopping, ProgressBar, Trainer, TrainerConfig

DEFAULT_EPOCHS = 8
DEFAULT_PATIENCE = 2  # the validation part holds new items only; the head is refit afterwards
LR_FACTOR = 0.3  # expansion fine-tunes at this fraction of the parent's learning rate
VALIDATION_FRACTION = 0.2
TEACHER_LOGITS = "teacher_logits"  # batch-state key of the parent's precomputed old-class logits


def balanced_weights(targets: np.ndarray, n_classes: int) -> torch.Tensor:
    """Per-class loss weights n / (k · n_c) over the k classes present (1 for absent ones).

    An old class is present only through its few stored exemplars, a new one through all its items: unweighted,
    the grown head learns that prior and pushes old-class items into new classes (the bias of class-incremental
    learning; Wu et al. 2019, Zhao et al. 2020). Weighted, each class counts as much as in a balanced retrain.
    """
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


class DistillationLoss:
    """Class-weighted cross-entropy on all classes + weight × T² × KL(parent ‖ model) on the old classes' outputs."""

    def __init__(
        self,
        teacher: nn.Module,
        n_old: int,
        temperature: float,
        weight: float,
        smoothing: float,
        class_weight: torch.Tensor | None = None,
    ) -> None:
        self.teacher = teacher.eval()
        self.n_old = n_old
        self.temperature = temperature
        self.weight = weight
        self.smoothing = smoothing
        self.class_weight = class_weight

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = nn.functional.cross_entropy(logits, target, weight=self.class_weight, label_smoothing=self.smoothing)
        if self.weight == 0:
            return loss
        old = state.get(TEACHER_LOGITS)
        if old is None:
            with torch.no_grad():
                old = self.teacher(state)
        t = self.temperature
        kl = nn.functional.kl_div(
            nn.functional.log_softmax(logits[:, : self.n_old] / t, dim=1),
            nn.functional.softmax(old / t, dim=1),
            reduction="batchmean",
        )
        return loss + self.weight * t * t * kl


class WithTeacherLogits:
    """`data`'s training batches, each state carrying the teacher's logits for the view sampled of each item.

    The teacher is frozen and the views are cached, so its outputs are computed once per view here instead of
    once per epoch in the loss (a forward pass of the tuned stages per item per epoch saved). The stages read
    only their own keys, so the extra one reaches the loss untouched.
    """

    def __init__(self, data: ActivationData, teacher: nn.Module, batch_size: int) -> None:
        self.data = data
        self.targets = data.targets
        self.group = data.group
        self.logits = _logits_per_view(data, teacher, batch_size)

    def __len__(self) -> int:
        return len(self.data)

    def batches(self, batch_size: int, *, epoch: int | None, seed: int) -> Iterator[tuple[State, torch.Tensor]]:
        data = self.data
        for chosen, views in data.picks(batch_size, epoch=epoch, seed=seed):
            state = activation_state(
                [data.views[k][v] for k, v in zip(chosen, views, strict=True)], data.modality, data.key
            )
            state[TEACHER_LOGITS] = torch.stack([self.logits[k][v] for k, v in zip(chosen, views, strict=True)])
            yield state, torch.from_numpy(data.targets[chosen])


@torch.no_grad()
def _logits_per_view(data: ActivationData, teacher: nn.Module, batch_size: int) -> list[list[torch.Tensor]]:
    """The teacher's logits of every cached view of every item: `logits[k][v]`."""
    teacher.eval()
    pairs = [(k, v) for k, views in enumerate(data.views) for v in range(len(views))]
    logits: list[list[torch.Tensor]] = [[] for _ in data.views]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        out = teacher(activation_state([data.views[k][v] for k, v in chunk], data.modality, data.key))
        for (k, _), row in zip(chunk, out, strict=True):
            logits[k].append(row.clone())
    return logits


def _grow(
    parent: TopNet, student: TopNet, n_old: int, data: Any, batch_size: int, seed: int, class_weight: torch.Tensor
) -> None:
    """Copy the parent into `student` with a bigger head that computes the same old-class logits.

    The feature standardisation is re-estimated on `data` (old exemplars + new items: features of new classes
    can be far outside the parent's statistics) and the old rows are rescaled so their logits do not change.
    New rows are imprinted: the new class's mean standardised feature, scaled like the old rows.
    """
    pooled, targets = pooled_features(parent, data, batch_size, seed)
    mean, scale = pooled.mean(dim=0), pooled.std(dim=0).clamp_min(1e-6)
    state = {k: v.clone() for k, v in parent.state_dict().items()}
    weight, bias = state.pop("head.weight"), state.pop("head.bias")
    old_mean, old_scale = state.pop("mean"), state.pop("scale")
    # w·(f - m)/s + b == w'·(f - m')/s' + b'  with  w' = w·s'/s  and  b' = b + w·(m' - m)/s
    new_weight = weight * scale / old_scale
    new_bias = bias + weight @ ((mean - old_mean) / old_scale)
    student.load_state_dict(state, strict=False)
    with torch.no_grad():
        student.mean.copy_(mean)
        student.scale.copy_(scale)
        student.head.weight[:n_old] = new_weight
        student.head.bias[:n_old] = new_bias
        if student.head.out_features > n_old:
            z = (pooled - mean) / scale
            k = student.head.out_features - n_old
            rows_w, rows_b = _fit_new_rows(z, targets, new_weight, new_bias, k, class_weight)
            student.head.weight[n_old:] = rows_w
            student.head.bias[n_old:] = rows_b


def _fit_new_rows(
    z: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    k: int,
    class_weight: torch.Tensor | None = None,
    l2: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """New head rows by logistic regression with the old rows' logits fixed (a convex warm start).

    Without it a new row starts far below the old logits on its own items (old heads can be very confident
    on unfamiliar inputs), and the fine-tuning that follows spends its few epochs undoing that.
    """
    with torch.no_grad():
        fixed = z @ weight.T + bias
        means = torch.stack([z[targets == len(bias) + j].mean(dim=0) for j in range(k)])
    new_w = (nn.functional.normalize(means, dim=1) * weight.norm(dim=1).mean()).clone().requires_grad_(True)
    new_b = torch.full((k,), float(bias.mean()), requires_grad=True)
    optimizer = torch.optim.LBFGS([new_w, new_b], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = torch.cat([fixed, z @ new_w.T + new_b], dim=1)
        loss = nn.functional.cross_entropy(logits, targets, weight=class_weight) + l2 * new_w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return new_w.detach(), new_b.detach()


def expand_finetune(parent: FinetuneModel, inputs: ExpandInputs) -> Expansion:
    """The gradient phase: rehearsal on stored activations (or, with `allow_forgetting`, new data only) with
    class-balanced cross-entropy + distillation on the old classes' outputs, then the head refit."""
    manifest, memory, train, labels, config = inputs.manifest, inputs.memory, inputs.train, inputs.labels, inputs.config
    per_class = inputs.per_class
    backbone, cut = parent.backbone, parent.cut
    assert backbone is not None and train.labels is not None
    strategy = get_strategy(manifest.strategy.name)
    assert isinstance(strategy, GradientStrategy)
    fit_config = parent_fit_config(manifest, config, per_class)
    n_old = len(manifest.labels)
    target_of = {label: i for i, label in enumerate(labels)}

    def encode(values: list[str]) -> np.ndarray:
        return np.array([target_of[v] for v in values], dtype=np.int64)

    notes: list[str] = []

    fit_part, validation = train, None
    if min(train.class_counts().values()) >= 2 and len(train) >= 5:
        parts = split_dataset(train, test_size=VALIDATION_FRACTION, seed=config.seed)
        fit_part, validation = parts.train, parts.test
        notes.append(f"held out {len(validation)} new item(s) for early stopping")
    rehearsing = memory is not None and len(memory) > 0
    # the new items' unaugmented activations: kept in the new bundle's memory and, when rehearsing, trained on
    fresh = activation_memory(backbone, train, cut, fit_config, labels) if rehearsing else None
    new_data, n_new, skipped, _ = strategy._training_data(
        backbone, fit_part, cut, fit_config, encode, evaluation=rehearsing
    )
    val_data = (
        strategy._training_data(backbone, validation, cut, fit_config, encode, evaluation=True)[0]
        if validation is not None
        else None
    )
    rehearsal = None
    train_data: Any = new_data
    if memory is not None and rehearsing:
        notes.append(
            "new items train on unaugmented activations, like the stored ones: augmented new items beside "
            "unaugmented old ones teach the network that augmentation means a new class"
        )
        key = activation_key(backbone, cut)
        rehearsal = ActivationData([[v] for v in memory.values], memory.targets, backbone.modality, key)
        assert isinstance(new_data, ActivationData)
        train_data = ActivationData(
            [*new_data.views, *rehearsal.views],
            np.concatenate([new_data.targets, rehearsal.targets]),
            backbone.modality,
            key,
        )
    else:
        notes.append(
            "no stored exemplars: trained on the new data only (--allow-forgetting); the old classes are kept "
            "only by distillation on the new data, so expect them to degrade — check with `headstart evaluate`"
        )

    teacher = copy.deepcopy(parent.top).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = build_top(backbone, cut, len(labels), pretrained=True)
    class_weight = balanced_weights(train_data.targets, len(labels))
    _grow(parent.top, student, n_old, train_data, config.batch_size, config.seed, class_weight)

    trainer_options = GradientSection.of(manifest.strategy).trainer
    lr = config.lr or LR_FACTOR * float(trainer_options.get("lr") or strategy.default_lr)
    ratio = float(trainer_options.get("lr_ratio") or 10.0)
    trainer_config = TrainerConfig(
        max_epochs=config.max_epochs or DEFAULT_EPOCHS, batch_size=config.batch_size, seed=config.seed
    )
    torch.manual_seed(config.seed)
    loss = DistillationLoss(
        teacher, n_old, config.temperature, config.distill_weight, trainer_config.label_smoothing, class_weight
    )
    trainer = Trainer(
        student,
        with_head(strategy.param_groups(student, lr, ratio), student, lr),
        trainer_config,
        frozen=frozen_batchnorm(student),
        callbacks=[
            EarlyStopping(patience=DEFAULT_PATIENCE if config.patience is None else config.patience),
            ProgressBar(f"expand {strategy.name}", len(train_data), enabled=config.progress),
        ],
        loss=loss,
    )
    distilled = (
        WithTeacherLogits(train_data, teacher, config.batch_size)
        if isinstance(train_data, ActivationData) and config.distill_weight
        else train_data
    )
    state = trainer.fit(distilled, val_data)
    if state.stop_reason:
        notes.append(state.stop_reason)
    refit = None
    if config.head_refit and rehearsal is not None and fresh is not None:
        both = ActivationData(
            [*rehearsal.views, *[[v] for v in fresh.values]],
            np.concatenate([rehearsal.targets, fresh.targets]),
            backbone.modality,
            rehearsal.key,
        )
        pooled, targets = pooled_features(student, both, config.batch_size, config.seed)
        refit = refit_head(student, pooled, targets, labels, config)
        notes.append(
            f"head refit as a class-balanced logistic regression (C={refit['C']:g}, cross-validated) on the "
            f"tuned network's features of {len(rehearsal)} stored and {len(fresh)} new item(s)"
        )
    strategy_manifest = {
        **manifest.strategy.to_dict(),
        "expand": {
            "lr": lr,
            "lr_ratio": ratio,
            "max_epochs": trainer_config.max_epochs,
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch,
            "distillation": {"temperature": config.temperature, "weight": config.distill_weight, "on": "old classes"},
            "rehearsal_items": len(rehearsal) if rehearsal is not None else 0,
            "head_refit": refit,
            "class_weights": "balanced: n / (k · n_c) over the classes in new data + rehearsal",
            "param_groups": trainer.describe_groups(),
        },
    }
    model = FinetuneModel(backbone, student, cut, labels, strategy_manifest)
    model.threads, model.batch_size = config.threads, config.batch_size

    new_memory = None
    checks: dict[str, Any] = {}
    if memory is not None and len(memory):
        new_memory = merge_memories(memory, fresh, per_class, memory_bytes(fit_config.memory_mb))
        assert rehearsal is not None
        before, after = _predict(teacher, rehearsal, config), _predict(student, rehearsal, config)
        checks = forgetting_checks(before, after, memory.targets)
    method = (
        "grown head + rehearsal on stored activations + distillation (LwF)"
        if rehearsal is not None
        else "grown head + new data only + distillation (forgetting allowed)"
    )
    return Expansion(
        model=model,
        memory=new_memory,
        method=method,
        n_train=n_new + (len(rehearsal) if rehearsal is not None else 0),
        history=state.history,
        notes=notes,
        skipped=skipped,
        checks=checks,
    )


@torch.no_grad()
def with_head(groups: list[dict[str, Any]], student: TopNet, lr: float) -> list[dict[str, Any]]:
    """`groups` plus the grown head at `lr` when the strategy's groups leave it out.

    `contrastive` trains its body with no head (its head is a logistic regression fitted afterwards), so its
    groups hold only stages; an expansion must still train the head's new rows.
    """
    grouped = {id(p) for group in groups for p in group["params"]}
    head = [p for p in student.head.parameters() if id(p) not in grouped]
    return [*groups, {"name": "head", "params": head, "lr": lr}] if head else groups


def _predict(top: nn.Module, data: ActivationData, config: ExpandConfig) -> np.ndarray:
    top.eval()
    out = [top(state).argmax(dim=1).numpy() for state, _ in data.batches(config.batch_size, epoch=None, seed=0)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
