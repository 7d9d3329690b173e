"""`promote`: put a candidate bundle in production when it beats the current one on the same labelled data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headstart import tracking
from headstart.bundle import read_manifest
from headstart.commands.evaluate import evaluate
from headstart.config import EvaluateConfig, PromoteGate, data_path
from headstart.errors import UsageError
from headstart.services.promotion import (
    ALIAS,
    GateReport,
    PromotionResult,
    check_metric,
    decide,
    refusal,
    write_decision,
)
from headstart.tasks import Task, refuse_task
from headstart.tasks.metrics import small_test_line


def promote(
    candidate: str | Path,
    over: str | Path,
    on: str | Path,
    gate: PromoteGate,
    config: EvaluateConfig,
) -> PromotionResult:
    """Promote `candidate` over `over` when it passes the `gate` on the labelled data `on` (both bundles evaluated
    as `config` says); record the decision, or raise `PromotionRefused` (see `headstart.promote`)."""
    margin, class_tolerance = gate.margin, gate.class_tolerance
    new, current = read_manifest(candidate), read_manifest(over)  # evaluate loads the models; the manifests suffice
    refuse_task(new.task, "`headstart promote`")
    metric = gate_metric(gate.metric, new.kind)
    check_metric(metric)
    if new.modality != current.modality:
        raise UsageError(
            f"the candidate reads {new.modality} and the current model {current.modality}: one dataset cannot "
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
    scored = data_path(on, "evaluate")
    candidate_eval = evaluate(candidate, scored, config)
    if candidate_eval.warnings and not gate.allow_training_data:
        raise UsageError(
            f"--on {str(on)!r} is the data the candidate was fitted on: its score there is not a held-out score",
            expected="labelled data neither model was fitted on (a holdout, or recent data)",
            fix="pass such data to --on, or --allow-training-data to compare on this data anyway",
        )
    current_eval = evaluate(over, scored, config)
    new_report, current_report = candidate_eval.report, current_eval.report
    assert isinstance(new_report, GateReport) and isinstance(current_report, GateReport)
    result = decide(
        new_report,
        current_report,
        names=(str(candidate), str(over), str(on)),
        metric=metric,
        margin=margin,
        class_tolerance=class_tolerance,
        allow_missing_classes=gate.allow_missing_classes,
    )
    if candidate_eval.skipped:
        result.notes.append(f"{len(candidate_eval.skipped)} item(s) of {str(on)!r} could not be used")
    result.notes.extend(candidate_eval.notes)  # which part of `on` was scored; classes it has no example of
    if line := small_test_line(candidate_eval.report.summary(), f"items of {str(on)!r}"):
        result.notes.append(f"{line} (the candidate's): differences smaller than that are mostly noise")
    result.notes.extend(f"the candidate: {w}" for w in candidate_eval.warnings)
    result.notes.extend(f"the current model: {w}" for w in current_eval.warnings)
    if not result.promoted:
        raise refusal(result)
    record_promotion(result, Path(candidate), Path(over), gate.model_name)
    return result


def gate_metric(metric: str, kind: Task) -> str:
    """The metric the gate compares: `metric` when the task kind is scored by it; the kind's own default when
    `metric` is the gate's default (macro-F1 for classes, entity F1 for fields); else a UsageError."""
    if metric in kind.promotion_metrics:
        return metric
    if metric == PromoteGate.model_fields["metric"].default:
        return kind.promotion_metrics[0]
    raise UsageError(
        f"metric={metric!r} does not score {kind.name} models",
        expected=f"for {kind.name}: one of {', '.join(kind.promotion_metrics)}",
        fix=f"pass --metric {kind.promotion_metrics[0]}",
    )


def record_promotion(result: PromotionResult, candidate: Path, over: Path, model_name: str) -> None:
    """Tag the candidate's run, point the registry alias at it, and write promotion.json."""
    manifest = read_manifest(candidate)
    run_id: str | None = manifest.run_id
    recorded: dict[str, Any] = {"run_id": run_id, "registry": None}
    if not tracking.tracking_enabled():
        result.notes.append("tracking is off: only promotion.json records the decision")
        result.recorded = {**recorded, "file": str(write_decision(result, candidate))}
        return
    store = tracking.tracking_uri()
    own: str | None = manifest.tracking_uri
    if run_id and own and own != store and tracking.store_exists(own):
        if not tracking.store_exists(store) or tracking.find_run(run_id) is None:
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
