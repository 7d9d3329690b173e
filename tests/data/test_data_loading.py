"""load_dataset / load_inputs: dispatch and every dataset-level DataError."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from headstart.data.loading import load_dataset, load_inputs
from headstart.errors import BadItemError, DataError, UsageError


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (1, 2, 3)).save(path)
    return path


def _csv(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_folder_and_table_dispatch(tmp_path: Path) -> None:
    _img(tmp_path / "imgs" / "cat" / "a.png")
    _img(tmp_path / "imgs" / "dog" / "b.png")
    assert load_dataset(tmp_path / "imgs").modality == "image"
    table = _csv(tmp_path / "d.csv", "text,label\nhello there,a\ngood bye,b\n")
    assert load_dataset(str(table)).labels == ("a", "b")


def test_missing_path_suggests_a_sibling(tmp_path: Path) -> None:
    _csv(tmp_path / "train.csv", "text,label\nx,a\ny,b\n")
    with pytest.raises(DataError, match=r"(?s)dataset '.*trian.csv' does not exist.*fix: did you mean '.*train.csv'"):
        load_dataset(tmp_path / "trian.csv")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"(?s)empty'? has no class subfolders.*<root>/<class>/<file>.*fix:"):
        load_dataset(tmp_path / "empty")


def test_class_folders_without_images_name_extensions(tmp_path: Path) -> None:
    (tmp_path / "d" / "cat").mkdir(parents=True)
    (tmp_path / "d" / "dog").mkdir()
    with pytest.raises(DataError, match=r"(?s)no images found in .*d'.*\.jpg.*fix:"):
        load_dataset(tmp_path / "d")


def test_one_class_folder_is_named(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "cat" / "a.png")
    with pytest.raises(DataError, match=r"(?s)only one class, 'cat'.*fix: add a second class folder"):
        load_dataset(tmp_path / "d")
    assert len(load_dataset(tmp_path / "d", require_labels=False)) == 1


def test_one_class_table_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", "text,label\nhello,spam\nhi,spam\n")
    with pytest.raises(DataError, match=r"(?s)d\.csv' has only one class, 'spam'.*fix:"):
        load_dataset(path)


def test_images_without_class_subfolders(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "a.jpg")
    with pytest.raises(
        DataError, match=r"(?s)no class subfolders.*expected: one subfolder per class: <root>/<class>/<file>"
    ):
        load_dataset(tmp_path / "d")


def test_unsupported_extension_and_single_image(tmp_path: Path) -> None:
    xlsx = tmp_path / "d.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"(?s)d\.xlsx' has an unsupported extension '\.xlsx'.*\.parquet.*fix: .*CSV"):
        load_dataset(xlsx)
    one = _img(tmp_path / "cat" / "a.png")
    with pytest.raises(DataError, match=r"(?s)a\.png' is a single image.*fix: pass the folder"):
        load_dataset(one)


def test_all_items_bad_is_data_error(tmp_path: Path) -> None:
    for cls in ("cat", "dog"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        (tmp_path / "d" / cls / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"(?s)no usable items .*all 2 were skipped.*0 bytes.*fix:"):
        load_dataset(tmp_path / "d")
    with pytest.raises(BadItemError, match="cat/x.png"):
        load_dataset(tmp_path / "d", on_bad="fail")


def test_on_bad_validated(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="(?s)on_bad='ignore'.*fix: pass --on-bad skip"):
        load_dataset(tmp_path, on_bad="ignore")


def test_inputs_images(tmp_path: Path) -> None:
    a = _img(tmp_path / "a.png")
    _img(tmp_path / "folder" / "b.png")
    ds = load_inputs([str(a), str(tmp_path / "folder")])
    assert ds.modality == "image" and len(ds) == 2 and ds.labels is None


def test_inputs_table_and_txt(tmp_path: Path) -> None:
    table = _csv(tmp_path / "in.csv", "text,label\nfirst one,a\nsecond one,b\n")
    ds = load_inputs([str(table)])
    assert ds.modality == "text" and ds.items == ("first one", "second one") and ds.labels is None
    txt = tmp_path / "in.txt"
    txt.write_text("one\ntwo\n")
    both = load_inputs([str(table), str(txt)])
    assert both.items == ("first one", "second one", "one", "two")
    assert both.ids[2] == f"{txt}: row 1"


def test_inputs_raw_strings_need_text_modality(tmp_path: Path) -> None:
    ds = load_inputs(["what a film", "  ", "terrible"], modality="text")
    assert ds.items == ("what a film", "terrible") and ds.ids == ("input 1", "input 3")
    assert ds.skipped[0].to_dict() == {"id": "input 2", "reason": "empty text"}
    with pytest.raises(DataError, match="(?s)input 'what a film' does not exist.*modality='text'"):
        load_inputs(["what a film"])


def test_text_inputs_that_are_plainly_paths_are_refused(tmp_path: Path) -> None:
    """A text model must not classify a mistyped file name, a folder or an image as if it were a text."""
    _csv(tmp_path / "new_tickets.csv", "text\nhello\n")
    with pytest.raises(DataError, match="(?s)new_tickts.csv' does not exist.*did you mean .*new_tickets.csv"):
        load_inputs([str(tmp_path / "new_tickts.csv")], modality="text")
    with pytest.raises(DataError, match="an image file, but this model reads texts"):
        load_inputs([str(_img(tmp_path / "a.png"))], modality="text")
    with pytest.raises(DataError, match="a folder, but this model reads texts"):
        load_inputs([str(tmp_path)], modality="text")
    ds = load_inputs(["report.csv is late again", "ok.", str(tmp_path / "new_tickets.csv")], modality="text")
    assert ds.items == ("report.csv is late again", "ok.", "hello")  # texts that merely mention a file stay texts


def test_inputs_mismatch_and_empty(tmp_path: Path) -> None:
    table = _csv(tmp_path / "in.csv", "text\nhello\n")
    with pytest.raises(DataError, match="(?s)table of texts but images were expected.*fix:"):
        load_inputs([str(table)], modality="image")
    img = _img(tmp_path / "a.png")
    with pytest.raises(DataError, match="(?s)mix tables.*fix:"):
        load_inputs([str(table), str(img)])
    with pytest.raises(UsageError, match="no inputs"):
        load_inputs([])
