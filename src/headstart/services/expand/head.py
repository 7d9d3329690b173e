"""Fine-tuned bundles, head only (the default): keep the parent's network, refit the grown head on its features."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from headstart.config import ExpandConfig, FitConfig
from headstart.errors import DataError, UsageError
from headstart.services.expand.common import ExpandInputs, Expansion, forgetting_checks, parent_fit_config, reorder_rows
from headstart.strategies.finetune import FinetuneModel, TopNet, build_top
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import (
    ExemplarMemory,
    activation_memory,
    feature_rows_bytes,
    memory_bytes,
    merge_memories,
)
from headstart.strategies.training_data import ActivationData, activation_key


@torch.no_grad()
def pooled_features(top: TopNet, data: Any, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features of the parent network (before standardisation) and targets, unaugmented order."""
    top.eval()
    features, targets = [], []
    for state, target in data.batches(batch_size, epoch=None, seed=seed):
        features.append(top.features(state))
        targets.append(target)
    return torch.cat(features), torch.cat(targets)


def head_only(config: ExpandConfig, memory: ExemplarMemory | None) -> bool:
    """Whether a fine-tuned expand skips the gradient phase: by default yes when the bundle stores activations and
    no training option (`max_epochs`, `lr`, `patience`, `head_refit=False`) is given.

    Training first bought no accuracy on the benchmarks for up to 3x the CPU time (BENCHMARKS.md, "Expand").
    """
    training = [
        name
        for name, given in (
            ("--max-epochs", config.max_epochs is not None),
            ("--lr", config.lr is not None),
            ("--patience", config.patience is not None),
            ("--no-head-refit", not config.head_refit),
        )
        if given
    ]
    if config.head_only is None:
        return memory is not None and len(memory) > 0 and not training
    if config.head_only and training:
        raise UsageError(
            f"{', '.join(training)} set(s) the gradient phase, which --head-only skips",
            expected="either --head-only, or training options with --tune-stages",
            fix=f"drop {', '.join(training)}, or replace --head-only by --tune-stages",
        )
    return config.head_only


def expand_head_only(parent: FinetuneModel, inputs: ExpandInputs) -> Expansion:
    """No gradient phase: the parent's tuned stages are kept and only the grown head is fitted, as the class-
    balanced logistic regression of `refit_head`, on the parent's pooled features of the stored + new items.

    Costs one unaugmented extraction of the new items, one forward pass of the trainable stages over stored +
    new items, and one cross-validated linear fit; the old classes' features are exactly the parent's.
    """
    memory, train, labels, config = inputs.memory, inputs.train, inputs.labels, inputs.config
    fit_config = parent_fit_config(inputs.manifest, config, inputs.per_class)
    if memory is None or not len(memory):
        raise UsageError(
            "--head-only refits the head on the old classes' stored activations, and this bundle keeps none",
            expected="a partial:K bundle fitted with exemplar memory (the default; not --memory 0)",
            fix="drop --head-only (add --allow-forgetting to train on the new data only), or refit on all data "
            "with `headstart fit`",
        )
    backbone, cut = parent.backbone, parent.cut
    assert backbone is not None
    # the new items under the parent's per-class bound (`--memory N`), like the stored ones: a few herded old items
    # beside every new item lose the old/new boundary. Under the default byte cap there is no per-class bound:
    # every new item is used (bench/archive/2026-11-25-expand-history.md) — through the parent network's features
    # of every readable item (`tuned`), so new items beyond the activations' byte cap are not dropped
    fresh = activation_memory(backbone, train, cut, fit_config, labels, top=parent.top)
    if fresh is None:
        raise DataError(
            "no item of NEW_DATA could be read for --head-only",
            expected="readable examples of the new classes",
            fix="check the files (see the skipped items), or pass --on-bad error to see the first failure",
        )
    if not len(fresh):
        cap = memory_bytes(fit_config.memory_mb) or memory.max_bytes
        raise UsageError(
            f"the exemplar memory's byte cap ({cap} bytes) holds no new item's activations, and the head-only "
            "refit reads the new items from them",
            expected="a cap of at least one item's activations at the cut (a few KB to tens of KB)",
            fix="raise --memory-mb, or drop it to keep the parent's cap",
        )
    key = activation_key(backbone, cut)
    student = build_top(backbone, cut, len(labels), pretrained=True)
    kept = {
        k: v for k, v in parent.top.state_dict().items() if not k.startswith("head.") and k not in ("mean", "scale")
    }
    student.load_state_dict(kept, strict=False)
    if fresh.tuned is not None and fresh.tuned_targets is not None:  # every readable new item, as in `fit`
        new_pooled = torch.from_numpy(np.asarray(fresh.tuned, dtype=np.float32))
        new_targets = torch.from_numpy(np.asarray(fresh.tuned_targets, dtype=np.int64))
    else:  # a per-class bound (`--memory N`), or features over half the cap: the stored new items only
        new_data = ActivationData([[v] for v in fresh.values], fresh.targets, backbone.modality, key)
        new_pooled, new_targets = pooled_features(student, new_data, config.batch_size, config.seed)
    if memory.tuned is not None and memory.tuned_targets is not None:  # every old item's features, as fitted
        old_pooled = torch.from_numpy(np.asarray(memory.tuned, dtype=np.float32))
        old_targets = torch.from_numpy(np.asarray(memory.tuned_targets, dtype=np.int64))
        old_source = f"all {len(old_pooled)} old training item(s) (their stored features)"
    else:  # older bundles: only the stored activations
        stored = ActivationData([[v] for v in memory.values], memory.targets, backbone.modality, key)
        old_pooled, old_targets = pooled_features(student, stored, config.batch_size, config.seed)
        old_source = f"{len(memory)} stored old item(s)"
    pooled, targets = torch.cat([old_pooled, new_pooled]), torch.cat([old_targets, new_targets])
    refit = refit_head(student, pooled, targets, labels, config)
    notes = [
        "head only (the default; --tune-stages trains the last stages first): the parent's tuned stages are "
        f"kept and the grown head is a class-balanced logistic regression (C={refit['C']:g}, cross-validated) "
        f"on their features of {old_source} and {len(new_pooled)} new item(s)"
    ]
    if len(new_pooled) < len(train):
        notes.append(f"{len(train) - len(new_pooled)} new item(s) unreadable or over the memory bound: not used")
    strategy_manifest = {
        **parent.manifest()["strategy"],
        "expand": {"head_only": True, "epochs_run": 0, "rehearsal_items": len(old_pooled), "head_refit": refit},
    }
    model = FinetuneModel(backbone, student, cut, labels, strategy_manifest)
    model.threads, model.batch_size = config.threads, config.batch_size
    with torch.no_grad():
        before = _head_answers(parent.top, old_pooled)
        after = _head_answers(student, old_pooled)
    return Expansion(
        model=model,
        memory=_child_memory(memory, fresh, fit_config, pooled, targets),
        method="grown head refit on the parent's features of stored activations + new data (head only)",
        n_train=len(pooled),
        rehearsal=len(old_pooled),
        notes=notes,
        checks=forgetting_checks(before, after, old_targets.numpy()),
    )


def _child_memory(
    memory: ExemplarMemory, fresh: ExemplarMemory, fit_config: FitConfig, pooled: torch.Tensor, targets: torch.Tensor
) -> ExemplarMemory | None:
    """The new bundle's memory: old + new activations under the cap, and, when the parent kept every item's
    features, those plus the new items' (still exact: a head-only expand leaves the stages unchanged).

    As in `activation_memory`, the features are kept only while they take less than half the cap: beyond it they
    would squeeze out every activation, and a memory without activations is not saved at all."""
    cap = memory_bytes(fit_config.memory_mb) or memory.max_bytes
    if memory.tuned is None or cap is None or feature_rows_bytes(*pooled.shape) >= cap // 2:
        return merge_memories(memory, fresh, fit_config.memory, cap)
    merged = merge_memories(memory, fresh, fit_config.memory, cap - feature_rows_bytes(*pooled.shape))
    if merged is not None:
        merged.tuned, merged.tuned_targets, merged.max_bytes = pooled.numpy(), targets.numpy(), cap
    return merged


def _head_answers(top: TopNet, pooled: torch.Tensor) -> np.ndarray:
    """Argmax of `top`'s standardisation + head on pooled features (what `top` answers for their items)."""
    return top.head((pooled - top.mean) / top.scale).argmax(dim=1).numpy()


class RefitHead(LinearHead):
    """Logistic regression whose cross-validated C also searches 10x below the linear strategy's grid.

    The tuned network was trained on the very items the head is refit on, so their features separate better
    than unseen ones will; the search then asks for the strongest regularisation on offer.
    """

    grid = (0.001, 0.003, 0.01, 0.1)

    def _choose_C(self, Xs: np.ndarray, y: np.ndarray, folds: Any) -> float:
        if folds is None:
            return 1.0
        scores = np.zeros(len(self.grid))
        for train, held_out in folds.split(Xs, y):
            model = self._estimator(self.grid[0]).set_params(warm_start=True)
            for j, C in enumerate(self.grid):
                model.set_params(C=C).fit(Xs[train], y[train])
                scores[j] += self._score(model, Xs[held_out], y[held_out])
        return float(self.grid[int(np.argmax(scores))])


def refit_head(
    student: TopNet, pooled: torch.Tensor, targets: torch.Tensor, labels: list[str], config: ExpandConfig
) -> dict[str, Any]:
    """Replace the student's head (and feature standardisation) by a class-balanced logistic regression with C
    chosen by cross-validation, fitted on the tuned network's pooled features (`pooled_features`) of stored + new items.

    The gradient phase learns good features but a poorly placed old/new boundary: its few epochs start from the
    parent's head, with the old classes seen only through stored items. A convex, balanced fit on the final
    features places it as a retrain's head would (bench/archive/2026-11-25-expand-history.md).
    """
    y = np.array(labels)[targets.numpy()]
    head = RefitHead(class_weight="balanced", seed=config.seed).fit(pooled.numpy(), y)
    reorder_rows(head, labels)
    student.init_head_from(head)
    return {
        "on": "tuned pooled features of the stored + new items (unaugmented)",
        "n": int(len(y)),
        "C": float(head.C_),
        "class_weight": "balanced",
    }
