"""`load_input_files`: the one reader of the files and folders given to predict, as images and documents use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from headstart.data.folders import IMAGES, load_file_inputs
from headstart.data.modalities.documents import load_document_inputs
from headstart.errors import BadItemError, DataError


def _page(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), "white").save(path)


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A documents folder (pages under img/, one broken, one deeper), a stray text file, in the current folder."""
    monkeypatch.chdir(tmp_path)
    _page(tmp_path / "docs/img/r2.png")
    _page(tmp_path / "docs/img/r1.jpg")
    _page(tmp_path / "docs/img/deeper/r9.png")
    (tmp_path / "docs/img/r3.pdf").write_bytes(b"not a pdf")
    (tmp_path / "docs/img/notes.txt").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path


def test_documents_read_a_folder_img_only_in_name_order_with_absolute_items(inputs: Path) -> None:
    ds = load_document_inputs(["docs/", "notes.txt"])
    assert ds.modality == "document"
    assert ds.ids == ("docs/img/r1.jpg", "docs/img/r2.png")  # not deeper; the .txt beside them is not listed
    assert ds.items == tuple(str((inputs / i).resolve()) for i in ds.ids)
    assert [s.id for s in ds.skipped] == ["docs/img/r3.pdf", "notes.txt"]
    assert ds.skipped[0].reason.startswith("not a readable PDF")
    assert ds.skipped[1].reason == "not a document file (.jpeg, .jpg, .pdf, .png, .tif, .tiff)"
    assert ds.source == "docs/, notes.txt"


def test_images_walk_a_folder_recursively_with_paths_as_found(inputs: Path) -> None:
    ds = load_file_inputs(["docs"], IMAGES)
    assert ds.modality == "image"
    assert ds.ids == ("docs/img/deeper/r9.png", "docs/img/r1.jpg", "docs/img/r2.png")
    assert ds.items == ds.ids
    assert {s.id: s.reason for s in ds.skipped} == {
        "docs/img/notes.txt": "not an image file (.txt)",
        "docs/img/r3.pdf": "not an image file (.pdf)",
    }


def test_on_bad_fail_raises_for_a_bad_document_but_another_kind_of_file_is_only_skipped_as_images(
    inputs: Path,
) -> None:
    with pytest.raises(BadItemError, match="'notes.txt': not a document file"):
        load_document_inputs(["notes.txt"], on_bad="fail")
    with pytest.raises(BadItemError, match="'docs/img/r3.pdf': not a readable PDF"):
        load_document_inputs(["docs"], on_bad="fail")
    assert [s.id for s in load_file_inputs(["notes.txt"], IMAGES, on_bad="fail").skipped] == ["notes.txt"]


def test_nothing_found_says_where_each_kind_is_looked_for(inputs: Path) -> None:
    (inputs / "empty").mkdir()
    with pytest.raises(DataError, match=r"(?s)no documents found in 'empty'.*\.pdf.*img/.*not deeper.*fix: pass"):
        load_document_inputs(["empty"])
    with pytest.raises(DataError, match=r"(?s)no images found in 'empty'.*\.png.*at any depth.*fix: pass"):
        load_file_inputs(["empty"], IMAGES)


def test_a_missing_input_names_the_accepted_files(inputs: Path) -> None:
    with pytest.raises(DataError, match=r"(?s)input 'gone.pdf' does not exist.*a document file \(.*\.pdf.*fix:"):
        load_document_inputs(["gone.pdf"])
    with pytest.raises(DataError, match=r"(?s)input 'gone.png' does not exist.*an image file \(.*\.png.*fix:"):
        load_file_inputs(["gone.png"], IMAGES)
