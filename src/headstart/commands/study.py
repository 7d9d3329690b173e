"""`study`: strategies × label budgets × seeds on one dataset (see `headstart.services.study`), as a tracked run."""

from __future__ import annotations

from headstart import tracking
from headstart.config import StudyConfig
from headstart.services.study import StudyResult, plan_study, run_study
from headstart.services.study.run import Event


def study(data: str, config: StudyConfig, on_event: Event | None = None) -> StudyResult:
    """Strategies × label budgets × seeds on one fixed test split, as `config` says; writes results and
    `report.html` to `config.out`, and skips the cells a previous run finished. `on_event` gets progress events."""
    plan = plan_study(data, config)
    if not plan.todo:  # a resume with nothing left to compute rewrites the files but is not a new run
        result = run_study(data, config, on_event=on_event, plan=plan)
        if tracking.tracking_enabled(config.track):
            result.notes.append("every cell was already done, so nothing was computed and no new run was tracked")
        return result
    frame = plan.frame  # the backbone actually used (the default when --backbone was omitted) and the data
    params = {**plan.config.model_dump(exclude={"progress"}), "backbone": frame["backbone"]}
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
