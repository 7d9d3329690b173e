"""The study: strategies × label budgets × seeds on one fixed test split, resumable cell by cell.

Every cell fits one strategy on a seeded per-class draw of the training part (budgets are nested for a
seed) and is scored on the same test split. Each finished cell is appended to `results.jsonl` at once,
so a killed study loses at most the cell in flight and a rerun skips what is done. The summary, the
verdict and the files for machines (`results.csv`, `results.parquet`, `study.json`) and people
(`report.html`) are written from those records.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from headstart.backbones import check_modality, get_backbone
from headstart.backbones.base import Backbone
from headstart.cache import CACHE_ENV, cache_root
from headstart.config import DEFAULT_BACKBONES, FitConfig, StudyConfig, validated
from headstart.data import Dataset, labels_per_class, load_dataset, split_dataset
from headstart.data.splits import Splits
from headstart.energy import EnergyMeter, check_country
from headstart.engines import Engine, get_engine, use_engine
from headstart.errors import HeadstartError, UsageError
from headstart.resources import ResourceMeter
from headstart.strategies import FitInputs, check_strategy_task, resolve_strategy
from headstart.task_metrics import PRIMARY, primary_score, task_report

RESULTS = "results.jsonl"
REFERENCE_STRATEGIES = ("scratch", "baseline")  # no pretrained network: the yardsticks for transfer
MATCH_TOLERANCE = 0.01  # a reference "matches" transfer when within one accuracy point of the best transfer
NO_LABELS = 0  # the budget of zero-shot cells: it trains on no example
Event = Callable[..., None]


# ---------------------------------------------------------------- parsing the grid


def parse_strategies(value: str | Iterable[str]) -> list[str]:
    """`"linear,partial:2"` or a list → validated, de-duplicated specs (unknown names: did-you-mean)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    specs = [s.strip() for s in items if s and s.strip()]
    if not specs:
        raise UsageError(
            "no strategy given",
            expected="a comma-separated list such as linear,partial:2,full,scratch,baseline",
            fix="pass --strategies linear,baseline",
        )
    for spec in specs:
        resolve_strategy(spec)  # raises StrategyError with a did-you-mean
    return list(dict.fromkeys(specs))


def parse_budgets(value: str | Iterable[int | str | None]) -> list[int | None]:
    """`"5,10,all"` or a list → sorted, de-duplicated label budgets per class (None = all labels)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    budgets: list[int | None] = []
    for item in items:
        text = "all" if item is None else str(item).strip().lower()
        if text == "":
            continue
        if text == "all":
            budgets.append(None)
            continue
        if isinstance(item, bool) or not text.isdigit() or int(text) < 1:
            raise UsageError(
                f"label budget {item!r} is not a positive whole number or 'all'",
                expected="comma-separated labels per class, each an integer >= 1 or 'all' (e.g. 5,10,20,all)",
                fix="pass --budgets 5,10,20,all",
            )
        budgets.append(int(text))
    if not budgets:
        raise UsageError("no label budget given", expected="e.g. 5,10,20,all", fix="pass --budgets 5,20,all")
    ints = sorted({b for b in budgets if b is not None})
    return [*ints, *([None] if None in budgets else [])]


def budget_label(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def strategy_name(spec: str) -> str:
    return spec.partition(":")[0].strip()


def is_reference(spec: str) -> bool:
    return strategy_name(spec) in REFERENCE_STRATEGIES


@dataclass(frozen=True)
class Cell:
    strategy: str
    budget: int | None
    seed: int

    @property
    def key(self) -> str:
        return f"{self.strategy}|{budget_label(self.budget)}|{self.seed}"

    @property
    def slug(self) -> str:
        return self.key.replace("|", "_").replace(":", "-")


def plan_cells(strategies: list[str], budgets: list[int | None], seeds: int) -> list[Cell]:
    """Seed-major order, so a study stopped early has whole curves for the first seeds.

    zero-shot trains on nothing and is deterministic, so it is one cell (budget 0, seed 0).
    """
    cells: list[Cell] = []
    if any(strategy_name(s) == "zero-shot" for s in strategies):
        cells.extend(Cell(s, NO_LABELS, 0) for s in strategies if strategy_name(s) == "zero-shot")
    for seed in range(seeds):
        for budget in budgets:
            cells.extend(Cell(s, budget, seed) for s in strategies if strategy_name(s) != "zero-shot")
    return cells


# ---------------------------------------------------------------- results on disk


def read_records(out: Path) -> list[dict[str, Any]]:
    """Every complete line of `results.jsonl` (a line cut by a kill is ignored)."""
    path = out / RESULTS
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def latest_by_key(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records}


def append_record(out: Path, record: dict[str, Any]) -> None:
    """One JSON line, flushed and synced, so a kill after this loses nothing of this cell."""
    path = out / RESULTS
    torn = path.is_file() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(record, default=_json_default) + "\n")  # end a torn line
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return str(value)


# ---------------------------------------------------------------- running


@dataclass
class StudyResult:
    """What `study` returns and `headstart study --json` prints."""

    out: Path
    report: Path
    status: str  # complete | partial
    cells_total: int
    cells_done: int
    cells_run: int  # in this invocation
    cells_failed: int
    seconds: float
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "report": str(self.report),
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
            "summary": self.summary,
            "verdict": self.verdict,
            "notes": self.notes,
        }


def run_study(data: str | Path, config: StudyConfig, on_event: Event | None = None) -> StudyResult:
    """Run (or resume) the study described by `config` on `data` and write every output file."""
    emit = on_event or (lambda *a, **k: None)
    started = time.perf_counter()
    country = check_country(config.country)
    out = Path(config.out)
    engine = get_engine(config.engine, address=config.ray_address, cpus_per_worker=config.threads)
    if engine.name != "local":
        data = Path(data).resolve()  # item paths that workers can open whatever their working directory
    dataset = load_dataset(
        str(data),
        text_column=config.text_column,
        label_column=config.label_column,
        on_bad=config.on_bad,
        task=config.task,
        target=config.target,
        separator=config.separator,
    )
    for spec in config.strategies:
        check_strategy_task(resolve_strategy(spec)[0], dataset.task)
    splits = split_dataset(dataset, test_size=config.test_size, seed=config.split_seed)
    backbone = _study_backbone(config, dataset)
    frame = _frame(data, dataset, splits, backbone, config)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_frame(out, frame)

    cells = plan_cells(config.strategies, config.budgets, config.seeds)
    done = {k for k, r in latest_by_key(read_records(out)).items() if r.get("status") == "ok"}
    todo = [c for c in cells if c.key not in done]
    _write_study_json(out, config, frame, country, status="running", cells=cells)
    emit("start", total=len(cells), done=len(cells) - len(todo), todo=len(todo))

    notes: list[str] = list(dict.fromkeys([*dataset.notes, *splits.notes]))
    ran = 0
    stopped_early = False
    interrupted = False
    runner = CellRunner(dataset, splits, backbone, config, country, str(out.resolve()), local=engine.name == "local")
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
    decision = verdict(summary, target_accuracy=config.target_accuracy, time_limit_per_fit=config.time_limit_per_fit)
    doc = _write_study_json(
        out, config, frame, country, status=status, cells=cells, summary=summary, verdict=decision, notes=notes
    )
    write_tables(out, records)
    from headstart.report import write_report

    report = write_report(out / "report.html", doc, records)
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
    )


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
        return {**self.__dict__, "backbone": None}  # rebuilt from its name where the cell runs

    def __call__(self, cell: Cell) -> dict[str, Any]:
        config = self.config
        if not self.local:
            os.environ[CACHE_ENV] = self.cache  # the driver's feature cache (shared between nodes)
            config = config.model_copy(update={"threads": self.cpus})
        backbone = self.backbone
        if backbone is None and self.backbone_name is not None:
            backbone = get_backbone(self.backbone_name)
        return run_cell(cell, self.dataset, self.splits, backbone, config, self.country, Path(self.out))


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
    engine: Engine, backbone: Backbone | None, dataset: Dataset, config: StudyConfig, emit: Event
) -> None:
    """Extract the pooled features every feature-based cell reads once, on the engine, before the cells start.

    Otherwise the first concurrent cells would each compute the same features on their own worker. The
    study's own progress display says so (a second bar would fight with it).
    """
    if backbone is None or not any(strategy_name(s) == "linear" for s in config.strategies):
        return
    from headstart.features import extract_features

    emit("extracting", items=len(dataset), engine=engine.name)
    with use_engine(engine):
        extract_features(backbone, dataset, batch_size=config.batch_size, progress=False)


def _study_backbone(config: StudyConfig, dataset: Dataset) -> Backbone | None:
    """The backbone every transfer cell uses (None when no strategy needs one); checks `partial:K` early."""
    resolved = [resolve_strategy(s) for s in config.strategies]
    if not any(strategy.needs_backbone for strategy, _ in resolved):
        return None
    backbone = get_backbone(config.backbone or DEFAULT_BACKBONES[dataset.modality])
    check_modality(backbone, dataset.modality)
    for strategy, params in resolved:
        if strategy.name == "partial":
            strategy.cut(backbone, params)  # type: ignore[attr-defined]
    return backbone


def _frame(data: str | Path, dataset: Dataset, splits: Splits, backbone: Backbone | None, config: StudyConfig) -> dict:
    """What makes cells comparable: same data, test split, backbone and training options."""
    return {
        "data": str(Path(data).resolve()),
        "data_fingerprint": dataset.fingerprint(),
        "modality": dataset.modality,
        "task": dataset.task,
        "score_metric": PRIMARY[dataset.task],  # what the `accuracy` column holds for this task kind
        "classes": list(dataset.classes),
        "n_items": len(dataset),
        "test_fingerprint": splits.test.fingerprint(),
        "split_counts": splits.counts(),
        "test_size": config.test_size,
        "split_seed": config.split_seed,
        "backbone": None if backbone is None else backbone.name,
        "backbone_sha256": None if backbone is None else backbone.weights_sha256,
        "training": config.model_dump(
            include={"head", "text_backbone", "label_descriptions", "max_epochs", "lr", "patience", "augment", "views"}
        ),
    }


_FRAME_KEYS_CHECKED = ("data_fingerprint", "test_fingerprint", "backbone", "backbone_sha256", "training")


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
        "backbone": config.backbone,
        "strategy": cell.strategy,
        "head": config.head,
        "labels_per_class": cell.budget or None,
        "seed": cell.seed,
        "test_size": config.test_size,
        "out": str(out / "cells" / cell.slug),  # only checkpoints of gradient fits land beside this path
        "text_backbone": config.text_backbone,
        "label_descriptions": config.label_descriptions,
        "max_epochs": config.max_epochs,
        "lr": config.lr,
        "patience": config.patience,
        "augment": config.augment,
        "views": config.views,
        "time_budget": config.time_budget,
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
        report = task_report(dataset.task, y_test, tested.proba, model.labels, model.thresholds)
        predict_seconds = time.perf_counter() - predict_started
    except HeadstartError as err:
        return {**record, "status": "failed", "error": err.what, "error_type": type(err).__name__, **_finished()}
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


# ---------------------------------------------------------------- summary and verdict


def _budget_order(label: str) -> float:
    return math.inf if label == "all" else float(label)


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (strategy, budget): means over seeds, the seed spread, costs and the energy label."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("status") == "ok":
            groups.setdefault((r["strategy"], r["budget"]), []).append(r)
    order = list(dict.fromkeys(r["strategy"] for r in records))
    rows = []
    for (spec, budget), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), _budget_order(kv[0][1]))):
        acc = np.array([r["accuracy"] for r in rs])
        energies = [r.get("energy_kwh") for r in rs if r.get("energy_kwh") is not None]
        co2 = [r.get("co2_g") for r in rs if r.get("co2_g") is not None]
        labels = {r.get("energy_label", "unavailable") for r in rs}
        energy_label = (
            "unavailable" if not energies else "measured" if labels == {"measured"} else "estimated"
        )  # any estimate makes the mean an estimate
        n_classes = rs[0].get("n_classes") or 1
        rows.append(
            {
                "strategy": spec,
                "transfer": not is_reference(spec),
                "budget": budget,
                "labels_per_class": float(np.mean([r.get("n_labelled", r["n_train"]) for r in rs])) / n_classes,
                "seeds": len(rs),
                "accuracy": float(acc.mean()),
                "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "accuracy_min": float(acc.min()),
                "accuracy_max": float(acc.max()),
                "macro_f1": _mean_or_none([r.get("macro_f1") for r in rs]),  # None for regression
                "fit_seconds": float(np.mean([r["fit_seconds"] for r in rs])),
                "cpu_seconds": float(np.mean([r["cpu_seconds"] for r in rs])),
                "peak_rss_mb": float(np.max([r["peak_rss_mb"] for r in rs])),
                "energy_kwh": float(np.mean(energies)) if energies else None,
                "co2_g": float(np.mean(co2)) if co2 else None,
                "energy_label": energy_label,
            }
        )
    return rows


def _mean_or_none(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _secs(x: float) -> str:
    return f"{x:.1f} s" if x < 120 else f"{x / 60:.1f} min"


def _budget_text(budget: str) -> str:
    if budget == "all":
        return "all labels"
    if budget == str(NO_LABELS):
        return "no labels"
    return f"{budget} labels per class"


def verdict(
    summary: list[dict[str, Any]],
    *,
    target_accuracy: float | None = None,
    time_limit_per_fit: float | None = None,
    tolerance: float = MATCH_TOLERANCE,
) -> dict[str, Any]:
    """The plain-language answer: what to use under the user's target, and whether transfer helped at all.

    Recommendation: with `target_accuracy`, the fewest labels per class at which some strategy's mean
    reaches it, then the fastest such strategy; without, the best mean accuracy at the largest budget
    (a strategy within `tolerance` of it that fits faster wins). `time_limit_per_fit` drops slower rows.
    Negative transfer: at a budget where `scratch` or `baseline` is within `tolerance` of, or above,
    the best transfer strategy (zero-shot counts at every budget).
    """
    result: dict[str, Any] = {
        "recommended": None,
        "headline": "",
        "details": [],
        "warnings": [],
        "negative_transfer": False,
        "negative_transfer_budgets": [],
        "target_accuracy": target_accuracy,
        "time_limit_per_fit": time_limit_per_fit,
        "tolerance": tolerance,
    }
    if not summary:
        result["headline"] = "No cell finished, so there is nothing to recommend yet."
        return result

    zero_shot = [r for r in summary if strategy_name(r["strategy"]) == "zero-shot"]
    budgets = sorted({r["budget"] for r in summary if r not in zero_shot}, key=_budget_order)
    for b in budgets:
        transfer = [r for r in summary if r["budget"] == b and r["transfer"]] + zero_shot
        reference = [r for r in summary if r["budget"] == b and not r["transfer"]]
        if not transfer or not reference:
            continue
        best_t = max(transfer, key=lambda r: r["accuracy"])
        best_r = max(reference, key=lambda r: r["accuracy"])
        if best_r["accuracy"] >= best_t["accuracy"] - tolerance:
            result["negative_transfer_budgets"].append(b)
            verb = "beats" if best_r["accuracy"] > best_t["accuracy"] else "matches"
            result["warnings"].append(
                f"Negative transfer at {_budget_text(b)}: {best_r['strategy']} (no pretrained network, "
                f"{_pct(best_r['accuracy'])}) {verb} every transfer strategy (best: {best_t['strategy']}, "
                f"{_pct(best_t['accuracy'])}). The pretrained backbone does not help on this data at this budget; "
                "prefer the cheaper model, or try another backbone (`headstart rank`)."
            )
        else:
            gain = best_t["accuracy"] - best_r["accuracy"]
            result["details"].append(
                f"At {_budget_text(b)}, transfer ({best_t['strategy']}, {_pct(best_t['accuracy'])}) beats the best "
                f"model without pretraining ({best_r['strategy']}, {_pct(best_r['accuracy'])}) by "
                f"{100 * gain:.1f} points."
            )
    result["negative_transfer"] = bool(result["negative_transfer_budgets"])

    candidates = list(summary)
    if time_limit_per_fit is not None:
        candidates = [r for r in candidates if r["fit_seconds"] <= time_limit_per_fit]
        if not candidates:
            fastest = min(summary, key=lambda r: r["fit_seconds"])
            result["headline"] = (
                f"No strategy fits within {_secs(time_limit_per_fit)}; the fastest was {fastest['strategy']} "
                f"at {_budget_text(fastest['budget'])} ({_secs(fastest['fit_seconds'])}, "
                f"{_pct(fastest['accuracy'])})."
            )
            return result
    limit_text = f" within {_secs(time_limit_per_fit)} per fit" if time_limit_per_fit is not None else ""

    if target_accuracy is not None:
        reaching = [r for r in candidates if r["accuracy"] >= target_accuracy]
        if not reaching:
            best = max(candidates, key=lambda r: r["accuracy"])
            result["headline"] = (
                f"No strategy reached {_pct(target_accuracy)}{limit_text}. The best was {best['strategy']} with "
                f"{_budget_text(best['budget'])}: {_pct(best['accuracy'])} (mean of {best['seeds']} seed(s)). "
                "More labels, another backbone or a lower target may be needed."
            )
            result["recommended"] = _pick(best)
            return result
        fewest = min(_budget_order(r["budget"]) if r not in zero_shot else 0 for r in reaching)
        at_fewest = [r for r in reaching if (0 if r in zero_shot else _budget_order(r["budget"])) == fewest]
        choice = min(at_fewest, key=lambda r: r["fit_seconds"])
        result["headline"] = (
            f"Use {choice['strategy']} with {_budget_text(choice['budget'])}: it reaches {_pct(choice['accuracy'])} "
            f"(target {_pct(target_accuracy)}, mean of {choice['seeds']} seed(s)) in {_secs(choice['fit_seconds'])} "
            f"per fit{limit_text} — the fewest labels that meet the target, and the fastest strategy there."
        )
    else:
        largest = max(_budget_order(r["budget"]) for r in candidates if r not in zero_shot) if any(
            r not in zero_shot for r in candidates
        ) else 0  # fmt: skip
        at_largest = [r for r in candidates if r not in zero_shot and _budget_order(r["budget"]) == largest]
        at_largest = at_largest or candidates
        best = max(at_largest, key=lambda r: r["accuracy"])
        close = [r for r in at_largest if r["accuracy"] >= best["accuracy"] - tolerance]
        choice = min(close, key=lambda r: r["fit_seconds"])
        why = "the best accuracy" if choice is best else (
            f"within {100 * tolerance:.0f} point of the best ({best['strategy']}, {_pct(best['accuracy'])}) "
            "and faster to fit"
        )  # fmt: skip
        result["headline"] = (
            f"Use {choice['strategy']}: with {_budget_text(choice['budget'])} it reaches {_pct(choice['accuracy'])} "
            f"(mean of {choice['seeds']} seed(s)) in {_secs(choice['fit_seconds'])} per fit{limit_text} — {why}."
        )
    result["recommended"] = _pick(choice)
    if result["negative_transfer"] and result["recommended"] and result["recommended"]["transfer"]:
        result["details"].append(
            "Transfer is recommended overall, but see the negative-transfer warning for the budgets listed."
        )
    return result


def _pick(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("strategy", "budget", "accuracy", "accuracy_std", "fit_seconds", "seeds", "transfer")
    return {k: row[k] for k in keys}


# ---------------------------------------------------------------- files for machines


TABLE_COLUMNS = (
    "key", "strategy", "family", "transfer", "budget", "labels_per_class", "seed", "status", "accuracy", "macro_f1",
    "ece", "n_labelled", "n_train", "n_test", "n_classes", "fit_seconds", "cpu_seconds", "peak_rss_mb",
    "rss_increase_mb", "predict_seconds", "energy_kwh", "co2_g", "energy_label", "measured", "method", "country",
    "carbon_intensity_g_per_kwh", "features_cached", "features_computed", "epochs", "error", "finished",
)  # fmt: skip


def write_tables(out: Path, records: list[dict[str, Any]]) -> None:
    """`results.csv` and `results.parquet`: one row per cell of the grid (histories stay in study.json)."""
    import pandas as pd

    frame = pd.DataFrame([{c: r.get(c) for c in TABLE_COLUMNS} for r in records], columns=list(TABLE_COLUMNS))
    frame["labels_per_class"] = frame["labels_per_class"].astype("Int64")
    frame["epochs"] = frame["epochs"].astype("Int64")
    frame.to_csv(out / "results.csv", index=False)
    try:
        frame.astype({"measured": "boolean"}).to_parquet(out / "results.parquet", index=False)
    except (ImportError, ValueError) as err:  # no parquet engine: the CSV is still there
        (out / "results.parquet.missing").write_text(f"parquet not written: {err}\n", encoding="utf-8")


def _write_study_json(
    out: Path,
    config: StudyConfig,
    frame: dict[str, Any],
    country: str,
    *,
    status: str,
    cells: list[Cell],
    summary: list[dict[str, Any]] | None = None,
    verdict: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    records = latest_by_key(read_records(out))
    doc = {
        "format": 1,
        "status": status,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "frame": frame,
        "config": config.model_dump(exclude={"progress"}),
        "country": country,
        "grid": {
            "strategies": config.strategies,
            "budgets": [budget_label(b) for b in config.budgets],
            "seeds": config.seeds,
            "cells": len(cells),
            "done": sum(records.get(c.key, {}).get("status") == "ok" for c in cells),
        },
        "summary": summary or [],
        "verdict": verdict or {},
        "cells": [records[c.key] for c in cells if c.key in records],
        "notes": notes or [],
        "measurement": {
            "fit_seconds": "wall time of the strategy's fit (training part only; feature extraction included "
            "for items not yet in the cache)",
            "cpu_seconds": "user + system CPU time of the process and its children during the fit (getrusage)",
            "peak_rss_mb": "highest resident set size of the process during the fit, sampled every 50 ms (psutil)",
            "energy": "CodeCarbon offline tracker around the fit; `measured` only when RAPL-type counters were read",
        },
    }
    tmp = out / "study.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=_json_default), encoding="utf-8")
    tmp.replace(out / "study.json")
    return doc
