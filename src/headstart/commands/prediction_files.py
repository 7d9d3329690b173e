"""`predict --out FILE`: predictions as a table, joined back onto the user's own table when one was predicted.

A single table in gives the same table out (every column, the user's ids included, in the same row order) with
the prediction columns appended; any other input gives one row per input (`id`, `input`). Every input has a row:
items that could not be read keep empty prediction columns and say why in `skipped_reason`. The format follows the
file's suffix (.csv, .tsv, .jsonl, .parquet); list-valued columns (`predicted_top`, `predicted_labels`) are JSON
strings in CSV/TSV, so every format reads back with plain pandas. Fields of documents are one column per field
(the found value), except in JSONL, where each line is the document's record: `{"id", "input", "fields": {name:
{value, confidence, lines, page, box}}}`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from headstart.data import SkippedItem
from headstart.data.tables import TABLE_EXTENSIONS, is_table_file, read_table
from headstart.errors import UsageError
from headstart.outputs import check_writable, writing
from headstart.tasks import Outputs, get_task

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_COLUMNS = {  # by what the task kind's model outputs
    Outputs.CLASSES: ("predicted_label", "predicted_probability", "predicted_top"),
    Outputs.TAGS: ("predicted_labels", "predicted_top"),
    Outputs.VALUE: ("predicted_value",),
}
SKIPPED_COLUMN = "skipped_reason"
ROW_PREFIX = "row "  # the loader's id of a table row: "row N", N counting data rows from 1


class Predicted(Protocol):
    """What a predictions table is made of: a `PredictResult` (commands/predict.py)."""

    @property
    def predictions(self) -> Sequence[Any]: ...  # `Prediction`s: id, input, top, label/labels/value

    @property
    def skipped(self) -> Sequence[SkippedItem]: ...

    @property
    def task(self) -> str: ...

    @property
    def outputs(self) -> list[str]: ...  # the model's output names: the columns of a fields table


def check_output_path(out: str | Path, inputs: Sequence[str]) -> Path:
    """`out` as a Path when it names a table format and is none of the inputs; a UsageError otherwise."""
    path = Path(out)
    if path.suffix.lower() not in TABLE_EXTENSIONS:
        raise UsageError(
            f"cannot write predictions to {str(path)!r}: unknown table format {path.suffix or '(no suffix)'!r}",
            expected="a file name ending in " + ", ".join(sorted(TABLE_EXTENSIONS)),
            fix=f"pass e.g. --out {path.with_suffix('.csv').name}",
        )
    if path.is_dir():
        raise UsageError(
            f"cannot write predictions to {str(path)!r}: it is a folder",
            expected="a file name such as predictions.csv",
            fix=f"pass --out {path / 'predictions.csv'}",
        )
    for given in inputs:
        try:
            same = Path(given).exists() and path.exists() and os.path.samefile(given, path)
        except OSError:
            same = False
        if same:
            raise UsageError(
                f"--out {str(path)!r} is the input being predicted",
                expected="a new file for the predictions (the input table is kept as it is)",
                fix=f"pass e.g. --out {path.with_stem(path.stem + '-predictions').name}",
            )
    check_writable(out)
    return path


def predictions_frame(result: Predicted, inputs: Sequence[str] = (), *, nested: bool = False) -> pd.DataFrame:
    """The predictions as a DataFrame: the input table's columns first when exactly one table was predicted.

    `nested`: a document's fields as one `fields` column of records rather than a column per field."""
    import pandas as pd

    rows = {p.id: _prediction_cells(p, result.task, nested) for p in result.predictions}
    rows.update({s.id: {SKIPPED_COLUMN: s.reason} for s in result.skipped})
    columns = [*_prediction_columns(result, nested), SKIPPED_COLUMN]
    table = _single_table(inputs)
    if table is not None:
        frame, _ = read_table(table)
        cells = [rows.get(f"{ROW_PREFIX}{n}", {}) for n in frame.index]
        added = pd.DataFrame(cells, columns=columns, index=frame.index)
        kept = frame.drop(columns=[c for c in columns if c in frame.columns])
        return pd.concat([kept, added], axis=1).reset_index(drop=True)
    listed = [{"id": p.id, "input": p.input, **rows[p.id]} for p in result.predictions]
    listed += [{"id": s.id, "input": None, SKIPPED_COLUMN: s.reason} for s in result.skipped]
    positions = [_position(row["id"]) for row in listed]
    known = [p for p in positions if p is not None]
    if len(known) == len(positions):  # texts given one by one: back in the order they were given
        listed = [row for _, row in sorted(zip(known, listed, strict=True), key=lambda pair: pair[0])]
    return pd.DataFrame(listed, columns=["id", "input", *columns])


def _position(item_id: str) -> int | None:
    """N of the loader's "input N" / "row N" ids, else None (a file's id is its path)."""
    kind, _, number = item_id.partition(" ")
    return int(number) if kind in ("input", "row") and number.isdigit() else None


def write_predictions(result: Predicted, inputs: Sequence[str], out: str | Path) -> Path:
    """Write `predictions_frame` to `out` (format by suffix), atomically; returns the path written."""
    path = check_output_path(out, inputs)
    kind = TABLE_EXTENSIONS[path.suffix.lower()]
    frame = predictions_frame(result, inputs, nested=kind == "jsonl")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            if kind == "parquet":
                frame.to_parquet(tmp, index=False)
            elif kind == "jsonl":
                frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
            else:
                frame.to_csv(tmp, sep="\t" if kind == "tsv" else ",", index=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def _single_table(inputs: Sequence[str]) -> Path | None:
    if len(inputs) != 1:
        return None
    given = Path(inputs[0])
    try:
        return given if given.is_file() and is_table_file(str(given)) else None
    except OSError:
        return None


def _prediction_columns(result: Predicted, nested: bool) -> list[str]:
    """The prediction columns of the task kind's table; for fields, one per field the model extracts."""
    outputs = get_task(result.task).outputs
    if outputs is not Outputs.FIELDS:
        return list(PREDICTION_COLUMNS[outputs])
    if nested:
        return ["fields"]
    found = [name for p in result.predictions for name in (p.fields or {})]
    return list(dict.fromkeys([*result.outputs, *found]))


def _prediction_cells(prediction: Any, task: str, nested: bool = False) -> dict[str, Any]:
    top = json.dumps([[label, round(float(p), 6)] for label, p in prediction.top])
    outputs = get_task(task).outputs
    if outputs is Outputs.FIELDS:
        fields = prediction.fields or {}
        if nested:
            return {"fields": fields}
        return {name: found["value"] for name, found in fields.items()}
    if outputs is Outputs.VALUE:
        return {"predicted_value": prediction.value}
    if outputs is Outputs.TAGS:
        return {"predicted_labels": json.dumps(prediction.labels or []), "predicted_top": top}
    return {"predicted_label": prediction.label, "predicted_probability": prediction.probability, "predicted_top": top}
