"""The facade: every CLI command and HTTP handler calls exactly one function here; each runs one command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart import tracking
from headstart.backbones import list_backbones as _registry_list
from headstart.backbones.base import BackboneInfo
from headstart.bundle import Inputs, Predictor
from headstart.bundle import load as _load_bundle
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
from headstart.commands.export import ExportResult
from headstart.commands.reproduce import ReproduceResult
from headstart.commands.results import EvaluateResult, FitResult, Prediction, PredictResult
from headstart.config import (
    EvaluateConfig,
    ExpandConfig,
    FitConfig,
    PredictConfig,
    RankConfig,
    StudyConfig,
    data_path,
    validated,
)
from headstart.data import InspectReport
from headstart.services.expand import ExpandResult
from headstart.services.promotion import PromotionResult
from headstart.services.study import StudyResult, parse_budgets, parse_strategies
from headstart.transferability import RankResult

__all__ = ["EvaluateResult", "FitResult", "Prediction", "PredictResult"]


def list_backbones(include_test: bool = False) -> list[BackboneInfo]:
    """Backbones installed here."""
    return _registry_list(include_test=include_test)


def inspect(
    data: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str = "auto",
    target: str | None = None,
    separator: str = ";",
    decode: bool = True,
) -> InspectReport:
    """Per-class (per-tag) counts or the target's distribution, unreadable items, duplicates and warnings.

    `decode` (default) decodes every image as `fit` would, so truncated files are found; False reads headers only.
    """
    return _inspect.inspect(
        data_path(data, "inspect"),
        text_column=text_column,
        label_column=label_column,
        task=task,
        target=target,
        separator=separator,
        decode=decode,
    )


def load(bundle: str | Path) -> Predictor:
    """Load the bundle folder written by `fit` (format, files and backbone weights are checked) for prediction.

    The `Predictor` answers `predict(inputs)` (labels), `predict_proba(inputs)` (one row per input, columns in
    `.labels` order) and `embed(inputs)`; inputs are one text or file path, or a list of them.
    """
    return _load_bundle(bundle)


def fit(data: str | Path, **options: Any) -> FitResult:
    """Adapt a pretrained backbone to the labelled data at `data`, score it on a held-out test split, save a bundle.

    Args:
        data: an image folder (`<root>/<class>/<file>`, or `train/` + `test/` of those) or a table (.csv, .tsv,
            .jsonl, .parquet) of texts or image paths with labels. A DataFrame: `df.to_csv("data.csv", index=False)`.
        out: the bundle folder to write (default "model"); load it with `headstart.load(out)`.
        strategy: "linear" (default: a head on frozen features), "partial:K", "full", "contrastive[:K]",
            "scratch", "baseline", "zero-shot" or "auto".
        backbone: a pretrained network from `headstart.list_backbones()` (default: one per modality).
        labels_per_class: train on only this many labelled items per class (a few-shot label budget).
        test_size: the fraction held out for the test metrics when the data has no split column (default 0.2).
        seed: one seed for the split, the label budget and training (default 0).
        max_epochs, lr, patience: gradient strategies (partial, full, scratch, contrastive).
        time_budget: stop training gracefully after this long: seconds, or "90s", "10m", "1h".
        text_column, label_column, task, target, separator: how to read a table (detected when left out).
        threads: CPU threads (default: all cores). progress: progress bars (default True).
        track: record the run in MLflow (default True; see `headstart.runs()`).

    Every option is a field of `headstart.config.FitConfig` (same names as the CLI flags, with `_`); an unknown
    name is refused. Returns a `FitResult`: `.bundle`, `.metrics` (test accuracy, macro_f1, ...), `.counts`, `.notes`.
    """
    return _fit.fit(data_path(data, "fit"), validated(FitConfig, **options))


def evaluate(bundle: str | Path, data: str | Path, **options: Any) -> EvaluateResult:
    """Metrics of the bundle at `bundle` on labelled `data` (a folder or table, using only the bundle's labels).

    Options (fields of `headstart.config.EvaluateConfig`): text_column, label_column, on_bad ("skip" lists
    unreadable items in `.skipped`, "fail" raises), split ("test": DATA's test split, the default when it marks
    one; "all": every item), threads, batch_size, progress. Returns an `EvaluateResult`: `.accuracy`,
    `.macro_f1`, the full `.report` (per-class precision/recall/F1, confusion matrix, ECE), `.split`,
    `.missing_classes` (left out of macro-F1), `.notes` and `.warnings` (DATA is the model's training data).
    """
    data = data_path(data, "evaluate")
    return _evaluate.evaluate(bundle, data, validated(EvaluateConfig, **options))


def predict(bundle: str | Path, inputs: Inputs, *, out: str | Path | None = None, **options: Any) -> PredictResult:
    """Labels with probabilities for image files/folders, a table or text file, or raw texts.

    `inputs` is one text or path, or a list of them (a str is one input). Options (fields of
    `headstart.config.PredictConfig`): top_k (default 3), on_bad ("skip": unreadable inputs are left out and
    listed in `.skipped`; "fail": raise), text_column, threads, batch_size, progress. Returns a `PredictResult`.

    With `out` (a .csv/.tsv/.jsonl/.parquet file name) the predictions are also written there, one row per input:
    a single predicted table keeps all its columns and rows, with the prediction columns appended.
    """
    return _predict.predict(bundle, inputs, validated(PredictConfig, **options), out)


def create_app(bundle: str | Path, **options: Any) -> Any:
    """The HTTP service for a bundle as a FastAPI app; options are `headstart.server.ServeConfig` fields."""
    from headstart.server.app import create_app as _create_app

    return _create_app(bundle, **options)


def serve(
    bundle: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    on_ready: Callable[[str], object] | None = None,
    **options: Any,
) -> None:
    """Serve a bundle over HTTP until interrupted (uvicorn; `workers` > 1 starts that many processes).

    The port is bound before the model loads (a taken port fails at once; port 0 picks a free one) and held
    until the server serves on it. `on_ready(url)` is called once a request sent then is answered: when the one
    process has warmed up, or when a worker of several answers `/v1/health`.
    """
    from headstart.server.process import serve as _serve

    _serve(bundle, host=host, port=port, workers=workers, log_level=log_level, on_ready=on_ready, **options)


def export(
    bundle: str | Path, *, out: str | Path | None = None, format: str = "onnx", force: bool = False
) -> ExportResult:
    """Write the whole model as one ONNX file (default `BUNDLE/model.onnx`) plus a JSON sidecar.

    `out` may be a folder (`model.onnx` inside). A file that is not an earlier export is not overwritten unless
    `force`.

    Returns an `ExportResult`; the export is checked against the bundle (max abs diff).
    """
    return _export.export(bundle, out=out, format=format, force=force)


def rank(data: str | Path, **options: Any) -> RankResult:
    """Transferability scores of every (backbone, cut) on the training split of `data`, best first.

    Options are the fields of `RankConfig` (backbones, cuts="last"|"all"|list, metric="logme",
    labels_per_class, max_items, seed, task/target/separator, ...). Returns a `RankResult`.
    """
    return _rank.rank(data_path(data, "rank"), validated(RankConfig, **options))


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
    metric: str = "macro_f1",
    margin: float = 0.01,
    class_tolerance: float = 0.05,
    model_name: str = "headstart",
    allow_missing_classes: bool = False,
    allow_training_data: bool = False,
    **options: Any,
) -> PromotionResult:
    """Promote `candidate` over the `over` bundle when it wins on the labelled data `on`.

    Both bundles are evaluated on the same data (options are `EvaluateConfig` fields). The candidate wins
    when `metric` improves by at least `margin` and no class's F1 drops by more than `class_tolerance`;
    a class without examples in `on` keeps the gate closed unless `allow_missing_classes`; `on` being the
    candidate's own training data is refused unless `allow_training_data`; then the decision is
    recorded (`promotion.json` in the candidate bundle, a `promoted` tag on its run,
    alias `production` in the MLflow model registry) and a `PromotionResult` returned.
    Otherwise raises `PromotionRefused` carrying the comparison.
    """
    return _promote.promote(
        candidate,
        over,
        on,
        metric=metric,
        margin=margin,
        class_tolerance=class_tolerance,
        model_name=model_name,
        allow_missing_classes=allow_missing_classes,
        allow_training_data=allow_training_data,
        config=validated(EvaluateConfig, **options),
    )


def expand(bundle: str | Path, data: str | Path, **options: Any) -> ExpandResult:
    """Add the classes of `data` to a bundle without retraining from zero; save the result at `out`.

    Options are the fields of `ExpandConfig` (out, update, memory, allow_forgetting, ...). Returns an
    `ExpandResult` (added classes, metrics on the held-out part of `data`, parent, timings).
    """
    return _expand.expand(bundle, data_path(data, "expand"), validated(ExpandConfig, **options))


def study(data: str | Path, *, on_event: Callable[..., None] | None = None, **options: Any) -> StudyResult:
    """Strategies × label budgets × seeds on one fixed test split; writes results and `report.html` to `out`.

    Options are the fields of `StudyConfig` (strategies, budgets, seeds, backbone, out, max_time, country,
    target_accuracy, time_limit_per_fit, ...); `strategies` and `budgets` may be comma-separated strings
    (`"linear,partial:2"`, `"5,20,all"`). Rerunning with the same options skips finished cells. `on_event`
    (optional) is called with progress events. Returns a `StudyResult`.
    """
    data = data_path(data, "study")
    if "strategies" in options:
        options["strategies"] = parse_strategies(options["strategies"])
    if "budgets" in options:
        options["budgets"] = parse_budgets(options["budgets"])
    return _study.study(data, validated(StudyConfig, **options), on_event)
