"""Tables to text datasets: formats, column detection, split column, bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from headstart.data.tables import label_to_str, load_table, load_text_lines
from headstart.errors import BadItemError, DataError, UsageError

ROWS = [
    {"text": "a lovely little film", "label": 1},
    {"text": "dull and far too long", "label": 0},
    {"text": "I laughed all the way", "label": 1},
]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    frame = pd.DataFrame(rows)
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_reads_texts_and_string_labels(tmp_path: Path, suffix: str) -> None:
    ds = load_table(_write(tmp_path / f"d{suffix}", ROWS))
    assert ds.modality == "text"
    assert ds.items == tuple(r["text"] for r in ROWS)
    assert ds.labels == ("1", "0", "1")
    assert ds.ids == ("row 1", "row 2", "row 3")
    assert ds.splits is None and ds.skipped == ()


def test_parquet_int_labels_with_missing_are_not_floats(tmp_path: Path) -> None:
    rows = [*ROWS, {"text": "no label here", "label": None}]
    ds = load_table(_write(tmp_path / "d.parquet", rows))
    assert ds.labels == ("1", "0", "1")
    assert ds.skipped[0].id == "row 4" and "missing label" in ds.skipped[0].reason


def test_label_to_str() -> None:
    assert [label_to_str(v) for v in (1, 1.0, 2.5, " cat ", "", None, True)] == [
        "1",
        "1",
        "2.5",
        "cat",
        None,
        None,
        "true",
    ]


def test_txt_is_unlabelled_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("first text\n\nsecond text\n")
    ds = load_table(path, require_labels=False)
    assert ds.items == ("first text", "second text") and ds.ids == ("row 1", "row 3")
    assert ds.labels is None
    assert load_text_lines(path).items == ds.items
    with pytest.raises(DataError, match="(?s)in.txt.*fix: save the data as CSV"):
        load_table(path)


def test_text_column_detected_by_name_case_insensitive(tmp_path: Path) -> None:
    rows = [{"ID": i, "Review": r["text"], "Category": r["label"]} for i, r in enumerate(ROWS)]
    ds = load_table(_write(tmp_path / "d.csv", rows))
    assert ds.items[0] == "a lovely little film" and ds.labels == ("1", "0", "1")


def test_text_column_detected_as_only_long_string_column(tmp_path: Path) -> None:
    rows = [{"tweet": r["text"], "lang": "en", "n": 3, "label": r["label"]} for r in ROWS]
    ds = load_table(_write(tmp_path / "d.csv", rows))
    assert ds.items[1] == "dull and far too long"


def test_ambiguous_text_column_lists_candidates_and_fix(tmp_path: Path) -> None:
    rows = [{"title": r["text"], "abstract": r["text"] + "!", "label": r["label"]} for r in ROWS]
    path = _write(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match=r"(?s)d\.csv.*'title'.*'abstract'.*fix: pass --text-column NAME"):
        load_table(path)
    assert load_table(path, text_column="abstract").items[0].endswith("!")


def test_two_named_text_columns_are_ambiguous(tmp_path: Path) -> None:
    rows = [{"text": r["text"], "sentence": r["text"], "label": r["label"]} for r in ROWS]
    with pytest.raises(DataError, match="(?s)holds the text.*--text-column"):
        load_table(_write(tmp_path / "d.csv", rows))


def test_unknown_given_column_suggests_the_nearest(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", ROWS)
    with pytest.raises(DataError, match="(?s)no text column 'txt'.*did you mean 'text'"):
        load_table(path, text_column="txt")
    with pytest.raises(DataError, match="(?s)no label column 'lable'.*did you mean 'label'.*--label-column"):
        load_table(path, label_column="lable")


def test_missing_label_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", [{"text": r["text"], "score": r["label"]} for r in ROWS])
    with pytest.raises(DataError, match=r"(?s)d\.csv.*no label column.*'score'.*fix: pass --label-column"):
        load_table(path)
    assert load_table(path, label_column="score").labels == ("1", "0", "1")
    assert load_table(path, require_labels=False).labels is None


def test_same_text_and_label_column_is_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", ROWS)
    with pytest.raises(UsageError, match="different"):
        load_table(path, text_column="text", label_column="text")


def test_split_column_normalised(tmp_path: Path) -> None:
    values = ["Train", "TRAINING", "val", "dev", "Validation", "valid", "test", " Test "]
    rows = [{"text": f"text number {i}", "label": i % 2, "Split": v} for i, v in enumerate(values)]
    ds = load_table(_write(tmp_path / "d.csv", rows))
    assert ds.splits == ("train", "train") + ("validation",) * 4 + ("test", "test")


def test_unknown_split_value_is_data_error(tmp_path: Path) -> None:
    rows = [{"text": "some text", "label": 0, "split": "train"}, {"text": "more", "label": 1, "split": "holdout"}]
    with pytest.raises(DataError, match=r"(?s)d\.csv.*row 2.*'holdout'.*expected: one of train.*fix:"):
        load_table(_write(tmp_path / "d.csv", rows))


def test_bad_rows_skipped_with_row_numbers(tmp_path: Path) -> None:
    rows = [
        {"text": "fine text", "label": "a"},
        {"text": "   ", "label": "a"},
        {"text": None, "label": "b"},
        {"text": "no label", "label": None},
        {"text": "also fine", "label": "b"},
    ]
    ds = load_table(_write(tmp_path / "d.csv", rows))
    assert ds.items == ("fine text", "also fine") and ds.ids == ("row 1", "row 5")
    assert [(s.id, s.reason.split(" (")[0]) for s in ds.skipped] == [
        ("row 2", "empty text"),
        ("row 3", "empty text"),
        ("row 4", "missing label in column 'label'"),
    ]
    with pytest.raises(BadItemError, match=r"(?s)d\.csv: row 2.*empty text.*fix:"):
        load_table(tmp_path / "d.csv", on_bad="fail")


def test_literal_na_strings_are_texts_not_missing(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nNA,a\nNone,b\n")
    assert load_table(path).items == ("NA", "None")


def test_invalid_jsonl_line_is_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok one", "label": "x"}\n{broken\n[1, 2]\n{"text": "ok two", "label": "y"}\n')
    ds = load_table(path)
    assert ds.ids == ("row 1", "row 4")
    assert [s.id for s in ds.skipped] == ["row 2", "row 3"]
    assert "invalid JSON" in ds.skipped[0].reason
    with pytest.raises(BadItemError, match="row 2"):
        load_table(path, on_bad="fail")


def test_unlabelled_predict_table_keeps_rows_without_labels(tmp_path: Path) -> None:
    rows = [{"text": "one", "label": "a"}, {"text": "two", "label": None}]
    ds = load_table(_write(tmp_path / "d.csv", rows), require_labels=False)
    assert ds.items == ("one", "two") and ds.labels is None
    assert "labels ignored" in ds.notes[0]


def test_empty_and_unparseable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"(?s)empty\.csv.*is empty.*fix:"):
        load_table(empty)
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=r"(?s)cannot parse .*bad\.parquet.*fix:"):
        load_table(bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 au lait,a\n".encode("latin-1"))
    with pytest.raises(DataError, match="(?s)not UTF-8.*fix: re-save"):
        load_table(latin)
