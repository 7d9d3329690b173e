"""`predict --out FILE`: the user's table comes back with prediction columns, one row per input, any format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import headstart
from headstart.api import Prediction, PredictResult
from headstart.cli.main import app
from headstart.commands.prediction_files import predictions_frame, write_predictions
from headstart.data.dataset import SkippedItem
from headstart.errors import UsageError
from tests.conftest import make_text_csv

NEW_TEXTS = ["a great goal in the match", "", "the election results are in", "   ", "the striker scored twice"]


@pytest.fixture(scope="module")
def text_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prediction-files")
    bundle = root / "model"
    headstart.fit(
        str(make_text_csv(root / "train.csv")), backbone="test-text", out=str(bundle), track=False, progress=False
    )
    return bundle


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    """A user's table: an id column, the text under a non-default name, an extra column, blank texts."""
    path = tmp_path / "tickets.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ticket_id", "message", "channel"])
        for n, text in enumerate(NEW_TEXTS):
            writer.writerow([f"T-{100 + n}", text, "email" if n % 2 else "chat"])
    return path


def test_a_table_comes_back_with_its_columns_and_one_row_per_input(
    text_bundle: Path, tickets: Path, tmp_path: Path
) -> None:
    result = headstart.predict(str(text_bundle), [str(tickets)], progress=False)
    out = write_predictions(result, [str(tickets)], tmp_path / "out" / "predicted.csv")
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(back.columns) == [
        "ticket_id",
        "message",
        "channel",
        "predicted_label",
        "predicted_probability",
        "predicted_top",
        "skipped_reason",
    ]
    assert back["ticket_id"].tolist() == [f"T-{100 + n}" for n in range(len(NEW_TEXTS))]  # same rows, same order
    by_input = {p.input: p for p in result.predictions}
    for _, row in back.iterrows():
        if row["message"].strip():
            prediction = by_input[row["message"]]
            assert row["predicted_label"] == prediction.label and row["skipped_reason"] == ""
            assert float(row["predicted_probability"]) == pytest.approx(prediction.probability, abs=1e-6)
            assert json.loads(row["predicted_top"])[0][0] == prediction.label
        else:
            assert row["predicted_label"] == "" and "empty" in row["skipped_reason"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".tsv"])
def test_every_table_format_reads_back(text_bundle: Path, tickets: Path, tmp_path: Path, suffix: str) -> None:
    result = headstart.predict(str(text_bundle), [str(tickets)], progress=False)
    out = write_predictions(result, [str(tickets)], tmp_path / f"predicted{suffix}")
    back = {
        ".jsonl": lambda: pd.read_json(out, lines=True, dtype=False),
        ".parquet": lambda: pd.read_parquet(out),
        ".tsv": lambda: pd.read_csv(out, sep="\t"),
    }[suffix]()
    assert len(back) == len(NEW_TEXTS)
    assert back["predicted_label"].notna().sum() == len(result.predictions)


def test_raw_texts_get_id_and_input_rows(text_bundle: Path, tmp_path: Path) -> None:
    inputs = ["the team won", "vote for the new law"]
    result = headstart.predict(str(text_bundle), inputs, progress=False)
    frame = predictions_frame(result, inputs)
    assert frame["input"].tolist() == inputs and frame["id"].tolist() == ["input 1", "input 2"]
    assert frame["predicted_label"].tolist() == [p.label for p in result.predictions]


def test_other_tasks_get_their_own_columns() -> None:
    regression = PredictResult(
        [Prediction("input 1", None, None, [], "a", task="regression", value=2.5)], [], task="regression"
    )
    assert predictions_frame(regression).loc[0, "predicted_value"] == 2.5
    tags = PredictResult(
        [Prediction("input 1", None, None, [("x", 0.9), ("y", 0.2)], "a", task="multilabel", labels=["x"])],
        [SkippedItem("input 2", "empty text")],
        task="multilabel",
    )
    frame = predictions_frame(tags)
    assert json.loads(frame.loc[0, "predicted_labels"]) == ["x"]
    assert frame.loc[1, "skipped_reason"] == "empty text" and "predicted_label" not in frame.columns


def test_the_input_table_and_unknown_formats_are_refused(text_bundle: Path, tickets: Path, tmp_path: Path) -> None:
    result = headstart.predict(str(text_bundle), [str(tickets)], progress=False)
    before = tickets.read_bytes()
    with pytest.raises(UsageError, match="is the input being predicted"):
        write_predictions(result, [str(tickets)], tickets)
    assert tickets.read_bytes() == before
    with pytest.raises(UsageError, match="unknown table format"):
        write_predictions(result, [str(tickets)], tmp_path / "predictions.xlsx")


def test_cli_predict_out_writes_the_file_and_says_so(text_bundle: Path, tickets: Path, tmp_path: Path) -> None:
    out = tmp_path / "predicted.csv"
    result = CliRunner().invoke(app, ["predict", str(text_bundle), str(tickets), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["out"] == str(out)
    assert len(pd.read_csv(out)) == len(NEW_TEXTS)
    bad = CliRunner().invoke(app, ["predict", str(text_bundle), str(tickets), "--out", str(tmp_path / "x.docx")])
    assert bad.exit_code == 2 and "unknown table format" in bad.output


def test_texts_given_one_by_one_come_back_in_their_order_skipped_ones_included(text_bundle: Path) -> None:
    inputs = ["a great goal", "", "the vote", "   ", "the match"]
    result = headstart.predict(str(text_bundle), inputs, progress=False)
    frame = predictions_frame(result, inputs)
    assert frame["id"].tolist() == [f"input {n}" for n in range(1, 6)]
    assert frame["skipped_reason"].notna().tolist() == [False, True, False, True, False]
