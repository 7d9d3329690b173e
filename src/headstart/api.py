"""The core: every CLI command and HTTP handler calls exactly one function here."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from headstart import tracking
from headstart.backbones import check_modality, get_backbone
from headstart.backbones import list_backbones as _registry_list
from headstart.backbones.base import Backbone, BackboneInfo
from headstart.bundle import Inputs, Predictor, check_output_folder, input_list, read_manifest, save_bundle
from headstart.bundle import load as _load_bundle
from headstart.config import (
    DEFAULT_BACKBONES,
    EngineOptions,
    EvaluateConfig,
    FitConfig,
    PredictConfig,
    data_path,
    validated,
)
from headstart.data import (
    Dataset,
    InspectReport,
    inspect_dataset,
    labels_per_class,
    load_dataset,
    load_inputs,
    split_dataset,
)
from headstart.data.inspect import data_warnings
from headstart.data.loading import all_skipped_error
from headstart.engines import use_engine
from headstart.errors import DataError, ModalityMismatchError, UsageError
from headstart.evaluation import evaluated_part, fitted_data_warnings, missing_classes, predicted_note
from headstart.fit_options import applicable_params, ignored_option_notes
from headstart.results import EvaluateResult, FitResult, Prediction, PredictResult
from headstart.strategies import FitInputs, Strategy, TrainReport, check_strategy_task, resolve_strategy
from headstart.strategies.base import merge_validation
from headstart.strategies.finetune import refuse_checkpoint_overwrite
from headstart.strategies.memory import memory_section
from headstart.task_metrics import task_report
from headstart.tasks import DEFAULT_THRESHOLD, answer, refuse_task

PACKAGES = ("headstart", "torch", "onnxruntime", "scikit-learn", "numpy", "transformers")


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
    data = data_path(data, "inspect")
    dataset = load_dataset(
        str(data),
        text_column=text_column,
        label_column=label_column,
        on_bad="skip",
        task=task,
        target=target,
        separator=separator,
    )
    return inspect_dataset(dataset, decode=decode)


def load(bundle: str | Path) -> Predictor:
    """Load the bundle folder written by `fit` (format, files and backbone weights are checked) for prediction.

    The `Predictor` answers `predict(inputs)` (labels), `predict_proba(inputs)` (one row per input, columns in
    `.labels` order) and `embed(inputs)`; inputs are one text or file path, or a list of them.
    """
    return _load_bundle(bundle)


def _resolve_backbone(name: str | None, dataset: Dataset, strategy: Strategy) -> Backbone | None:
    if not strategy.needs_backbone:
        return None  # the strategy notes an unused --backbone itself
    backbone = get_backbone(name or DEFAULT_BACKBONES[dataset.modality])
    check_modality(backbone, dataset.modality)
    return backbone


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def _backbone_manifest(backbone: Backbone | None) -> dict[str, Any] | None:
    if backbone is None:
        return None
    return {
        "name": backbone.name,
        "options": getattr(backbone, "options", {}),
        "weights_sha256": backbone.weights_sha256,
        "feature_dim": backbone.feature_dim,
        "preprocess": backbone.preprocess_config(),
    }


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
    data = data_path(data, "fit")
    config: FitConfig = validated(FitConfig, **options)
    strategy, params = resolve_strategy(config.strategy)
    check_output_folder(config.out)  # before training, not after: the save would refuse the same folder
    refuse_checkpoint_overwrite(config, strategy)  # an interrupted fit's checkpoint: --resume, or delete it
    started = time.perf_counter()
    dataset = load_dataset(str(data), **_data_options(config))
    check_strategy_task(strategy, dataset.task)
    backbone = _resolve_backbone(config.backbone, dataset, strategy)
    digests = [dataset.item_digest(i) for i in range(len(dataset))]  # once: copies, fingerprint and tracking
    splits = split_dataset(dataset, test_size=config.test_size, seed=config.seed, digests=digests)
    train = splits.train
    if config.labels_per_class is not None:
        train = labels_per_class(train, config.labels_per_class, seed=config.seed, classes=dataset.classes)
    inputs, merged = merge_validation(  # linear and baseline cross-validate on train: validation joins it
        strategy, FitInputs(train=train, backbone=backbone, config=config, params=params, validation=splits.validation)
    )
    train = inputs.train
    loaded = time.perf_counter()

    with use_engine(config.engine, address=config.ray_address, threads=config.threads):  # extraction runs there
        model = strategy.fit(inputs)
        trained = time.perf_counter()
        backbone = backbone or model.backbone  # `auto` picks its backbone while fitting
        tested = model.predict_dataset(splits.test, on_bad=config.on_bad, progress=config.progress, cache=True)
    assert splits.test.labels is not None
    y_test = [splits.test.labels[i] for i in tested.kept]
    report = task_report(dataset.task, y_test, tested.proba, model.labels, model.thresholds)
    evaluated = time.perf_counter()

    train_report = model.report or TrainReport(n_train=len(train))
    data_notes = [*dataset.notes, *data_warnings(dataset, digests), *splits.notes, *merged, *train.notes]
    truncation = getattr(backbone, "truncation_note", None)  # text backbones read a bounded number of tokens
    data_notes += [note for note in [truncation(dataset.items) if truncation else None] if note]
    notes = list(dict.fromkeys([*data_notes, *train_report.notes]))
    skipped = [*dataset.skipped, *train_report.skipped, *tested.skipped]
    counts = {
        "items": len(dataset) + len(dataset.skipped),
        "train": train_report.n_train,
        "test": len(tested.kept),
        "classes": len(model.labels),
        "skipped": len(skipped),
        "features_cached": train_report.features_cached + tested.n_cached,
        "features_computed": train_report.features_computed + tested.n_computed,
    }
    timings = {
        "load_seconds": loaded - started,
        "train_seconds": trained - loaded,
        "test_seconds": evaluated - trained,
    }
    manifest = {
        "task": dataset.task,
        "targets": target_manifest(dataset.task, config, model),
        "modality": dataset.modality,
        "labels": model.labels,
        "backbone": _backbone_manifest(backbone),
        **model.manifest(),
        "data": {
            "source": str(Path(data).resolve()),
            "fingerprint": dataset.fingerprint(digests),
            "labels_per_class": config.labels_per_class,
            "counts": counts,
            "class_counts_train": train_report.class_counts,
        },
        "metrics": {"test": report.to_dict()},
        "history": train_report.history,
        "config": config.model_dump(exclude={"progress"}),
        "seed": config.seed,
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": None,
        "energy": None,
        "notes": notes,
        "skipped": [s.to_dict() for s in skipped],
    }
    memory, memory_tensors, memory_reason = memory_section(getattr(model, "inner", model), config)
    if dataset.task != "classification":
        memory, memory_tensors, memory_reason = None, {}, f"`headstart expand` does not support {dataset.task} models"
    manifest["head"] = {**manifest["head"], "memory": memory}
    counts["memory_items"], counts["memory_bytes"] = (memory["n"], memory["bytes"]) if memory else (0, 0)
    if memory_reason:
        manifest["head"]["memory_reason"] = memory_reason
        if "--allow-forgetting" in memory_reason:  # say it now, not when the user first tries to expand
            notes.append(f"no exemplar memory kept: {memory_reason}")
    notes.extend(ignored_option_notes(config, strategy, manifest["strategy"], dataset.modality, dataset.task))
    record = tracking.data_record(data, dataset, digests)
    params = applicable_params(config, strategy, dataset.task)
    with tracking.tracked_run("fit", params, record, enabled=config.track) as run:
        manifest["run_id"] = run.run_id
        manifest["tracking_uri"] = tracking.tracking_uri() if run.run_id else None  # where `runs show` finds it
        saving = time.perf_counter()  # total_seconds includes starting the run; save_seconds does not
        path = save_bundle(config.out, manifest, {**model.tensors(), **memory_tensors})
        timings["save_seconds"] = time.perf_counter() - saving
        timings["total_seconds"] = time.perf_counter() - started
        result = FitResult(
            bundle=path,
            metrics=report.summary(),
            timings=timings,
            counts=counts,
            skipped=skipped,
            notes=notes,
            backbone=backbone.name if backbone else "",
            strategy=config.strategy,
            run_id=run.run_id,
            trained=str(manifest["strategy"].get("spec") or manifest["strategy"].get("name") or config.strategy),
        )
        tracking.record_fit(run, config, result, manifest)
    result.notes.extend(run.problems)
    return result


def evaluate(bundle: str | Path, data: str | Path, **options: Any) -> EvaluateResult:
    """Metrics of the bundle at `bundle` on labelled `data` (a folder or table, using only the bundle's labels).

    Options (fields of `headstart.config.EvaluateConfig`): text_column, label_column, on_bad ("skip" lists
    unreadable items in `.skipped`, "fail" raises), split ("test": DATA's test split, the default when it marks
    one; "all": every item), threads, batch_size, progress. Returns an `EvaluateResult`: `.accuracy`,
    `.macro_f1`, the full `.report` (per-class precision/recall/F1, confusion matrix, ECE), `.split`,
    `.missing_classes` (left out of macro-F1), `.notes` and `.warnings` (DATA is the model's training data).
    """
    data = data_path(data, "evaluate")
    config: EvaluateConfig = validated(EvaluateConfig, **options)
    predictor = _load_bundle(bundle)
    dataset = load_dataset(str(data), **_data_options(config, predictor))
    _check_bundle_modality(predictor, dataset)
    unknown = sorted(set(dataset.classes) - set(predictor.labels))
    if unknown:
        raise DataError(
            f"{str(data)!r} has labels the model was not trained on: {', '.join(unknown[:10])}",
            expected=f"labels among the model's: {', '.join(predictor.labels[:20])}",
            fix="remove those items, or refit the model on data with every label",
        )
    warnings = fitted_data_warnings(predictor, dataset, config.split, str(data))  # on the whole of DATA
    part, split, notes = evaluated_part(dataset, config.split, str(data), fitted=bool(warnings))
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    result = predictor.predict_dataset(part, cache=True, on_bad=config.on_bad, progress=config.progress)
    assert part.labels is not None
    y_true = [part.labels[i] for i in result.kept]
    report = task_report(predictor.task, y_true, result.proba, predictor.labels, predictor.thresholds)
    missing = missing_classes(report)
    where = f"the test split of {data}" if split == "test" else str(data)
    notes += [f"{label}: no examples in {where} (not in macro-F1){predicted_note(report, label)}" for label in missing]
    return EvaluateResult(
        report=report,
        skipped=[*dataset.skipped, *result.skipped],
        bundle=str(bundle),
        split=split,
        missing_classes=missing,
        notes=notes,
        warnings=warnings,
    )


def _data_options(config: Any, predictor: Predictor | None = None) -> dict[str, Any]:
    """`load_dataset` keywords from a config; with a bundle, its task kind, separator, target, text and label
    columns (as its data was last read: by `expand`, else by `fit`), each unless given."""
    options = {
        "text_column": config.text_column,
        "label_column": config.label_column,
        "on_bad": config.on_bad,
        "task": config.task,
        "target": config.target,
        "separator": config.separator,
    }
    if predictor is not None:
        recorded = predictor.manifest.get("targets") or {}
        if config.task not in ("auto", predictor.task):
            raise UsageError(
                f"--task {config.task} does not match the bundle, a {predictor.task} model",
                expected=f"--task {predictor.task} or auto",
                fix="leave --task out when evaluating a bundle",
            )
        options["task"] = predictor.task
        if "separator" not in config.model_fields_set:  # the bundle's, unless given
            options["separator"] = recorded.get("separator", config.separator)
        read = [predictor.manifest.get(key) or {} for key in ("expand_config", "config")]
        for name in ("text_column", "label_column"):  # the columns the bundle's data was read with, unless given
            if options[name] is None and (name == "text_column" or config.target is None):
                options[name] = next((r[name] for r in read if r.get(name) is not None), None)
        if predictor.task == "regression" and config.target is None and options["label_column"] is None:
            options["target"] = recorded.get("column")
    return options


def target_manifest(task: str, config: FitConfig, model: Any) -> dict[str, Any] | None:
    """The manifest's `targets` section: tag separator and thresholds, or the regressed column."""
    if task == "multilabel":
        limits = model.thresholds if model.thresholds is not None else [DEFAULT_THRESHOLD] * len(model.labels)
        return {"separator": config.separator, "thresholds": dict(zip(model.labels, map(float, limits), strict=True))}
    if task == "regression":
        return {"column": config.target}
    return None


def _check_bundle_modality(predictor: Predictor, dataset: Dataset) -> None:
    if predictor.modality != dataset.modality:
        name = predictor.backbone.name if predictor.backbone else predictor.manifest["strategy"]["name"]
        raise ModalityMismatchError(name, predictor.modality, dataset.modality, model=True)


def predict(bundle: str | Path, inputs: Inputs, *, out: str | Path | None = None, **options: Any) -> PredictResult:
    """Labels with probabilities for image files/folders, a table or text file, or raw texts.

    `inputs` is one text or path, or a list of them (a str is one input). Options (fields of
    `headstart.config.PredictConfig`): top_k (default 3), on_bad ("skip": unreadable inputs are left out and
    listed in `.skipped`; "fail": raise), text_column, threads, batch_size, progress. Returns a `PredictResult`.

    With `out` (a .csv/.tsv/.jsonl/.parquet file name) the predictions are also written there, one row per input:
    a single predicted table keeps all its columns and rows, with the prediction columns appended.
    """
    from headstart.prediction_files import check_output_path, write_predictions

    inputs = input_list(inputs)  # one str or Path is one input, not its characters
    if out is not None:
        check_output_path(out, inputs)  # before any work
    config: PredictConfig = validated(PredictConfig, **options)
    predictor = _load_bundle(bundle)
    dataset = load_inputs(list(inputs), modality=predictor.modality, text_column=config.text_column)
    _check_bundle_modality(predictor, dataset)
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    result = predictor.predict_dataset(dataset, on_bad=config.on_bad, progress=config.progress)
    predictions = []
    for row, index in enumerate(result.kept):
        a = answer(predictor.task, result.proba[row], predictor.labels, predictor.thresholds, config.top_k)
        predictions.append(
            Prediction(
                id=dataset.ids[index],
                label=a.label,
                probability=a.probability,
                top=a.top,
                input=dataset.items[index],
                task=a.task,
                labels=a.labels,
                value=a.value,
            )
        )
    skipped = [*dataset.skipped, *result.skipped]
    if not predictions:  # every item passed the loader's header check but none could be decoded
        raise all_skipped_error("no input could be read", skipped)
    result = PredictResult(predictions=predictions, skipped=skipped, task=predictor.task)
    if out is not None:
        result.out = str(write_predictions(result, inputs, out))
    return result


def create_app(bundle: str | Path, **options: Any) -> Any:
    """The HTTP service for a bundle as a FastAPI app; options are `headstart.serve.ServeConfig` fields."""
    from headstart.serve.app import create_app as _create_app

    return _create_app(bundle, **options)


def serve(
    bundle: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    on_ready: Any = None,
    **options: Any,
) -> None:
    """Serve a bundle over HTTP until interrupted (uvicorn; `workers` > 1 starts that many processes).

    The port is bound before the model loads (a taken port fails at once; port 0 picks a free one) and held
    until the server serves on it. `on_ready(url)` is called once a request sent then is answered: when the one
    process has warmed up, or when a worker of several answers `/v1/health`.
    """
    import json
    import threading

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from headstart.errors import UsageError
    from headstart.runtime import default_threads
    from headstart.serve.app import ENV_SPEC
    from headstart.serve.app import create_app as _create_app
    from headstart.serve.ports import announce_when_answering, listening_socket
    from headstart.serve.schemas import ServeConfig

    if workers < 1:
        raise UsageError(f"workers={workers} is not a process count", expected="an integer >= 1", fix="pass --workers")
    if not 0 <= port <= 65535:
        raise UsageError(f"port={port} is not a TCP port", expected="0 to 65535", fix="pass --port 8000")
    if workers > 1 and options.get("threads") is None:
        options["threads"] = max(1, default_threads() // workers)  # the cores are shared by the processes
    validated(ServeConfig, **options)  # type: ignore[arg-type]
    if workers == 1:
        with listening_socket(host, port) as sock:  # a taken port fails now, not after a model load
            predictor = _load_bundle(bundle)
            url = _service_url(host, sock.getsockname()[1])
            ready = (lambda: on_ready(url)) if on_ready else None
            app = _create_app(predictor, on_ready=ready, **options)
            config = uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=_log_config())
            uvicorn.Server(config).run(sockets=[sock])
        return
    with listening_socket(host, port) as sock:  # held from here: port 0 stays the port the workers serve on
        _load_bundle(bundle)  # fail here, before any process starts, when the bundle is unusable
        url = _service_url(host, sock.getsockname()[1])
        os.environ[ENV_SPEC] = json.dumps({"bundle": str(Path(bundle).resolve()), "options": options})
        config = uvicorn.Config(
            "headstart.serve.app:app_from_environment",
            factory=True,
            host=host,
            port=sock.getsockname()[1],
            workers=workers,
            log_level=log_level,
            log_config=_log_config(),
        )
        if on_ready:  # once a worker has loaded the model and answers, not when the processes start
            threading.Thread(target=announce_when_answering, args=(url, on_ready), daemon=True).start()
        sock.set_inheritable(True)
        Multiprocess(config, sockets=[sock]).run()


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, access lines included, on stderr: stdout holds only what headstart prints (`--json`)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _service_url(host: str, port: int) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"


def export(bundle: str | Path, *, out: str | Path | None = None, format: str = "onnx", force: bool = False) -> Any:
    """Write the whole model as one ONNX file (default `BUNDLE/model.onnx`) plus a JSON sidecar.

    `out` may be a folder (`model.onnx` inside). A file that is not an earlier export is not overwritten unless
    `force`.

    Returns an `headstart.export.ExportResult`; the export is checked against the bundle (max abs diff).
    """
    from headstart.export import export_bundle

    predictor = _load_bundle(bundle)
    refuse_task(predictor.task, "`headstart export`")
    return export_bundle(predictor, Path(bundle) / "model.onnx" if out is None else out, format=format, force=force)


def rank(data: str | Path, **options: Any) -> Any:
    """Transferability scores of every (backbone, cut) on the training split of `data`, best first.

    Options are the fields of `RankConfig` (backbones, cuts="last"|"all"|list, metric="logme",
    labels_per_class, max_items, seed, task/target/separator, ...). Returns a `headstart.transferability.RankResult`.
    """
    from headstart.config import RankConfig
    from headstart.strategies.auto import candidate_backbones
    from headstart.transferability import rank as _rank
    from headstart.transferability import subsample

    data = data_path(data, "rank")
    config: RankConfig = validated(RankConfig, **options)
    dataset = load_dataset(str(data), **_data_options(config))  # any task kind: scores per kind, see TASK_METRICS
    train = split_dataset(dataset, seed=config.seed).train  # the test split fit would hold out stays unseen
    if config.labels_per_class is not None:
        train = labels_per_class(train, config.labels_per_class, seed=config.seed, classes=dataset.classes)
    sample = subsample(train, config.max_items, seed=config.seed)
    params = config.model_dump(exclude={"progress"})
    engine = use_engine(config.engine, address=config.ray_address, threads=config.threads)
    with engine, tracking.tracked_run("rank", params, tracking.data_record(data, dataset), enabled=config.track) as run:
        result = _rank(
            sample,
            candidate_backbones(dataset.modality, None, config.backbones),
            config.cuts,
            metric=config.metric,
            threads=config.threads,
            batch_size=config.batch_size,
            on_bad=config.on_bad,
            progress=config.progress,
            seed=config.seed,
        )
        _record_outcome(run, "rank.json", result.to_dict(), {f"best_{config.metric}": result.best().to_dict()})
    if len(sample) < len(train):
        result.notes.append(f"scored a stratified sample of {len(sample)} of {len(train)} training items")
    result.notes[:0] = [note for note in train.notes if note not in result.notes]  # e.g. a class below -n
    if dataset.task == "classification" and min(sample.class_counts().values(), default=0) < MIN_ITEMS_TO_RANK:
        result.notes.append(
            f"some class has fewer than {MIN_ITEMS_TO_RANK} items in the scored sample: the scores are noisy and "
            "small differences between rows mean little; rank on more labelled items if you have them"
        )
    result.run_id = run.run_id
    result.notes.extend(run.problems)
    return result


def _record_outcome(run: tracking.Run, name: str, document: Any, summary: dict[str, Any]) -> None:
    """Log a command's JSON result and its numeric summary into its tracked run (no-op when off)."""
    if run.active:
        run.log_json(name, document)
        numbers = {k: v for k, v in tracking.flatten(summary).items() if isinstance(v, int | float) and v == v}
        run.log_metrics(numbers)


def runs(
    *, data: str | None = None, strategy: str | None = None, kind: str | None = None, limit: int = 20
) -> list[tracking.RunRecord]:
    """Tracked runs, newest first; `data` is a dataset path (matched by path or current fingerprint) or a
    fingerprint prefix."""
    from headstart.errors import HeadstartError, UsageError

    if limit < 1:
        raise UsageError(f"limit={limit} is not a run count", expected="an integer >= 1", fix="pass --limit 20")
    paths: list[str] = []
    fingerprints: list[str] = []
    if data and Path(data).exists():
        paths.append(str(Path(data).resolve()))
        for options in _recorded_data_options(kind, strategy):  # a run's fingerprint is of the data as it read it
            try:
                fingerprints.append(load_dataset(str(data), **options, on_bad="skip").fingerprint())
            except HeadstartError:
                continue  # e.g. a target column this data lacks: runs are still matched by path
        fingerprints = list(dict.fromkeys(fingerprints))
    elif data:
        if not all(c in "0123456789abcdef" for c in data.lower()):
            raise UsageError(
                f"--data {data!r} is neither an existing path nor a data fingerprint",
                expected="a dataset path, or a fingerprint prefix (hex digits, shown by `headstart runs show`)",
                fix="check the path (relative to this directory)",
            )
        fingerprints.append(data.lower())
    return tracking.search_runs(kind=kind, strategy=strategy, data_paths=paths, fingerprints=fingerprints, limit=limit)


DATA_OPTIONS = ("text_column", "label_column", "task", "target", "separator")
RECENT_RUNS = 500  # how many of the newest runs `runs --data` reads their data options from


def _recorded_data_options(kind: str | None, strategy: str | None) -> list[dict[str, Any]]:
    """The distinct ways the store's newest runs read their data (columns, task, target, separator), defaults
    first: `runs --data` reads the data each way, so it finds a run whose data moved whatever its task kind."""
    import json

    found = [{"text_column": None, "label_column": None, "task": "auto", "target": None, "separator": ";"}]
    for run in tracking.search_runs(kind=kind, strategy=strategy, limit=RECENT_RUNS):
        if not set(DATA_OPTIONS) <= set(run.params):
            continue
        options = {name: run.params[name] for name in DATA_OPTIONS}
        for name in ("text_column", "label_column", "target"):  # logged as JSON when not a string: null
            options[name] = None if options[name] == json.dumps(None) else options[name]
        if options not in found:
            found.append(options)
    return found


MIN_ITEMS_TO_RANK = 5  # per class: below this a cross-validated kNN or LogME barely separates candidates


def tracking_store() -> str:
    """The tracking store in use: `$HEADSTART_TRACKING_URI`, else `./headstart-runs/` (a SQLite file)."""
    return tracking.tracking_uri()


def run_details(run_id: str) -> tracking.RunRecord:
    """One tracked run (full id or a unique prefix): params, metrics, tags and artifact list."""
    from headstart.errors import UsageError

    record = tracking.find_run(run_id)
    if record is None:
        raise UsageError(
            f"no run {run_id!r} in the tracking store {tracking.tracking_uri()}",
            expected="a run id listed by `headstart runs`",
            fix=f"run `headstart runs`, or set ${tracking.ENV_URI} to the store the run was recorded in",
        )
    return record


def reproduce(
    run_id: str, *, out: str | Path | None = None, data: str | Path | None = None, progress: bool = True
) -> Any:
    """Re-run a tracked fit with its recorded config on the same data and compare the metrics.

    Refuses with a DataError naming the added/removed/modified items when the data's fingerprint changed.
    Returns a `headstart.reproduction.ReproduceResult`.
    """
    import tempfile

    from headstart.errors import UsageError
    from headstart.reproduction import (
        ReproduceResult,
        compare_metrics,
        compare_versions,
        data_changed_error,
        diff_items,
    )

    record = run_details(run_id)
    if record.kind != "fit":
        raise UsageError(
            f"run {record.run_id} is a {record.kind or 'non-headstart'} run",
            expected="the id of a `fit` run",
            fix="pick a run whose kind is fit in `headstart runs`",
        )
    recorded_config = tracking.load_json_artifact(record.run_id, tracking.CONFIG_ARTIFACT)
    if not recorded_config:
        raise UsageError(
            f"run {record.run_id} has no {tracking.CONFIG_ARTIFACT} artifact to reproduce from",
            fix="the run was recorded incompletely: fit again",
        )
    # where the run executed (local or a Ray cluster) does not change its result: reproduce here
    placement = set(EngineOptions.model_fields)
    known = {k: v for k, v in recorded_config.items() if k in FitConfig.model_fields and k not in placement}
    config: FitConfig = validated(FitConfig, **known)
    source = str(data or record.data_path)
    dataset = load_dataset(source, **_data_options(config))  # as fit read it: same task, target and separator
    current = tracking.data_record(source, dataset)
    if current["fingerprint"] != record.data_fingerprint:
        saved = tracking.load_json_artifact(record.run_id, tracking.ITEMS_ARTIFACT)
        changes = diff_items(saved["items"], current["items"]) if saved else None
        raise data_changed_error(record.run_id, source, record.data_fingerprint, current["fingerprint"], changes)
    if out is None:
        bundle = record.tags.get(tracking.TAG_BUNDLE)
        out = (
            Path(bundle).with_name(f"{Path(bundle).name}-reproduce-{record.run_id[:8]}")
            if bundle
            else Path(tempfile.mkdtemp(prefix="headstart-reproduce-")) / "model"
        )
    new = fit(source, **{**config.model_dump(), "out": str(out), "progress": progress, "resume": False})
    if new.run_id:
        new.notes.extend(tracking.set_run_tags(new.run_id, {"headstart.reproduces": record.run_id}))
    metrics = compare_metrics(record.metrics, new.metrics)
    matches = bool(metrics) and all(row["difference"] == 0 for row in metrics.values())
    versions = compare_versions(record.params, package_versions())
    notes = list(new.notes)
    if versions:
        changed = ", ".join(f"{k} {v['recorded']} -> {v['current']}" for k, v in versions.items())
        notes.append(f"package versions differ from the run's: {changed}")
    if record.params.get("machine.cpu") not in (None, tracking.machine()["cpu"]):
        notes.append(f"the run was recorded on another CPU: {record.params['machine.cpu']}")
    return ReproduceResult(
        run_id=record.run_id,
        new_run_id=new.run_id,
        bundle=new.bundle,
        data=source,
        matches=matches,
        metrics=metrics,
        versions=versions,
        notes=notes,
    )


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
) -> Any:
    """Promote `candidate` over the `over` bundle when it wins on the labelled data `on`.

    Both bundles are evaluated on the same data (options are `EvaluateConfig` fields). The candidate wins
    when `metric` improves by at least `margin` and no class's F1 drops by more than `class_tolerance`;
    a class without examples in `on` keeps the gate closed unless `allow_missing_classes`; `on` being the
    candidate's own training data is refused unless `allow_training_data`; then the decision is
    recorded (`promotion.json` in the candidate bundle, a `promoted` tag on its run,
    alias `production` in the MLflow model registry) and a `headstart.promotion.PromotionResult` returned.
    Otherwise raises `PromotionRefused` carrying the comparison.
    """
    from headstart.errors import UsageError
    from headstart.promotion import check_metric, decide, refusal

    check_metric(metric)
    new, current = read_manifest(candidate), read_manifest(over)  # evaluate loads the models; the manifests suffice
    refuse_task(new.get("task") or "classification", "`headstart promote`")
    if new["modality"] != current["modality"]:
        raise UsageError(
            f"the candidate reads {new['modality']} and the current model {current['modality']}: one dataset cannot "
            "test both",
            expected="two bundles of the same modality (and labels)",
            fix="pass the production bundle that the candidate should replace to --over",
        )
    if margin < 0 or not 0 <= class_tolerance <= 1:
        raise UsageError(
            f"margin={margin}, class_tolerance={class_tolerance} are not valid thresholds",
            expected="margin >= 0 and 0 <= class tolerance <= 1 (differences of metrics in [0, 1])",
            fix="pass e.g. --margin 0.01 --class-tolerance 0.05",
        )
    if Path(candidate).resolve() == Path(over).resolve():
        raise UsageError(
            f"the candidate and the current model are the same bundle ({str(candidate)!r})",
            expected="two different bundles: the new model and the one in production",
            fix="pass the production bundle to --over",
        )
    candidate_eval = evaluate(candidate, on, **options)
    if candidate_eval.warnings and not allow_training_data:
        raise UsageError(
            f"--on {str(on)!r} is the data the candidate was fitted on: its score there is not a held-out score",
            expected="labelled data neither model was fitted on (a holdout, or recent data)",
            fix="pass such data to --on, or --allow-training-data to compare on this data anyway",
        )
    current_eval = evaluate(over, on, **options)
    result = decide(
        candidate_eval.report,
        current_eval.report,
        names=(str(candidate), str(over), str(on)),
        metric=metric,
        margin=margin,
        class_tolerance=class_tolerance,
        allow_missing_classes=allow_missing_classes,
    )
    if candidate_eval.skipped:
        result.notes.append(f"{len(candidate_eval.skipped)} item(s) of {str(on)!r} could not be used")
    result.notes.extend(candidate_eval.notes)  # which part of `on` was scored; classes it has no example of
    from headstart.task_metrics import small_test_line

    if line := small_test_line(candidate_eval.report.summary(), f"items of {str(on)!r}"):
        result.notes.append(f"{line} (the candidate's): differences smaller than that are mostly noise")
    result.notes.extend(f"the candidate: {w}" for w in candidate_eval.warnings)
    result.notes.extend(f"the current model: {w}" for w in current_eval.warnings)
    if not result.promoted:
        raise refusal(result)
    _record_promotion(result, Path(candidate), Path(over), model_name)
    return result


def _record_promotion(result: Any, candidate: Path, over: Path, model_name: str) -> None:
    """Tag the candidate's run, point the registry alias at it, and write promotion.json."""
    from headstart.promotion import ALIAS, write_decision

    manifest = read_manifest(candidate)
    run_id = manifest.get("run_id")
    recorded: dict[str, Any] = {"run_id": run_id, "registry": None}
    if not tracking.tracking_enabled():
        result.notes.append("tracking is off: only promotion.json records the decision")
        result.recorded = {**recorded, "file": str(write_decision(result, candidate))}
        return
    store = tracking.tracking_uri()
    own = manifest.get("tracking_uri")
    elsewhere = run_id and own and own != store and tracking.store_exists(own)
    if elsewhere and (not tracking.store_exists(store) or tracking.find_run(run_id) is None):
        store = own  # fit ran elsewhere: tag its run and move the alias in the store that holds it
        result.notes.append(f"recorded in the store of the candidate's run, {own}")
    with tracking.using_store(store):
        record = tracking.find_run(run_id) if run_id else None
        if run_id and record is None:
            result.notes.append(f"the candidate's run {run_id} is not in the store {tracking.tracking_uri()}")
        if record is not None:
            result.notes.extend(
                tracking.set_run_tags(
                    record.run_id,
                    {
                        tracking.TAG_PROMOTED: "true",
                        "headstart.promoted_over": str(over.resolve()),
                        "headstart.promoted_on": str(Path(result.data).resolve()),
                        "headstart.promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                )
            )
        source = tracking.bundle_artifact_uri(record) if record is not None else candidate.resolve().as_uri()
        version, problems = tracking.register_alias(model_name, source, record.run_id if record else None, ALIAS)
        result.notes.extend(problems)
        if version is not None:
            recorded["registry"] = {"model": model_name, "version": version, "alias": ALIAS, "source": source}
            recorded["store"] = store
    result.recorded = recorded
    result.recorded["file"] = str(write_decision(result, candidate))


def expand(bundle: str | Path, data: str | Path, **options: Any) -> Any:
    """Add the classes of `data` to a bundle without retraining from zero; save the result at `out`.

    Options are the fields of `ExpandConfig` (out, update, memory, allow_forgetting, ...). Returns an
    `headstart.expand.ExpandResult` (added classes, metrics on the held-out part of `data`, parent, timings).
    """
    from headstart.config import ExpandConfig
    from headstart.expand import expand_bundle

    data = data_path(data, "expand")
    config: ExpandConfig = validated(ExpandConfig, **options)
    check_output_folder(config.out)
    refuse_task(read_manifest(bundle).get("task") or "classification", "`headstart expand`")
    refuse_task(config.task if config.task != "auto" else "classification", "`headstart expand`")
    params = {"parent": str(Path(bundle).resolve()), **config.model_dump(exclude={"progress"})}
    with tracking.tracked_run("expand", params, {"path": str(Path(data).resolve())}, enabled=config.track) as run:
        result = expand_bundle(bundle, data, config)
        _record_outcome(run, "expand.json", result.to_dict(), {"metrics": result.to_dict().get("metrics", {})})
        if run.active:
            run.set_tags({tracking.TAG_BUNDLE: str(result.bundle)})
            run.log_artifact_dir(result.bundle, tracking.BUNDLE_ARTIFACT)
    result.notes.extend(run.problems)
    return result


def study(data: str | Path, *, on_event: Any = None, **options: Any) -> Any:
    """Strategies × label budgets × seeds on one fixed test split; writes results and `report.html` to `out`.

    Options are the fields of `StudyConfig` (strategies, budgets, seeds, backbone, out, max_time, country,
    target_accuracy, time_limit_per_fit, ...); `strategies` and `budgets` may be comma-separated strings
    (`"linear,partial:2"`, `"5,20,all"`). Rerunning with the same options skips finished cells. `on_event`
    (optional) is called with progress events. Returns a `headstart.study.StudyResult`.
    """
    from headstart.config import StudyConfig
    from headstart.study import parse_budgets, parse_strategies, plan_study, run_study

    data = data_path(data, "study")
    if "strategies" in options:
        options["strategies"] = parse_strategies(options["strategies"])
    if "budgets" in options:
        options["budgets"] = parse_budgets(options["budgets"])
    config: StudyConfig = validated(StudyConfig, **options)
    plan = plan_study(data, config)
    if not plan.todo:  # a resume with nothing left to compute rewrites the files but is not a new run
        result = run_study(data, config, on_event=on_event, plan=plan)
        if tracking.tracking_enabled(config.track):
            result.notes.append("every cell was already done, so nothing was computed and no new run was tracked")
        return result
    frame = plan.frame  # the backbone actually used (the default when --backbone was omitted) and the data
    params = {**config.model_dump(exclude={"progress"}), "backbone": frame["backbone"]}
    data_info = {"path": frame["data"], "fingerprint": frame["data_fingerprint"], "modality": frame["modality"]}
    tags = {tracking.TAG_BACKBONE: frame["backbone"] or ""}
    with tracking.tracked_run("study", params, data_info, enabled=config.track, tags=tags) as run:
        result = run_study(data, config, on_event=on_event, plan=plan)
        if run.active:
            for name in ("study.json", "results.csv", "report.html"):
                if (result.out / name).is_file():
                    run.log_artifact(result.out / name, "study")
            counts = ("cells_total", "cells_done", "cells_run", "cells_failed")
            run.log_metrics({name: getattr(result, name) for name in counts})
            run.set_tags(result.run_tags())
    result.notes.extend(run.problems)
    return result
