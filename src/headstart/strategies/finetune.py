"""Gradient strategies: `partial:K` and `full` fine-tuning, and `scratch`, all through the one Trainer.

They differ only in where the cut is (what stays frozen in ONNX Runtime), which parameters train and at
what rates, and how the head starts:
- `partial:K` trains the last K stages and a new head from cached frozen-prefix activations; pretrained
  stages learn `lr_ratio` times slower than the head.
- `full` trains every stage with layer-wise decaying rates; the head starts from a linear probe on the
  frozen features (the "head first, then everything" recipe, LP-FT).
- `scratch` is the same architecture randomly initialised, trained with the same loop for longer.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from headstart.augment import AugmentSpec
from headstart.backbones.base import Backbone, State
from headstart.batches import decode_item, iter_batches
from headstart.config import FitConfig
from headstart.data.dataset import Dataset, SkippedItem
from headstart.data.modalities import get_modality
from headstart.data.splits import split_dataset
from headstart.errors import BadItemError, StrategyError
from headstart.features import Extraction, extract_activations, extract_features, item_digests
from headstart.manifest import HeadSection, StrategySection
from headstart.progress import progress_bar
from headstart.strategies.base import (
    DatasetPrediction,
    FitInputs,
    Model,
    Strategy,
    TrainReport,
    class_counts,
    output_labels,
    require_classes,
    require_targets,
)
from headstart.strategies.linear import LinearHead
from headstart.strategies.memory import activation_memory, strip_memory
from headstart.strategies.resume import run_fingerprint, run_options
from headstart.strategies.task_heads import task_head
from headstart.strategies.training_data import ActivationData, RawData, activation_key
from headstart.tasks import TASKS, Outputs, encode_targets, get_task, tune_thresholds
from headstart.train import (
    Callback,
    Checkpointer,
    EarlyStopping,
    ProgressBar,
    TimeBudget,
    Trainer,
    TrainerConfig,
    checkpoint_path,
)
from headstart.train.objectives import Objective, RegressionObjective, objective_for

if TYPE_CHECKING:
    from headstart.manifest import Manifest

DROPOUT = 0.1
LAYER_DECAY = 0.8
VALIDATION_FRACTION = 0.2
MIN_VALIDATION_ITEMS = 20  # below this, a held-out split only adds noise: train on everything instead


class TopNet(nn.Module):
    """Trainable copies of stages[cut:], the backbone's pooling, feature standardisation and a linear head."""

    mean: torch.Tensor  # buffers: the features' standardisation, saved with the weights
    scale: torch.Tensor

    def __init__(
        self, stages: list[nn.Module], pool: Callable[[State], torch.Tensor], dim: int, n_classes: int
    ) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self._pool = pool
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.dropout = nn.Dropout(DROPOUT)
        self.head = nn.Linear(dim, n_classes)

    def features(self, state: State) -> torch.Tensor:
        for stage in self.stages:
            state = stage(state)
        return self._pool(state)

    def forward(self, state: State) -> torch.Tensor:
        standardised = (self.features(state) - self.mean) / self.scale
        return self.head(self.dropout(standardised))

    def init_head_from(self, probe: LinearHead) -> None:
        """Start the head where a linear probe on the frozen features ended (binary probes expanded)."""
        coef, intercept = probe.coef_, probe.intercept_
        if coef.shape[0] == 1 and self.head.out_features == 2:
            coef = np.concatenate([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        with torch.no_grad():
            self.mean.copy_(torch.from_numpy(probe.mean_))
            self.scale.copy_(torch.from_numpy(probe.scale_))
            self.head.weight.copy_(torch.from_numpy(coef))
            self.head.bias.copy_(torch.from_numpy(intercept))


def build_top(backbone: Backbone, cut: int, n_classes: int, pretrained: bool = True) -> TopNet:
    """A TopNet over trainable copies of stages[cut:] (re-initialised when not `pretrained`)."""
    source = getattr(backbone.module(), "stages", None)
    if not isinstance(source, nn.ModuleList):
        raise StrategyError(
            f"backbone {backbone.name!r} does not expose its stages",
            expected="a backbone whose module() is a StagedNet (backbones/stage_net.py)",
            fix="fine-tune a built-in backbone, or use --strategy linear with this one",
        )
    stages = [copy.deepcopy(source[i]) for i in range(cut, len(source))]
    for stage in stages:
        for p in stage.parameters():
            p.requires_grad_(True)
        if not pretrained:
            for sub in stage.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset) and sub is not stage:
                    reset()
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.reset_running_stats()
                    sub.momentum = 0.1  # ported TF weights use 0.01: too slow for statistics learnt from zero
    return TopNet(stages, backbone.pool, backbone.feature_dim, n_classes)


def frozen_batchnorm(top: TopNet) -> list[nn.Module]:
    """BatchNorm layers of pretrained stages: kept in inference mode (their affine weights still train).

    Small fine-tuning batches give noisy batch statistics that wreck pretrained running averages.
    """
    return [m for m in top.stages.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class FinetuneModel(Model):
    """Frozen prefix stages[:cut] in ONNX Runtime, then the trained TopNet in torch."""

    backbone: Backbone  # always one: fine-tuning trains part of it

    def __init__(
        self,
        backbone: Backbone,
        top: TopNet,
        cut: int,
        labels: list[str],
        strategy: dict[str, Any],
        objective: Objective | None = None,
    ) -> None:
        self.objective = objective or Objective()
        self.backbone = backbone
        self.top = top.eval()
        self.cut = cut
        self.labels = labels
        self.strategy = strategy
        self.threads: int | None = None
        self.batch_size = 32
        self._runner: Any = None

    def _state(self, inputs: dict[str, np.ndarray]) -> State:
        if self.cut == 0:
            return {k: torch.from_numpy(v) for k, v in inputs.items()}
        if self._runner is None:
            from headstart.runtime import FrozenRunner

            self._runner = FrozenRunner(self.backbone, stop=self.cut, pooled=False, threads=self.threads)
        state = {activation_key(self.backbone, self.cut): torch.from_numpy(np.asarray(self._runner(inputs)))}
        if "attention_mask" in inputs:
            state["attention_mask"] = torch.from_numpy(inputs["attention_mask"])
        return state

    def _run(
        self, dataset: Dataset, output: Callable[[State], torch.Tensor], on_bad: str, label: str, progress: bool
    ) -> tuple[np.ndarray | None, list[int], list[SkippedItem]]:
        """`output` of every readable item's state, batch by batch (None when none was readable), the dataset
        indices of its rows, and the unreadable items (raised with `on_bad="fail"`)."""
        kept: list[int] = []
        rows: list[np.ndarray] = []
        skipped = []
        with torch.inference_mode(), progress_bar(label, total=len(dataset), enabled=progress) as advance:
            for indices, inputs, failures in iter_batches(self.backbone, dataset, self.batch_size):
                for i, reason in failures:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], reason)
                    skipped.append(SkippedItem(dataset.ids[i], reason))
                if indices:
                    rows.append(output(self._state(inputs)).float().numpy())
                    kept.extend(indices)
                advance(len(indices) + len(failures))
        return (np.concatenate(rows) if rows else None), kept, skipped

    def predict_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> DatasetPrediction:
        def outputs(state: State) -> torch.Tensor:
            return self.objective.outputs(self.top(state))

        proba, kept, skipped = self._run(dataset, outputs, on_bad, f"predict {self.backbone.name}", progress)
        if proba is None:
            proba = np.zeros((0, self.top.head.out_features))
        return DatasetPrediction(proba=proba, kept=np.array(kept, dtype=np.int64), labels=self.labels, skipped=skipped)

    def embed_dataset(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False, cache: bool = False
    ) -> Extraction:
        """The fine-tuned network's pooled features (what its head reads, before standardisation) of the usable
        items: the frozen prefix in ONNX Runtime, the trained stages in torch; nothing is cached."""
        started = time.perf_counter()
        label = f"embed {self.backbone.name} (fine-tuned)"
        features, kept, skipped = self._run(dataset, self.top.features, on_bad, label, progress)
        if features is None:
            features = np.zeros((0, self.backbone.feature_dim), dtype=np.float32)
        return Extraction(
            features=features.astype(np.float32, copy=False),
            kept=np.array(kept, dtype=np.int64),
            skipped=skipped,
            n_computed=len(kept),
            seconds=time.perf_counter() - started,
        )

    def sections(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "head": {"type": "finetuned", "dropout": DROPOUT, "cut": self.cut}}

    def export_module(self) -> nn.Module:
        """Frozen stages[:cut] then the trained top and a softmax: `module(*inputs)` → probabilities."""
        return _FinetuneExport(self.backbone, self.top, self.cut).eval()

    def feature_module(self) -> nn.Module:
        """Frozen stages[:cut] then the trained stages and pool: `module(*inputs)` → `embed_dataset`'s features."""
        return _FinetuneExport(self.backbone, self.top, self.cut, features=True).eval()

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.top.state_dict().items()}


class _FinetuneExport(nn.Module):
    """The whole fine-tuned model with positional tensor inputs, as exporters need: probabilities, or with
    `features` the pooled features its head reads (`embed_dataset`'s rows)."""

    def __init__(self, backbone: Backbone, top: TopNet, cut: int, features: bool = False) -> None:
        super().__init__()
        self.net = backbone.module()  # registered so the frozen weights are part of the graph
        self.top = top
        self._backbone, self._names, self.cut, self.features = backbone, list(backbone.input_names), cut, features

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        state = self._backbone.forward(dict(zip(self._names, inputs, strict=True)), 0, self.cut)
        if self.features:
            return self.top.features(state)
        return torch.softmax(self.top(state), dim=1)


def objective_manifest(objective: Objective) -> dict[str, Any]:
    """The loss, and for regression the target standardisation the outputs are mapped back with."""
    if isinstance(objective, RegressionObjective):
        return {"name": objective.name, "mean": objective.mean, "scale": objective.scale}
    return {"name": objective.name}


class GradientSection(StrategySection):
    """`strategy` of a fine-tuned bundle: where the backbone is cut and how the top trained (`load` reads `cut` and
    `objective`)."""

    cut: int
    frozen_stages: list[str] = []
    trainable_stages: list[str] = []
    pretrained: bool = True
    param_groups: list[dict[str, Any]] = []
    epochs_run: int | None = None
    best_epoch: int | None = None
    stop_reason: str | None = None
    objective: dict[str, Any] = {}  # the loss: name (and a regression target's mean and scale), or body/head
    augment: dict[str, Any] | None = None
    views: int | None = None
    trainer: dict[str, Any] = {}
    expand: dict[str, Any] | None = None  # how `expand` tuned it


class FinetunedHeadSection(HeadSection):
    """`head` of a fine-tuned bundle."""

    dropout: float | None = None
    cut: int | None = None


class GradientStrategy(Strategy):
    """Shared fit/load for partial, full and scratch; subclasses choose the cut, groups and defaults."""

    tasks = TASKS
    options = frozenset({"max_epochs", "lr", "lr_ratio", "patience", "time_budget"})
    image_options = frozenset({"augment"})
    task_options = {"regression": frozenset({"loss"})}
    checkpoints = True
    expansion = "finetuned"
    manifest_section = GradientSection
    head_section = FinetunedHeadSection

    pretrained = True
    default_epochs = 15
    default_lr = 1e-3
    default_patience = 4

    def cut(self, backbone: Backbone, params: dict[str, Any]) -> int:
        raise NotImplementedError

    def param_groups(self, top: TopNet, lr: float, ratio: float) -> list[dict[str, Any]]:
        raise NotImplementedError

    def fit(self, inputs: FitInputs) -> FinetuneModel:
        config, backbone = inputs.config, inputs.backbone
        assert backbone is not None and inputs.train.labels is not None
        cut = self.cut(backbone, inputs.params)
        train, validation, notes = self._validation_split(inputs)
        task = inputs.train.task
        kind = get_task(task)
        labels = output_labels(inputs.train, config.target)

        def encode(values: list[str]) -> np.ndarray:
            return encode_targets(values, task, labels)

        train_data, n_train, skipped, cache_counts = self._training_data(backbone, train, cut, config, encode)
        if kind.outputs is Outputs.CLASSES:
            require_classes([labels[t] for t in train_data.targets])
        else:
            require_targets(train_data.targets, task)
        val_data = (
            self._training_data(backbone, validation, cut, config, encode, evaluation=True)[0] if validation else None
        )
        objective = self._objective(task, config, train_data.targets)

        top = build_top(backbone, cut, len(labels), pretrained=self.pretrained)
        if self.pretrained:
            top.init_head_from(self._probe(backbone, train, config, labels, objective))
        lr = config.lr or self.default_lr
        trainer_config = TrainerConfig(
            max_epochs=config.max_epochs or self.default_epochs, batch_size=config.batch_size, seed=config.seed
        )
        checkpoints = self._start_run(config, train)
        trainer = Trainer(
            top,
            self.param_groups(top, lr, config.lr_ratio),
            trainer_config,
            objective=objective,
            frozen=frozen_batchnorm(top) if self.pretrained else (),
            callbacks=[
                *self._early_stopping(config, validated=val_data is not None and len(val_data) > 0),
                TimeBudget(config.time_budget),
                checkpoints,
                ProgressBar(self.name, n_train, enabled=config.progress),
            ],
        )
        state = trainer.fit(train_data, val_data)
        notes.extend(self._end_run(checkpoints, state))
        manifest = self._manifest(backbone, cut, config, trainer, state)
        model = FinetuneModel(backbone, top, cut, labels, manifest, objective)
        model.task = task
        if kind.outputs is Outputs.TAGS:
            held_out = val_data if val_data is not None and len(val_data) else train_data
            model.thresholds = tune_thresholds(held_out.targets, trainer.predict(held_out))
            notes.append(
                f"per-tag thresholds tuned on the {len(held_out)} "
                + ("held-out validation items" if held_out is val_data else "training items (no validation split)")
            )
        if "memory" in kind.supports:  # every training item is a candidate, the held-out validation part included
            model.memory = activation_memory(backbone, inputs.train, cut, config, labels, top=top)
        else:
            model.memory = None
        model.report = TrainReport(
            n_train=n_train,
            skipped=skipped,
            features_cached=cache_counts[0],
            features_computed=cache_counts[1],
            history=state.history,
            notes=notes,
            class_counts=train.class_counts()
            if kind.outputs is not Outputs.CLASSES
            else class_counts([labels[t] for t in train_data.targets]),
        )
        return model

    def _early_stopping(self, config: FitConfig, validated: bool) -> list[Callback]:
        """Early stopping and best-epoch restore on the validation split; without one, only when the user set
        --patience (then on the training loss), else none: the last epoch's weights are kept."""
        if validated:
            return [EarlyStopping(patience=self.default_patience if config.patience is None else config.patience)]
        return [EarlyStopping(patience=config.patience)] if config.patience else []

    @staticmethod
    def _start_run(config: FitConfig, train: Dataset) -> Checkpointer:
        """Seed torch, set its threads, and open this run's checkpoint (resumed with `--resume`)."""
        torch.manual_seed(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        options = run_options(config, train)
        return Checkpointer(
            checkpoint_path(config.out), resume=config.resume, fingerprint=run_fingerprint(options), options=options
        )

    @staticmethod
    def _end_run(checkpoints: Checkpointer, state: Any) -> list[str]:
        """Drop the finished run's checkpoint; notes on a resume and on why training stopped early."""
        checkpoints.remove()
        notes = list(checkpoints.notes)
        if checkpoints.resumed_from is not None:
            notes.append(f"resumed from the checkpoint of epoch {checkpoints.resumed_from}")
        if state.stop_reason:
            notes.append(state.stop_reason)
        return notes

    def _objective(self, task: str, config: FitConfig, targets: np.ndarray) -> Objective:
        """The task's loss; regression trains on the target standardised by its training mean and spread."""
        if get_task(task).outputs is not Outputs.VALUE:
            return objective_for(task, label_smoothing=TrainerConfig().label_smoothing)
        return objective_for(task, loss=config.loss, mean=float(targets.mean()), scale=float(targets.std()) or 1.0)

    def _validation_split(self, inputs: FitInputs) -> tuple[Dataset, Dataset | None, list[str]]:
        if inputs.validation is not None and len(inputs.validation):
            return inputs.train, inputs.validation, []
        counts = inputs.train.class_counts()
        if get_task(inputs.train.task).stratifies_by_class and min(counts.values()) < 2:
            return inputs.train, None, [_no_validation_note("a class has a single example", inputs.config)]
        if len(inputs.train) * VALIDATION_FRACTION < MIN_VALIDATION_ITEMS:
            why = f"{len(inputs.train)} training items are too few to hold out {MIN_VALIDATION_ITEMS}"
            return inputs.train, None, [_no_validation_note(why, inputs.config)]
        parts = split_dataset(inputs.train, test_size=VALIDATION_FRACTION, seed=inputs.config.seed)
        note = f"held out {len(parts.test)} training items for validation (early stopping, best epoch)"
        return parts.train, parts.test, [note]

    def _probe(
        self, backbone: Backbone, train: Dataset, config: FitConfig, labels: list[str], objective: Objective
    ) -> Any:
        """A linear head on the frozen features to start the trained head from (in the objective's units)."""
        x = extract_features(
            backbone,
            train,
            threads=config.threads,
            batch_size=config.batch_size,
            on_bad=config.on_bad,
            progress=config.progress,
        )
        assert train.labels is not None
        if get_task(train.task).outputs is not Outputs.CLASSES:
            y = encode_targets([train.labels[i] for i in x.kept], train.task, labels)
            if isinstance(objective, RegressionObjective):
                y = (y - objective.mean) / objective.scale
            return task_head(train.task, seed=config.seed).fit(x.features, y)
        y = np.array([train.labels[i] for i in x.kept])
        probe = LinearHead(seed=config.seed).fit(x.features, y)  # C by CV: a softer start than an overfit probe
        if list(probe.classes_) != labels:
            raise StrategyError("a class lost all its examples to unreadable items", fix="check `headstart inspect`")
        return probe

    def _training_data(
        self,
        backbone: Backbone,
        data: Dataset,
        cut: int,
        config: FitConfig,
        encode: Callable[[list[str]], np.ndarray],
        evaluation: bool = False,
    ) -> tuple[ActivationData | RawData, int, list[Any], tuple[int, int]]:
        assert data.labels is not None
        augment = AugmentSpec() if config.augment and not evaluation else None
        if cut > 0:
            acts = extract_activations(
                backbone,
                data,
                cut,
                views=config.views,
                augment=augment,
                seed=config.seed,
                batch_size=config.batch_size,
                threads=config.threads,
                on_bad=config.on_bad,
                progress=config.progress,
            )
            targets = encode([data.labels[i] for i in acts.kept])
            source = ActivationData(acts.values, targets, backbone.modality, activation_key(backbone, cut))
            return source, len(acts.kept), acts.skipped, (acts.n_cached, acts.n_computed)
        items, kept, skipped = [], [], []
        for i in range(len(data)):
            try:
                items.append(decode_item(data, i))
                kept.append(i)
            except BadItemError as err:
                if config.on_bad == "fail":
                    raise
                skipped.append(SkippedItem(data.ids[i], err.reason))
        digests = item_digests(data)
        targets = encode([data.labels[i] for i in kept])
        return RawData(backbone, items, [digests[i] for i in kept], targets, augment), len(kept), skipped, (0, 0)

    def _manifest(
        self, backbone: Backbone, cut: int, config: FitConfig, trainer: Trainer, state: Any
    ) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": config.strategy,
            "cut": cut,
            "frozen_stages": backbone.stages[:cut],
            "trainable_stages": backbone.stages[cut:],
            "pretrained": self.pretrained,
            "param_groups": trainer.describe_groups(),
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch if state.best_epoch >= 0 else None,  # None: no best-epoch selection
            "stop_reason": state.stop_reason,
            "objective": objective_manifest(trainer.objective),
            "augment": AugmentSpec().to_dict()
            if config.augment and get_modality(backbone.modality).augmentable
            else None,
            "views": config.views if cut > 0 else None,
            "trainer": {
                "max_epochs": config.max_epochs or self.default_epochs,
                "lr": config.lr or self.default_lr,
                "lr_ratio": config.lr_ratio,
                "batch_size": config.batch_size,
                "optimizer": "AdamW",
                "schedule": "linear warm-up (1 epoch) then cosine",
                "label_smoothing": getattr(trainer.objective, "label_smoothing", 0.0),
                "weight_decay": TrainerConfig().weight_decay,
            },
        }

    def load(self, manifest: Manifest, tensors: dict[str, np.ndarray], backbone: Backbone | None) -> FinetuneModel:
        assert backbone is not None
        section = GradientSection.of(manifest.strategy)
        cut, task, recorded = section.cut, manifest.task, section.objective
        objective = objective_for(
            task,
            loss=recorded.get("name", "mse"),
            mean=float(recorded.get("mean", 0.0)),
            scale=float(recorded.get("scale", 1.0)),
        )
        outputs = len(manifest.kind.output_names(manifest.labels, None))
        top = build_top(backbone, cut, outputs, pretrained=True)
        top.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in strip_memory(tensors).items()})
        model = FinetuneModel(backbone, top, cut, manifest.labels, manifest.strategy.to_dict(), objective)
        model.task = task
        return model


class PartialStrategy(GradientStrategy):
    """`partial:K`: freeze all but the last K stages; train those and a new head."""

    name = "partial"
    description = "freeze early stages (cached in ONNX Runtime), train the last K stages + head"
    image_options = frozenset({"augment", "views"})  # views: augmented copies of the cached prefix's activations

    def cut(self, backbone: Backbone, params: dict[str, Any]) -> int:
        """The first trained stage for `NAME:K`: the last K of the backbone's stages train (1 <= K < stages)."""
        n, name = len(backbone.stages), self.name
        arg = params.get("arg", "1")
        expected = f"{name}:K with 1 <= K <= {n - 1} for {backbone.name} (stages: {', '.join(backbone.stages)})"
        if not str(arg).isdigit():
            raise StrategyError(
                f"{name}:{arg}: K must be a whole number of stages",
                expected=expected,
                fix=f"e.g. --strategy {name}:2 retrains the last 2 stages",
            )
        if int(arg) < 1:
            raise StrategyError(
                f"{name}:{arg} trains no stage",
                expected=expected,
                fix="use K >= 1, or `linear` to train only a head on the frozen network",
            )
        if int(arg) > n - 1:
            raise StrategyError(
                f"{name}:{arg} does not fit {backbone.name}, which has {n} stages",
                expected=expected,
                fix=f"use `full` to train every stage, or a smaller K (at most {n - 1})",
            )
        return n - int(arg)

    def param_groups(self, top: TopNet, lr: float, ratio: float) -> list[dict[str, Any]]:
        return [
            {"name": "pretrained stages", "params": list(top.stages.parameters()), "lr": lr / ratio},
            {"name": "head", "params": list(top.head.parameters()), "lr": lr},
        ]


class FullStrategy(GradientStrategy):
    """`full`: every stage trains, earlier stages slower (layer-wise decay); head starts from a probe."""

    name = "full"
    description = "train every stage with layer-wise learning-rate decay, head first from a linear probe"
    default_epochs = 10

    def cut(self, backbone: Backbone, params: dict[str, Any]) -> int:
        return 0

    def param_groups(self, top: TopNet, lr: float, ratio: float) -> list[dict[str, Any]]:
        n = len(top.stages)
        groups = [
            {"name": f"stage {i}", "params": list(stage.parameters()), "lr": lr / ratio * LAYER_DECAY ** (n - 1 - i)}
            for i, stage in enumerate(top.stages)
        ]
        return [*groups, {"name": "head", "params": list(top.head.parameters()), "lr": lr}]


class ScratchStrategy(FullStrategy):
    """`scratch`: the same network randomly initialised, one learning rate, a longer schedule."""

    name = "scratch"
    description = "same architecture, random initialisation, no transfer (the yardstick)"
    pretrained = False
    default_epochs = 30
    default_lr = 3e-3
    default_patience = 8

    def param_groups(self, top: TopNet, lr: float, ratio: float) -> list[dict[str, Any]]:
        return [{"name": "all", "params": list(top.parameters()), "lr": lr}]


def _no_validation_note(why: str, config: FitConfig) -> str:
    """What training does without a validation split: no early stopping unless --patience asked for it."""
    if config.patience:
        return (
            f"no validation split ({why}): trained on all of them; early stopping on the training loss, as "
            f"--patience {config.patience} asks (the epoch with the lowest training loss is kept)"
        )
    return (
        f"no validation split ({why}): trained on all of them, with no early stopping or best-epoch selection "
        "(the last epoch's weights are kept)"
    )
