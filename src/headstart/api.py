"""The facade: every CLI command and HTTP handler calls exactly one function here, and each runs one command.

`headstart serve` is the one command that calls the HTTP face instead (`headstart.server`, whose handlers call
`predict_batch` here): the face sits above the api, so the api never imports it.

Each function takes the command's options as typed keywords whose defaults are read from the command's config
model (`headstart.config`), validates them into that model, and returns the command's typed result.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Never

from pydantic import BaseModel

from headstart import tracking
from headstart.backbones import list_backbones as _registry_list
from headstart.backbones.base import BackboneInfo
from headstart.bundle import Inputs, Predictor
from headstart.bundle import load as _load_bundle
from headstart.config import (
    DataOptions,
    EvaluateConfig,
    ExpandConfig,
    FitConfig,
    OcrOptions,
    PredictConfig,
    PromoteGate,
    RankConfig,
    StudyConfig,
    data_path,
    validated,
)
from headstart.data import InspectReport
from headstart.tasks import Answer

if TYPE_CHECKING:
    from headstart.commands import evaluate as _evaluate
    from headstart.commands import expand as _expand
    from headstart.commands import export as _export
    from headstart.commands import fit as _fit
    from headstart.commands import inspect as _inspect
    from headstart.commands import predict as _predict
    from headstart.commands import promote as _promote
    from headstart.commands import rank as _rank
    from headstart.commands import reproduce as _reproduce
    from headstart.commands import runs as _runs
    from headstart.commands import study as _study
    from headstart.commands.evaluate import EvaluateResult
    from headstart.commands.export import ExportResult
    from headstart.commands.fit import FitResult
    from headstart.commands.predict import Prediction, PredictResult
    from headstart.commands.reproduce import ReproduceResult
    from headstart.services.expand import ExpandResult
    from headstart.services.promotion import PromotionResult
    from headstart.services.study import StudyResult
    from headstart.services.study.run import Event
    from headstart.transferability import RankResult
else:  # each command's module loads when the command runs: a prediction does not load training code (or torch)

    class _OnUse:
        """A command's module, imported at its first attribute access (then `api._fit.fit` is the real one)."""

        def __init__(self, module: str) -> None:
            self._module = module

        def __getattr__(self, name: str) -> Any:
            return getattr(importlib.import_module(self._module), name)

    _evaluate, _expand, _export, _fit, _inspect, _predict, _promote, _rank, _reproduce, _runs, _study = (
        _OnUse(f"headstart.commands.{name}")
        for name in ("evaluate", "expand", "export", "fit", "inspect", "predict", "promote", "rank", "reproduce",
                     "runs", "study")
    )  # fmt: skip

# The result types the functions return, importable from here (`from headstart.api import FitResult`); each loads
# with its command's module, on first use.
_RESULT_TYPES = {
    "EvaluateResult": "headstart.commands.evaluate",
    "FitResult": "headstart.commands.fit",
    "Prediction": "headstart.commands.predict",
    "PredictResult": "headstart.commands.predict",
    "ExportResult": "headstart.commands.export",
    "ReproduceResult": "headstart.commands.reproduce",
    "ExpandResult": "headstart.services.expand",
    "PromotionResult": "headstart.services.promotion",
    "StudyResult": "headstart.services.study",
    "RankResult": "headstart.transferability",
    "Event": "headstart.services.study.run",
}


def __getattr__(name: str) -> Any:
    """A result type (`FitResult`...), from its command's module the first time it is asked for (PEP 562)."""
    if name not in _RESULT_TYPES:
        raise AttributeError(f"module 'headstart.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_RESULT_TYPES[name]), name)
    globals()[name] = value
    return value


__all__ = ["evaluate", "expand", "export", "fit", "inspect", "list_backbones", "load", "predict", "predict_batch"]
__all__ += ["promote", "rank", "reproduce", "run_details", "runs", "study", "tracking_store"]
__all__ += ["EvaluateResult", "ExportResult", "FitResult", "Prediction", "PredictResult", "ReproduceResult"]
__all__ += ["ExpandResult", "PromotionResult", "RankResult", "StudyResult"]


def _default(model: type[BaseModel], name: str) -> Any:
    """The default of a config field: the one source of every default below."""
    return model.model_fields[name].get_default(call_default_factory=True)


def _options(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The options of `model` among a function's `locals()`, plus whatever `**unknown: Never` caught.

    A type checker refuses a mistyped keyword (`Never`); at run time it reaches the config model, whose UsageError
    names the closest option (`labels_per_clas` -> did you mean `labels_per_class`?).
    """
    named = {name: value for name, value in values.items() if name in model.model_fields}
    return {**named, **values.get("unknown", {})}


def list_backbones(include_test: bool = False) -> list[BackboneInfo]:
    """Backbones installed here (`include_test`: also the tiny test backbones)."""
    return _registry_list(include_test=include_test)


def inspect(
    data: str | Path,
    *,
    text_column: str | None = _default(DataOptions, "text_column"),
    label_column: str | None = _default(DataOptions, "label_column"),
    task: str = _default(DataOptions, "task"),
    target: str | None = _default(DataOptions, "target"),
    separator: str = _default(DataOptions, "separator"),
    decode: bool = True,
    threads: int = 2,
    progress: bool = False,
    ocr_max_side: int | None = _default(OcrOptions, "ocr_max_side"),
    ocr_max_pages: int | None = _default(OcrOptions, "ocr_max_pages"),
    ocr_orientation: bool | None = _default(OcrOptions, "ocr_orientation"),
) -> InspectReport:
    """Per-class (per-tag) counts or the target's distribution, unreadable items, duplicates and warnings.

    `decode` (default) decodes every image as `fit` would, so truncated files are found; False reads headers only.
    Documents: each field's weak-label coverage in their OCR lines (OCR on `threads` cores where none are given,
    read as `ocr_max_side`, `ocr_max_pages`, `ocr_orientation` say: pass those `fit` will use), and the documents
    skipped (blank, unreadable) or noted (pages cut, fields not findable).
    """
    ocr: OcrOptions = validated(
        OcrOptions, ocr_max_side=ocr_max_side, ocr_max_pages=ocr_max_pages, ocr_orientation=ocr_orientation
    )
    return _inspect.inspect(
        data_path(data, "inspect"),
        text_column=text_column,
        label_column=label_column,
        task=task,
        target=target,
        separator=separator,
        decode=decode,
        threads=threads,
        progress=progress,
        ocr=ocr.ocr_settings(),
    )


def load(bundle: str | Path, *, allow_download: bool = False) -> Predictor:
    """Load the bundle folder written by `fit` (format, files and backbone weights are checked) for prediction.

    The `Predictor` answers `predict(inputs)` (labels), `predict_proba(inputs)` (one row per input, columns in
    `.labels` order) and `embed(inputs)`; inputs are one text or file path, or a list of them. A backbone named by
    a Hugging Face hub id is never downloaded unless `allow_download` (or `HEADSTART_ALLOW_DOWNLOAD=1`).
    """
    return _load_bundle(bundle, allow_download=allow_download)


def fit(
    data: str | Path,
    *,
    out: str = _default(FitConfig, "out"),
    strategy: str = _default(FitConfig, "strategy"),
    backbone: str | None = _default(FitConfig, "backbone"),
    labels_per_class: int | None = _default(FitConfig, "labels_per_class"),
    test_size: float = _default(FitConfig, "test_size"),
    seed: int = _default(FitConfig, "seed"),
    head: str = _default(FitConfig, "head"),
    C: float | None = _default(FitConfig, "C"),
    text_backbone: str | None = _default(FitConfig, "text_backbone"),
    label_descriptions: str | None = _default(FitConfig, "label_descriptions"),
    prompt_templates: list[str] | str | None = _default(FitConfig, "prompt_templates"),
    max_epochs: int | None = _default(FitConfig, "max_epochs"),
    lr: float | None = _default(FitConfig, "lr"),
    lr_ratio: float = _default(FitConfig, "lr_ratio"),
    patience: int | None = _default(FitConfig, "patience"),
    augment: bool = _default(FitConfig, "augment"),
    views: int = _default(FitConfig, "views"),
    resume: bool = _default(FitConfig, "resume"),
    time_budget: float | str | None = _default(FitConfig, "time_budget"),
    candidates: list[str] | None = _default(FitConfig, "candidates"),
    memory: int | None = _default(FitConfig, "memory"),
    memory_mb: float | None = _default(FitConfig, "memory_mb"),
    loss: str = _default(FitConfig, "loss"),
    text_column: str | None = _default(FitConfig, "text_column"),
    label_column: str | None = _default(FitConfig, "label_column"),
    task: str = _default(FitConfig, "task"),
    target: str | None = _default(FitConfig, "target"),
    separator: str = _default(FitConfig, "separator"),
    on_bad: str = _default(FitConfig, "on_bad"),
    threads: int | None = _default(FitConfig, "threads"),
    batch_size: int = _default(FitConfig, "batch_size"),
    progress: bool = _default(FitConfig, "progress"),
    engine: str = _default(FitConfig, "engine"),
    ray_address: str | None = _default(FitConfig, "ray_address"),
    track: bool = _default(FitConfig, "track"),
    ocr_max_side: int | None = _default(FitConfig, "ocr_max_side"),
    ocr_max_pages: int | None = _default(FitConfig, "ocr_max_pages"),
    ocr_orientation: bool | None = _default(FitConfig, "ocr_orientation"),
    **unknown: Never,
) -> FitResult:
    """Adapt a pretrained backbone to the labelled data at `data`, score it on a held-out test split, save a bundle.

    Args:
        data: an image folder (`<root>/<class>/<file>`, or `train/` + `test/` of those) or a table (.csv, .tsv,
            .jsonl, .parquet) of texts or image paths with labels. A DataFrame: `df.to_csv("data.csv", index=False)`.
            A documents folder (page images or PDFs under `img/`, fields in `key/<stem>.json` or `fields.csv`,
            optional OCR lines in `box/`) fits the fields of each document.
        out: the bundle folder to write (default "model"); load it with `headstart.load(out)`.
        strategy: "linear" (default: a head on frozen features), "partial:K", "full", "contrastive[:K]",
            "scratch", "baseline", "zero-shot" or "auto"; on documents "linear" (a text encoder on OCR lines),
            "baseline" (TF-IDF) or "rules".
        backbone: a pretrained network from `headstart.list_backbones()` (default: one per modality).
        labels_per_class: train on only this many labelled items per class (a few-shot label budget; documents:
            this many training documents).
        test_size: the fraction held out for the test metrics when the data has no split column (default 0.2).
        seed: one seed for the split, the label budget and training (default 0).
        max_epochs, lr, patience: gradient strategies (partial, full, scratch, contrastive).
        prompt_templates: with an image-text backbone (CLIP, SigLIP), the templates zero-shot and linear's text
            prior put each label into, "{}" once where it goes (default: "a photo of a {}." and two others).
        time_budget: stop training gracefully after this long: seconds, or "90s", "10m", "1h".
        text_column, label_column, task, target, separator: how to read a table (detected when left out).
        threads: CPU threads (default: all cores). progress: progress bars (default True).
        track: record the run in MLflow (default True; see `headstart.runs()`).
        ocr_max_side, ocr_max_pages, ocr_orientation: documents: how OCR reads pages (longest side in px, pages
            per document, turning pages upright; None: `headstart.ocr.OcrSettings`' default), kept in the bundle.

    Every option is a field of `headstart.config.FitConfig` (same names as the CLI flags, with `_`), which
    validates it. Returns a `FitResult`: `.bundle`, `.metrics` (test accuracy, macro_f1, ...), `.counts`, `.notes`.
    """
    options = _options(FitConfig, locals())
    data = data_path(data, "fit")
    config: FitConfig = validated(FitConfig, **options)
    return _fit.fit(data, config)


def evaluate(
    bundle: str | Path,
    data: str | Path,
    *,
    split: str | None = _default(EvaluateConfig, "split"),
    text_column: str | None = _default(EvaluateConfig, "text_column"),
    label_column: str | None = _default(EvaluateConfig, "label_column"),
    task: str = _default(EvaluateConfig, "task"),
    target: str | None = _default(EvaluateConfig, "target"),
    separator: str | None = None,
    on_bad: str = _default(EvaluateConfig, "on_bad"),
    threads: int | None = _default(EvaluateConfig, "threads"),
    batch_size: int = _default(EvaluateConfig, "batch_size"),
    progress: bool = _default(EvaluateConfig, "progress"),
    **unknown: Never,
) -> EvaluateResult:
    """Metrics of the bundle at `bundle` on labelled `data` (a folder or table, using only the bundle's labels).

    Options (fields of `headstart.config.EvaluateConfig`): text_column, label_column, on_bad ("skip" lists
    unreadable items in `.skipped`, "fail" raises), split ("test": DATA's test split, the default when it marks
    one; "all": every item), separator (default: the bundle's), threads, batch_size, progress. Returns an
    `EvaluateResult`: `.accuracy`, `.macro_f1`, the full `.report` (per-class precision/recall/F1, confusion
    matrix, ECE), `.split`, `.missing_classes` (left out of macro-F1), `.notes` and `.warnings` (DATA is the
    model's training data).
    """
    options = _options(EvaluateConfig, locals())
    data = data_path(data, "evaluate")
    return _evaluate.evaluate(bundle, data, _evaluate_config(options))


def _evaluate_config(options: dict[str, Any]) -> EvaluateConfig:
    """`EvaluateConfig` from the facade's keywords; no separator means the bundle's, so it is left unset."""
    if options.get("separator") is None:
        options = {name: value for name, value in options.items() if name != "separator"}
    config: EvaluateConfig = validated(EvaluateConfig, **options)
    return config


def predict(
    bundle: str | Path,
    inputs: Inputs,
    *,
    out: str | Path | None = None,
    top_k: int = _default(PredictConfig, "top_k"),
    text_column: str | None = _default(PredictConfig, "text_column"),
    on_bad: str = _default(PredictConfig, "on_bad"),
    threads: int | None = _default(PredictConfig, "threads"),
    batch_size: int = _default(PredictConfig, "batch_size"),
    progress: bool = _default(PredictConfig, "progress"),
    ocr_max_side: int | None = _default(PredictConfig, "ocr_max_side"),
    ocr_max_pages: int | None = _default(PredictConfig, "ocr_max_pages"),
    ocr_orientation: bool | None = _default(PredictConfig, "ocr_orientation"),
    **unknown: Never,
) -> PredictResult:
    """Labels with probabilities for image files/folders, a table or text file, or raw texts.

    `inputs` is one text or path, or a list of them (a str is one input). Options (fields of
    `headstart.config.PredictConfig`): top_k (default 3), on_bad ("skip": unreadable inputs are left out and
    listed in `.skipped`; "fail": raise), text_column, threads, batch_size, progress, and for documents
    ocr_max_side, ocr_max_pages, ocr_orientation (None: as the bundle was fitted; a setting that differs is noted in
    `.notes`). Returns a `PredictResult` (`.predictions`, `.skipped`, `.notes`).

    With `out` (a .csv/.tsv/.jsonl/.parquet file name) the predictions are also written there, one row per input:
    a single predicted table keeps all its columns and rows, with the prediction columns appended.
    """
    config: PredictConfig = validated(PredictConfig, **_options(PredictConfig, locals()))
    return _predict.predict(bundle, inputs, config, out)


def predict_batch(predictor: Predictor, items: Sequence[str], *, top_k: int | Sequence[int] = 3) -> list[Answer | str]:
    """Answers of an already loaded `predictor` (`load`) for `items` of its modality, in one forward pass: each
    item's `Answer` with its `top_k` labels (one k for all, or one per item), or the reason it could not be used.

    The HTTP service's micro-batches run this: requests queued together are answered by one call.
    """
    return _predict.predict_batch(predictor, items, top_k)


def export(
    bundle: str | Path, *, out: str | Path | None = None, format: str = "onnx", force: bool = False
) -> ExportResult:
    """Write the whole model as one ONNX file (default `BUNDLE/model.onnx`) plus a JSON sidecar.

    `out` may be a folder (`model.onnx` inside). A file that is not an earlier export is not overwritten unless
    `force`. Returns an `ExportResult`; the export is checked against the bundle (max abs diff). A fields bundle
    writes a folder instead (default `BUNDLE/export`: OCR models, encoder and tagger ONNX, arrays, a card).
    """
    return _export.export(bundle, out=out, format=format, force=force)


def rank(
    data: str | Path,
    *,
    backbones: list[str] | None = _default(RankConfig, "backbones"),
    cuts: str | list[int | str] = _default(RankConfig, "cuts"),
    metric: str = _default(RankConfig, "metric"),
    labels_per_class: int | None = _default(RankConfig, "labels_per_class"),
    max_items: int | None = _default(RankConfig, "max_items"),
    seed: int = _default(RankConfig, "seed"),
    text_column: str | None = _default(RankConfig, "text_column"),
    label_column: str | None = _default(RankConfig, "label_column"),
    task: str = _default(RankConfig, "task"),
    target: str | None = _default(RankConfig, "target"),
    separator: str = _default(RankConfig, "separator"),
    on_bad: str = _default(RankConfig, "on_bad"),
    threads: int | None = _default(RankConfig, "threads"),
    batch_size: int = _default(RankConfig, "batch_size"),
    progress: bool = _default(RankConfig, "progress"),
    engine: str = _default(RankConfig, "engine"),
    ray_address: str | None = _default(RankConfig, "ray_address"),
    track: bool = _default(RankConfig, "track"),
    **unknown: Never,
) -> RankResult:
    """Transferability scores of every (backbone, cut) on the training split of `data`, best first.

    Options are the fields of `headstart.config.RankConfig` (backbones, cuts="last"|"all"|list, metric="logme",
    labels_per_class, max_items, seed, task/target/separator, ...). Returns a `RankResult`.
    """
    options = _options(RankConfig, locals())
    data = data_path(data, "rank")
    config: RankConfig = validated(RankConfig, **options)
    return _rank.rank(data, config)


def runs(
    *, data: str | None = None, strategy: str | None = None, kind: str | None = None, limit: int = 20
) -> list[tracking.RunRecord]:
    """Tracked runs, newest first; `data` is a dataset path (matched by path or current fingerprint) or a
    fingerprint prefix."""
    return _runs.runs(data=data, strategy=strategy, kind=kind, limit=limit)


def tracking_store() -> str:
    """The tracking store in use: `$HEADSTART_TRACKING_URI`, else `./headstart-runs/` (a SQLite file)."""
    return _runs.tracking_store()


def run_details(run_id: str) -> tracking.RunRecord:
    """One tracked run (full id or a unique prefix): params, metrics, tags and artifact list."""
    return _runs.run_details(run_id)


def reproduce(
    run_id: str, *, out: str | Path | None = None, data: str | Path | None = None, progress: bool = True
) -> ReproduceResult:
    """Re-run a tracked fit with its recorded config on the same data and compare the metrics.

    Refuses with a DataError naming the added/removed/modified items when the data's fingerprint changed.
    Returns a `ReproduceResult`.
    """
    return _reproduce.reproduce(run_id, out=out, data=data, progress=progress)


def promote(
    candidate: str | Path,
    over: str | Path,
    on: str | Path,
    *,
    metric: str = _default(PromoteGate, "metric"),
    margin: float = _default(PromoteGate, "margin"),
    class_tolerance: float = _default(PromoteGate, "class_tolerance"),
    model_name: str = _default(PromoteGate, "model_name"),
    allow_missing_classes: bool = _default(PromoteGate, "allow_missing_classes"),
    allow_training_data: bool = _default(PromoteGate, "allow_training_data"),
    split: str | None = _default(EvaluateConfig, "split"),
    text_column: str | None = _default(EvaluateConfig, "text_column"),
    label_column: str | None = _default(EvaluateConfig, "label_column"),
    task: str = _default(EvaluateConfig, "task"),
    target: str | None = _default(EvaluateConfig, "target"),
    separator: str | None = None,
    on_bad: str = _default(EvaluateConfig, "on_bad"),
    threads: int | None = _default(EvaluateConfig, "threads"),
    batch_size: int = _default(EvaluateConfig, "batch_size"),
    progress: bool = _default(EvaluateConfig, "progress"),
    **unknown: Never,
) -> PromotionResult:
    """Promote `candidate` over the `over` bundle when it wins on the labelled data `on`.

    The gate's options are `headstart.config.PromoteGate`'s; both bundles are evaluated on the same data (the
    options from `split` on are `evaluate`'s). The candidate
    wins when `metric` improves by at least `margin` and no class's F1 drops by more than `class_tolerance`;
    a class without examples in `on` keeps the gate closed unless `allow_missing_classes`; `on` being the
    candidate's own training data is refused unless `allow_training_data`; then the decision is
    recorded (`promotion.json` in the candidate bundle, a `promoted` tag on its run,
    alias `production` in the MLflow model registry) and a `PromotionResult` returned.
    Otherwise raises `PromotionRefused` carrying the comparison.
    """
    given = locals()
    gate: PromoteGate = validated(PromoteGate, **{name: given[name] for name in PromoteGate.model_fields})
    config = _evaluate_config(_options(EvaluateConfig, given))  # how both bundles are evaluated; names unknown keywords
    return _promote.promote(candidate, over, on, gate=gate, config=config)


def expand(
    bundle: str | Path,
    data: str | Path,
    *,
    out: str,
    update: bool = _default(ExpandConfig, "update"),
    memory: int | None = _default(ExpandConfig, "memory"),
    memory_mb: float | None = _default(ExpandConfig, "memory_mb"),
    allow_forgetting: bool = _default(ExpandConfig, "allow_forgetting"),
    test_size: float = _default(ExpandConfig, "test_size"),
    seed: int = _default(ExpandConfig, "seed"),
    max_epochs: int | None = _default(ExpandConfig, "max_epochs"),
    lr: float | None = _default(ExpandConfig, "lr"),
    patience: int | None = _default(ExpandConfig, "patience"),
    distill_weight: float = _default(ExpandConfig, "distill_weight"),
    temperature: float = _default(ExpandConfig, "temperature"),
    head_refit: bool = _default(ExpandConfig, "head_refit"),
    head_only: bool | None = _default(ExpandConfig, "head_only"),
    text_column: str | None = _default(ExpandConfig, "text_column"),
    label_column: str | None = _default(ExpandConfig, "label_column"),
    task: str = _default(ExpandConfig, "task"),
    target: str | None = _default(ExpandConfig, "target"),
    separator: str = _default(ExpandConfig, "separator"),
    on_bad: str = _default(ExpandConfig, "on_bad"),
    threads: int | None = _default(ExpandConfig, "threads"),
    batch_size: int = _default(ExpandConfig, "batch_size"),
    progress: bool = _default(ExpandConfig, "progress"),
    track: bool = _default(ExpandConfig, "track"),
    **unknown: Never,
) -> ExpandResult:
    """Add the classes of `data` to a bundle without retraining from zero; save the result at `out`.

    Options are the fields of `headstart.config.ExpandConfig` (out, update, memory, allow_forgetting, ...).
    Returns an `ExpandResult` (added classes, metrics on the held-out part of `data`, parent, timings).
    """
    options = _options(ExpandConfig, locals())
    data = data_path(data, "expand")
    config: ExpandConfig = validated(ExpandConfig, **options)
    return _expand.expand(bundle, data, config)


def study(
    data: str | Path,
    *,
    on_event: Event | None = None,
    strategies: str | Sequence[str] | None = _default(StudyConfig, "strategies"),
    budgets: str | Sequence[int | str | None] = _default(StudyConfig, "budgets"),
    seeds: int = _default(StudyConfig, "seeds"),
    backbone: str | None = _default(StudyConfig, "backbone"),
    out: str = _default(StudyConfig, "out"),
    max_time: float | str | None = _default(StudyConfig, "max_time"),
    country: str | None = _default(StudyConfig, "country"),
    energy: bool = _default(StudyConfig, "energy"),
    target_accuracy: float | None = _default(StudyConfig, "target_accuracy"),
    time_limit_per_fit: float | str | None = _default(StudyConfig, "time_limit_per_fit"),
    test_size: float = _default(StudyConfig, "test_size"),
    split_seed: int = _default(StudyConfig, "split_seed"),
    head: str = _default(StudyConfig, "head"),
    text_backbone: str | None = _default(StudyConfig, "text_backbone"),
    label_descriptions: str | None = _default(StudyConfig, "label_descriptions"),
    prompt_templates: list[str] | str | None = _default(StudyConfig, "prompt_templates"),
    max_epochs: int | None = _default(StudyConfig, "max_epochs"),
    lr: float | None = _default(StudyConfig, "lr"),
    patience: int | None = _default(StudyConfig, "patience"),
    augment: bool = _default(StudyConfig, "augment"),
    views: int = _default(StudyConfig, "views"),
    time_budget: float | str | None = _default(StudyConfig, "time_budget"),
    text_column: str | None = _default(StudyConfig, "text_column"),
    label_column: str | None = _default(StudyConfig, "label_column"),
    task: str = _default(StudyConfig, "task"),
    target: str | None = _default(StudyConfig, "target"),
    separator: str = _default(StudyConfig, "separator"),
    on_bad: str = _default(StudyConfig, "on_bad"),
    threads: int | None = _default(StudyConfig, "threads"),
    batch_size: int = _default(StudyConfig, "batch_size"),
    progress: bool = _default(StudyConfig, "progress"),
    engine: str = _default(StudyConfig, "engine"),
    ray_address: str | None = _default(StudyConfig, "ray_address"),
    track: bool = _default(StudyConfig, "track"),
    **unknown: Never,
) -> StudyResult:
    """Strategies × label budgets × seeds on one fixed test split; writes results and `report.html` to `out`.

    Options are the fields of `headstart.config.StudyConfig` (strategies, budgets, seeds, backbone, out, max_time,
    country, target_accuracy, time_limit_per_fit, ...); `strategies` and `budgets` may be comma-separated strings
    (`"linear,partial:2"`, `"5,20,all"`). Rerunning with the same options skips finished cells. `on_event`
    (optional) is called with progress events. Returns a `StudyResult`.
    """
    from headstart.services.study import parse_budgets, parse_strategies

    options = _options(StudyConfig, locals())
    data = data_path(data, "study")
    options["strategies"] = None if strategies is None else parse_strategies(strategies)  # None: by modality
    options["budgets"] = parse_budgets(budgets)
    config: StudyConfig = validated(StudyConfig, **options)
    return _study.study(data, config, on_event)
