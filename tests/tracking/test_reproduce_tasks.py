"""`reproduce` and `runs --data` read a run's data as its fit did, for every task kind (task, target, separator)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from headstart import api
from tests.conftest import TEXT_CLASSES
from tests.tasks.conftest import tags_of_text

# fit options per task kind, on one table with text, a `|`-separated tags column and a numeric length column
KINDS = {
    "classification": {"text_column": "text", "label_column": "topic"},
    "multilabel": {"text_column": "text", "label_column": "tags", "separator": "|"},
    "regression": {"text_column": "text", "target": "length"},
}


def table(path: Path) -> Path:
    """`text,topic,tags,length`: the topic texts three times, tags joined by `|`, length = characters."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "topic", "tags", "length"])
        for r in range(3):
            for topic, texts in TEXT_CLASSES.items():
                for i, text in enumerate(texts):
                    row = text if r == 0 else f"{text} again {r}"
                    writer.writerow([row, topic, "|".join(tags_of_text(topic, i)), len(row)])
    return path


@pytest.fixture(scope="module")
def runs_by_kind(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, api.FitResult]]:
    root = tmp_path_factory.mktemp("kinds")
    data = table(root / "data.csv")
    fits = {
        kind: api.fit(data, backbone="test-text", out=str(root / kind), progress=False, **options)
        for kind, options in KINDS.items()
    }
    return data, fits


@pytest.mark.parametrize("kind", list(KINDS))
def test_reproduce_rereads_the_data_as_fit_did(
    runs_by_kind: tuple[Path, dict[str, api.FitResult]], kind: str, tmp_path: Path
) -> None:
    _, fits = runs_by_kind
    fitted = fits[kind]
    assert api.run_details(fitted.run_id).params.get("data.fingerprint")
    result = api.reproduce(fitted.run_id, out=tmp_path / "again", progress=False)
    assert result.matches is True, result.metrics
    assert set(result.metrics) >= {"n", *(k for k in fitted.metrics if k != "n")}
    assert api.load(result.bundle).task == kind


def test_runs_finds_every_kind_by_fingerprint_after_the_data_moved(
    runs_by_kind: tuple[Path, dict[str, api.FitResult]], tmp_path: Path
) -> None:
    data, fits = runs_by_kind
    moved = shutil.copy(data, tmp_path / "moved.csv")  # another path: only the fingerprint can match
    found = {run.run_id for run in api.runs(data=str(moved), limit=100)}
    assert {fit.run_id for fit in fits.values()} <= found
    unrelated = table(tmp_path / "other.csv")
    with open(unrelated, "a", newline="") as f:
        csv.writer(f).writerow(["a text of its own", "food", "food", 17])
    assert not {fit.run_id for fit in fits.values()} & {run.run_id for run in api.runs(data=str(unrelated))}
