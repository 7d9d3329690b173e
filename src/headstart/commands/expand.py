"""`expand`: grow a bundle with the classes of new data (see `headstart.services.expand`), as a tracked run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from headstart import tracking
from headstart.bundle import check_output_folder, read_manifest
from headstart.commands.tracked import record_outcome
from headstart.config import ExpandConfig
from headstart.tasks import AUTO, DEFAULT_TASK, refuse_task

if TYPE_CHECKING:  # expansion loads the fine-tuning code (and torch): only when a bundle is expanded
    from headstart.services.expand import ExpandResult


def expand(bundle: str | Path, data: str, config: ExpandConfig) -> ExpandResult:
    """Add the classes of `data` (checked by the facade) to the bundle, as `config` says, and record the run."""
    check_output_folder(config.out)
    refuse_task(read_manifest(bundle).task, "`headstart expand`")
    refuse_task(config.task if config.task != AUTO else DEFAULT_TASK, "`headstart expand`")
    params = {"parent": str(Path(bundle).resolve()), **config.model_dump(exclude={"progress"})}
    with tracking.tracked_run("expand", params, {"path": str(Path(data).resolve())}, enabled=config.track) as run:
        from headstart.services.expand import expand_bundle

        result = expand_bundle(bundle, data, config)
        record_outcome(run, "expand.json", result.to_dict(), {"metrics": result.to_dict().get("metrics", {})})
        if run.active:
            run.set_tags({tracking.TAG_BUNDLE: str(result.bundle)})
            run.log_artifact_dir(result.bundle, tracking.BUNDLE_ARTIFACT)
    result.notes.extend(run.problems)
    return result
