"""Running a study: the fixed frame (data, split, backbone), then each cell's fit, scored and recorded."""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headstart.backbones import get_backbone
from headstart.backbones.base import Backbone
from headstart.cache import CACHE_ENV, cache_root
from headstart.config import FitConfig, StrategyOptions, StudyConfig, validated
from headstart.data import Dataset, labels_per_class, load_dataset, split_dataset
from headstart.data.modalities import get_modality, item_digests
from headstart.data.splits import Splits
from headstart.energy import EnergyMeter, check_country
from headstart.engines import Engine, get_engine, use_engine
from headstart.errors import HeadstartError, UsageError
from headstart.outputs import check_output_dir, writing
from headstart.resources import ResourceMeter
from headstart.services.study.files import write_study_json, write_tables
from headstart.services.study.grid import (
    Cell,
    budget_label,
    is_reference,
    plan_cells,
    strategy_name,
)
from headstart.services.study.records import RESULTS, append_record, latest_by_key, read_records
from headstart.services.study.verdict import summarize, verdict
from headstart.strategies import FitInputs, check_strategy_task, default_study_strategies, for_task, resolve_strategy
from headstart.strategies.base import check_backbone_modality
from headstart.tasks import get_task, primary_metric, score_error, task_report
from headstart.tasks.metrics import primary_score

Event = Callable[..., None]
TAG_STUDY_STATUS = "headstart.study_status"  # complete | partial (MLflow's run status stays FINISHED)
TAG_STOPPED = "headstart.stopped"  # max_time, when --max-time ended the run early


@dataclass
class StudyResult:
    """What `study` returns and `headstart study --json` prints."""

    out: Path
    report: Path | None  # None when the report could not be written (a note says why)
    status: str  # complete | partial
    cells_total: int
    cells_done: int
    cells_run: int  # in this invocation
    cells_failed: int
    seconds: float
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped_early: bool = False  # --max-time ended this run before its last cell
    score_metric: str = "accuracy"  # what each row's `accuracy` holds: micro_f1 (multi-label), r2 (regression)
    budget_unit: str = "labels per class"  # what each row's `budget` counts (documents, for fields)

    def run_tags(self) -> dict[str, str]:
        """Tags for the study's tracked run: MLflow has no "partial" status, so a partial study says so here."""
        tags = {TAG_STUDY_STATUS: self.status}
        if self.stopped_early:
            tags[TAG_STOPPED] = "max_time"
        return tags

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "report": None if self.report is None else str(self.report),
            "results_csv": str(self.out / "results.csv"),
            "study_json": str(self.out / "study.json"),
            "status": self.status,
            "cells": {
                "total": self.cells_total,
                "done": self.cells_done,
                "run_now": self.cells_run,
                "failed": self.cells_failed,
            },
            "seconds": self.seconds,
            "stopped_early": self.stopped_early,
            "score_metric": self.score_metric,
            "budget_unit": self.budget_unit,
            "summary": self.summary,
            "verdict": self.verdict,
            "notes": self.notes,
        }


@dataclass
class StudyPlan:
    """A study ready to run: the data, its fixed split, the backbone, the frame and the cells left to compute."""

    dataset: Dataset
    splits: Splits
    backbone: Backbone | None
    frame: dict[str, Any]
    cells: list[Cell]
    todo: list[Cell]
    engine: Engine
    country: str
    out: Path
    started: float  # perf_counter when planning began: --max-time counts from here
    config: StudyConfig  # with the default strategies of the data's modality filled in


def plan_study(data: str | Path, config: StudyConfig) -> StudyPlan:
    """Load the data, fix the split and backbone, check `out` holds the same study, and list the cells to run."""
    started = time.perf_counter()
    country = check_country(config.country)
    out = Path(config.out)
    check_output_dir(out)
    engine = get_engine(config.engine, address=config.ray_address, cpus_per_worker=config.threads)
    if engine.name != "local":
        data = Path(data).resolve()  # item paths that workers can open whatever their working directory
    dataset = load_dataset(str(data), **config.reading())
    if config.strategies is None:
        config = config.model_copy(update={"strategies": default_study_strategies(dataset.modality, dataset.task)})
        if not config.strategies:
            raise UsageError(
                f"no strategy is studied on {dataset.modality} data of task {dataset.task} yet",
                expected="data that some strategy fits (see `headstart fit --help`)",
                fix="pass --strategies NAME,... that fit this data, or `headstart inspect` it for now",
            )
    for spec in config.strategies or ():
        check_strategy_task(resolve_strategy(spec)[0], dataset.task)
    splits = split_dataset(dataset, test_size=config.test_size, seed=config.split_seed)
    backbone = _study_backbone(config, dataset)
    frame = _frame(data, dataset, splits, backbone, config)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    _check_same_frame(out, frame)
    cells = plan_cells(config.strategies or [], config.budgets, config.seeds)
    done = {k for k, r in latest_by_key(read_records(out)).items() if r.get("status") == "ok"}
    todo = [c for c in cells if c.key not in done]
    return StudyPlan(dataset, splits, backbone, frame, cells, todo, engine, country, out, started, config)


def run_study(
    data: str | Path, config: StudyConfig, on_event: Event | None = None, plan: StudyPlan | None = None
) -> StudyResult:
    """Run (or resume) the study described by `config` on `data` and write every output file.

    `plan` (from `plan_study` on the same data and config) skips planning again.
    """
    emit = on_event or (lambda *a, **k: None)
    plan = plan or plan_study(data, config)
    config = plan.config
    started, country, out, engine = plan.started, plan.country, plan.out, plan.engine
    dataset, splits, backbone, frame = plan.dataset, plan.splits, plan.backbone, plan.frame
    cells, todo = plan.cells, plan.todo
    write_study_json(out, config, frame, country, status="running", cells=cells)
    emit("start", total=len(cells), done=len(cells) - len(todo), todo=len(todo))

    notes: list[str] = list(dict.fromkeys([*dataset.notes, *splits.notes]))
    ran = 0
    stopped_early = False
    interrupted = False
    runner = CellRunner(
        dataset,
        splits,
        backbone,
        config,
        country,
        str(out.resolve()),
        local=engine.name == "local",
    )
    if todo and engine.name != "local":
        _warm_features(engine, backbone, dataset, config, emit)
        notes.append(f"engine ray: {len(todo)} cell(s) ran as Ray tasks of {runner.cpus} CPU(s) each")
    finished = engine.run_cells(todo, runner, cpus=runner.cpus, emit=emit)  # records stream back as cells end
    try:
        for cell, outcome in finished:
            record = outcome if isinstance(outcome, dict) else lost_cell_record(cell, dataset, splits, outcome)
            append_record(out, record)
            ran += 1
            emit("cell_end", cell=cell, record=record)
            # checked between cells (never before the first, so every run makes progress)
            if ran < len(todo) and config.max_time is not None and time.perf_counter() - started >= config.max_time:
                stopped_early = True
                notes.append(
                    f"--max-time {config.max_time:g}s reached: stopped after {ran} cell(s) of this run; "
                    "rerun the same command to continue"
                )
                break
    except KeyboardInterrupt:
        interrupted = True
        notes.append("interrupted: the cell in flight was lost; rerun the same command to continue")
    finally:
        finished.close()  # cancels cells still queued or running on a cluster

    records_by_key = latest_by_key(read_records(out))
    records = [records_by_key[c.key] for c in cells if c.key in records_by_key]
    ok = [r for r in records if r["status"] == "ok"]
    status = "complete" if len(ok) == len(cells) else "partial"
    summary = summarize(records)
    decision = verdict(
        summary,
        target_accuracy=config.target_accuracy,
        time_limit_per_fit=config.time_limit_per_fit,
        n_test=len(splits.test),
        metric=primary_metric(dataset.task),
        budget_unit=get_task(dataset.task).budget_unit,
        backbone_hint="`headstart rank`" if get_task(dataset.task).transfer_scores else "--backbone NAME",
    )
    doc = write_study_json(
        out,
        config,
        frame,
        country,
        status=status,
        cells=cells,
        summary=summary,
        verdict=decision,
        notes=notes,
    )
    write_tables(out, records)
    report = _write_report(out, doc, records, notes)
    if report is None:  # say so in study.json too
        write_study_json(out, config, frame, country, status=status, cells=cells, summary=summary,
                         verdict=decision, notes=notes)  # fmt: skip
    emit("finish", status=status)
    if interrupted:
        raise KeyboardInterrupt
    if stopped_early:
        emit("stopped", reason="max_time")
    return StudyResult(
        out=out,
        report=report,
        status=status,
        cells_total=len(cells),
        cells_done=len(ok),
        cells_run=ran,
        cells_failed=sum(r["status"] == "failed" for r in records),
        seconds=time.perf_counter() - started,
        summary=summary,
        verdict=decision,
        notes=notes,
        stopped_early=stopped_early,
        score_metric=primary_metric(dataset.task),
        budget_unit=get_task(dataset.task).budget_unit,
    )


def _write_report(out: Path, doc: dict[str, Any], records: list[dict[str, Any]], notes: list[str]) -> Path | None:
    """Write `report.html`; a failure adds a note and gives None (the results are in study.json and results.csv)."""
    from headstart.report import write_report

    try:
        return write_report(out / "report.html", doc, records)
    except Exception as err:  # the computed cells are safe on disk; a broken report must not end the command
        (out / "report.html").unlink(missing_ok=True)  # an earlier report would not match study.json
        notes.append(
            f"report.html could not be written ({type(err).__name__}: {err}); the results are in results.csv "
            "and study.json, and rerunning the same command retries the report"
        )
        return None


@dataclass
class CellRunner:
    """What every cell shares, picklable so a Ray worker can run cells: `runner(cell)` gives the cell's record.

    On a cluster the backbone travels by name (rebuilt by the worker's registry) and each cell's fit uses the
    CPUs it declared (`cpus`, from --threads, default 1), so concurrent cells do not oversubscribe a node.
    """

    dataset: Dataset
    splits: Splits
    backbone: Backbone | None
    config: StudyConfig
    country: str
    out: str
    local: bool = True
    cache: str = field(default_factory=lambda: str(cache_root()))

    def __post_init__(self) -> None:
        self.backbone_name = None if self.backbone is None else self.backbone.name

    @property
    def cpus(self) -> int:
        return self.config.threads or 1

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "backbone": None,
        }  # rebuilt from its name where the cell runs

    def __call__(self, cell: Cell) -> dict[str, Any]:
        config = self.config
        if not self.local:
            os.environ[CACHE_ENV] = self.cache  # the driver's feature cache (shared between nodes)
            config = config.model_copy(update={"threads": self.cpus})
        backbone = self.backbone
        if backbone is None and self.backbone_name is not None:
            backbone = get_backbone(self.backbone_name)
        return run_cell(
            cell,
            self.dataset,
            self.splits,
            backbone,
            config,
            self.country,
            Path(self.out),
        )


def _cell_fields(cell: Cell) -> dict[str, Any]:
    """What every cell record starts with: which cell it is."""
    return {
        "key": cell.key,
        "strategy": cell.strategy,
        "family": strategy_name(cell.strategy),
        "transfer": not is_reference(cell.strategy),
        "budget": budget_label(cell.budget),
        "labels_per_class": cell.budget,
        "seed": cell.seed,
    }


def lost_cell_record(cell: Cell, dataset: Dataset, splits: Splits, err: BaseException) -> dict[str, Any]:
    """The failed record of a cell that returned no record: its worker was lost on every retry, or it raised.

    A rerun of the study retries it, as any failed cell.
    """
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    return {
        **_cell_fields(cell),
        "status": "failed",
        "error": f"the cell could not complete on the {'cluster' if _is_lost(err) else 'worker'}: {first_line}",
        "error_type": type(err).__name__,
        "n_classes": len(dataset.classes),
        "n_test": len(splits.test),
        **_finished(),
    }


def _is_lost(err: BaseException) -> bool:
    """A worker or node that died (Ray's system errors), as opposed to an error raised by the cell's code."""
    return type(err).__module__.startswith("ray.")


def _warm_features(
    engine: Engine,
    backbone: Backbone | None,
    dataset: Dataset,
    config: StudyConfig,
    emit: Event,
) -> None:
    """Extract the pooled features every feature-based cell reads once, on the engine, before the cells start.

    Otherwise the first concurrent cells would each compute the same features on their own worker. The
    study's own progress display says so (a second bar would fight with it).
    """
    fitted = [for_task(resolve_strategy(s)[0], dataset.task) for s in config.strategies or ()]
    if backbone is None or not any(strategy.name == "linear" for strategy in fitted):
        return  # no head on the data's pooled features (`linear` on documents embeds their lines when it fits)
    from headstart.features import extract_features

    emit("extracting", items=len(dataset), engine=engine.name)
    with use_engine(engine):
        extract_features(backbone, dataset, batch_size=config.batch_size, progress=False)


def _study_backbone(config: StudyConfig, dataset: Dataset) -> Backbone | None:
    """The backbone every transfer cell uses (None when no strategy needs one); checks `partial:K` early."""
    resolved = [(for_task(s, dataset.task), params) for s, params in map(resolve_strategy, config.strategies or ())]
    needing = [strategy for strategy, _ in resolved if strategy.needs_backbone]
    if not needing:
        return None
    modality = needing[0].backbone_modality or dataset.modality  # the fields tagger embeds lines with a text one
    backbone = get_backbone(config.backbone or get_modality(modality).default_backbone or "")
    check_backbone_modality(needing[0], backbone, dataset.modality)
    for strategy, params in resolved:
        if strategy.name == "partial":
            strategy.cut(backbone, params)  # type: ignore[attr-defined]
    return backbone


def _frame(
    data: str | Path,
    dataset: Dataset,
    splits: Splits,
    backbone: Backbone | None,
    config: StudyConfig,
) -> dict:
    """What makes cells comparable: same data, test split, backbone and training options."""
    return {
        "data": str(Path(data).resolve()),
        "data_fingerprint": dataset.fingerprint(item_digests(dataset)),
        "modality": dataset.modality,
        "task": dataset.task,
        "score_metric": primary_metric(dataset.task),  # what the `accuracy` column holds for this task kind
        "budget_unit": get_task(dataset.task).budget_unit,  # what a budget counts ("documents" for fields)
        "classes": list(dataset.classes),
        "n_items": len(dataset),
        "test_fingerprint": splits.test.fingerprint(item_digests(splits.test)),
        "split_counts": splits.counts(),
        "test_size": config.test_size,
        "split_seed": config.split_seed,
        "backbone": None if backbone is None else backbone.name,
        "backbone_sha256": None if backbone is None else backbone.weights_sha256,
        "training": config.model_dump(
            include={
                "head",
                "text_backbone",
                "label_descriptions",
                "max_epochs",
                "lr",
                "patience",
                "augment",
                "views",
            }
        )
        # only when set: a study written before the option existed still continues in its folder
        | ({"prompt_templates": config.prompt_templates} if config.prompt_templates is not None else {}),
    }


_FRAME_KEYS_CHECKED = (
    "data_fingerprint",
    "test_fingerprint",
    "backbone",
    "backbone_sha256",
    "training",
)


def _check_same_frame(out: Path, frame: dict[str, Any]) -> None:
    path = out / "study.json"
    if not path.is_file() or not (out / RESULTS).is_file():
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8")).get("frame", {})
    except json.JSONDecodeError:
        return
    differ = [k for k in _FRAME_KEYS_CHECKED if previous.get(k) != frame.get(k)]
    if differ:
        raise UsageError(
            f"{str(out)!r} holds a study with different {', '.join(differ)}; its cells would not be comparable",
            expected="the same data, test split, backbone and training options as the study in that folder",
            fix="pass a new --out folder, or rerun with the options of the earlier study",
        )


def _fit_config(cell: Cell, config: StudyConfig, out: Path) -> FitConfig:
    options: dict[str, Any] = {
        **{name: getattr(config, name) for name in StrategyOptions.model_fields},  # the fields fit and study share
        "strategy": cell.strategy,
        "labels_per_class": cell.budget or None,
        "seed": cell.seed,
        "out": str(out / "cells" / cell.slug),  # only checkpoints of gradient fits land beside this path
        "text_column": config.text_column,
        "label_column": config.label_column,
        "on_bad": config.on_bad,
        "threads": config.threads,
        "batch_size": config.batch_size,
        "progress": False,
    }
    if "track" in FitConfig.model_fields:
        options["track"] = False  # the study records its own results
    return validated(FitConfig, **options)


def run_cell(
    cell: Cell,
    dataset: Dataset,
    splits: Splits,
    backbone: Backbone | None,
    config: StudyConfig,
    country: str,
    out: Path,
) -> dict[str, Any]:
    """Fit one cell on its budget of the training part, score it on the fixed test split, measure the fit."""
    strategy, params = resolve_strategy(cell.strategy)
    strategy = for_task(strategy, dataset.task)
    record: dict[str, Any] = {
        **_cell_fields(cell),
        "status": "ok",
        "error": None,
        "n_classes": len(dataset.classes),
        "n_test": len(splits.test),
    }
    (out / "cells").mkdir(exist_ok=True)
    try:
        fit_config = _fit_config(cell, config, out)
        train = splits.train
        if cell.budget:
            train = labels_per_class(train, cell.budget, seed=cell.seed, classes=dataset.classes)
        inputs = FitInputs(
            train=train,
            backbone=backbone if strategy.needs_backbone else None,
            config=fit_config,
            params=params,
            validation=splits.validation,
        )
        energy = EnergyMeter(country, enabled=config.energy)
        with energy, ResourceMeter() as resources:
            model = strategy.fit(inputs)
        predict_started = time.perf_counter()
        tested = model.predict_dataset(splits.test, on_bad=config.on_bad, progress=False, cache=True)
        assert splits.test.labels is not None
        y_test = [splits.test.labels[i] for i in tested.kept]
        report = task_report(dataset.task, y_test, tested.proba, model.labels, model.thresholds, tested.records)
        error = score_error(dataset.task, report, y_test, tested.proba, model.labels, model.thresholds, tested.records)
        predict_seconds = time.perf_counter() - predict_started
    except HeadstartError as err:
        return {
            **record,
            "status": "failed",
            "error": err.what,
            "error_type": type(err).__name__,
            **_finished(),
        }
    except Exception as err:  # a broken cell must not end a long study; it is recorded, shown and retried
        last = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        return {**record, "status": "failed", "error": f"{err} ({where})", "error_type": type(err).__name__,
                **_finished()}  # fmt: skip
    train_report = model.report
    history = [dict(h) for h in (train_report.history if train_report else [])]
    return {
        **record,
        "accuracy": primary_score(report),  # micro-F1 for multi-label, R² for regression (see frame.score_metric)
        "macro_f1": getattr(report, "macro_f1", None),
        "ece": getattr(report, "ece", None),
        **(error.to_record() if error else {}),  # the score's standard error on this test split (the verdict's noise)
        "metrics": report.summary(),
        "n_train": train_report.n_train if train_report else len(train),
        "n_labelled": len(train),  # the budget's draw; gradient fits hold part of it out for validation
        "n_test": report.n,
        "fit_seconds": resources.reading.wall_seconds,
        "cpu_seconds": resources.reading.cpu_seconds,
        "peak_rss_mb": resources.reading.peak_rss_mb,
        "rss_increase_mb": resources.reading.rss_increase_mb,
        "predict_seconds": predict_seconds,
        **{k: v for k, v in energy.reading.to_dict().items() if k != "seconds"},
        "features_cached": train_report.features_cached if train_report else 0,
        "features_computed": train_report.features_computed if train_report else 0,
        "epochs": len(history) or None,
        "history": history,
        "notes": list(dict.fromkeys([*train.notes, *(train_report.notes if train_report else [])])),
        **_finished(),
    }


def _finished() -> dict[str, str]:
    return {"finished": datetime.now(UTC).isoformat(timespec="seconds")}
