"""rank, study and expand are tracked runs too, with their results as artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

from headstart import api, tracking

from .conftest import colour_folder, fit


def test_rank_study_and_expand_record_runs(tmp_path: Path) -> None:
    data = colour_folder(tmp_path / "data", per_class=6)
    new = tmp_path / "new"
    (new / "magenta").mkdir(parents=True)
    for i, image in enumerate(sorted((data / "red").iterdir())):  # a sixth class for expand
        shutil.copy(image, new / "magenta" / f"{i}.png")
    old = tmp_path / "old"
    shutil.copytree(data, old)
    shutil.rmtree(old / "cyan")

    ranked = api.rank(data, backbones=["test-cnn"], progress=False)
    studied = api.study(data, backbone="test-cnn", strategies="linear", budgets="3", seeds=1,
                        out=str(tmp_path / "study"), energy=False, progress=False)  # fmt: skip
    parent = fit(old, tmp_path / "model")
    expanded = api.expand(parent.bundle, new, out=str(tmp_path / "model-v2"), progress=False)
    assert not ranked.notes or all("tracking" not in n for n in ranked.notes)

    (rank_record,) = api.runs(kind="rank", data=str(data), limit=50)
    rank_run = api.run_details(rank_record.run_id)
    assert rank_run.status == "FINISHED" and "rank.json" in rank_run.artifacts
    assert rank_run.data_path == str(data.resolve())
    assert "best_logme.logme" in rank_run.metrics or any(k.startswith("best_logme") for k in rank_run.metrics)
    study_run = next(
        api.run_details(r.run_id) for r in api.runs(kind="study", limit=50) if r.data_path == str(data.resolve())
    )
    assert {"study/study.json", "study/report.html"} <= set(study_run.artifacts)
    assert studied.out.is_dir()
    expand_run = next(
        api.run_details(r.run_id) for r in api.runs(kind="expand", limit=50) if r.data_path == str(new.resolve())
    )
    assert expand_run.tags[tracking.TAG_BUNDLE] == str(expanded.bundle)
    assert "expand.json" in expand_run.artifacts and "bundle/manifest.json" in expand_run.artifacts
