"""Issue 19 items 2, 8, 9: image strips, malformed CSVs and symlink loops are found, named and refused or skipped."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from headstart.backbones.efficientnet_lite import MEAN, STD, EfficientNetLite
from headstart.data import delimited
from headstart.data.folders import load_image_folder, load_image_inputs
from headstart.data.images import MAX_ASPECT_ENV, check_image_header, read_image
from headstart.data.tables import load_table, read_table
from headstart.errors import BadItemError, DataError, UsageError


def _img(path: Path, size: tuple[int, int] = (6, 4), colour: tuple[int, int, int] = (10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# -- item 9: links --------------------------------------------------------------------------------------------


def test_a_link_back_to_an_ancestor_is_read_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for n in range(10):
        _img(root / "a" / f"{n}.png")
        _img(root / "b" / f"{n}.png", colour=(200, 0, 0))
    os.symlink("../", root / "a" / "loop")
    ds = load_image_folder(root)
    assert len(ds) == 20  # os.walk(followlinks=True) made 820 of them
    assert any(note.startswith("not read through a/loop/: it links to") for note in ds.notes), ds.notes
    unlabelled = load_image_inputs([str(root)])
    assert len(unlabelled) == 20


def test_a_class_folder_linking_to_the_root_adds_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _img(root / "b" / "1.png")
    _img(root / "c" / "1.png")
    os.symlink(root, root / "a")
    ds = load_image_folder(root)
    assert sorted(ds.ids) == ["b/1.png", "c/1.png"]


def test_a_link_into_another_class_folder_relabels_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _img(root / "red" / "1.png")
    _img(root / "blue" / "1.png")
    os.symlink("../red", root / "blue" / "red-again")  # blue sorts first: its walk must not claim red's images
    ds = load_image_folder(root)
    assert list(zip(ds.ids, ds.labels or (), strict=True)) == [("blue/1.png", "blue"), ("red/1.png", "red")]


def test_two_links_to_one_file_count_it_once_and_say_so(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _img(root / "a" / "1.png")
    _img(root / "b" / "2.png")
    os.symlink("../a/1.png", root / "b" / "again.png")
    ds = load_image_folder(root)
    assert ds.ids == ("a/1.png", "b/2.png")
    assert [s.to_dict() for s in ds.skipped] == [
        {"id": "b/again.png", "reason": "the same file as a/1.png (counted once)"}
    ]


# -- item 8: CSVs ---------------------------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_quote_never_closed_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'text,label\ngood one,pos\n"good movie,pos\nbad movie,neg\nnice film,pos\n')
    with pytest.raises(DataError, match="a quote opened on line 3 .* is never closed"):
        load_table(path)


def test_a_quote_closed_mid_field_is_refused_not_merged(tmp_path: Path) -> None:
    # pandas read this as one row whose text swallowed two rows: fit then exited 0 with a wrong label
    path = _csv(tmp_path, 'text,label\n"good movie,pos\nbad movie,neg\n"nice film",pos\nawful,neg\n')
    with pytest.raises(DataError, match="opened on line 2 .* closed in the middle of a field on line 4") as err:
        load_table(path)
    assert "repair the quotes on line 2" in (err.value.fix or "")


def test_a_ragged_first_row_is_skipped_with_its_line_and_shifts_nothing(tmp_path: Path) -> None:
    path = _csv(tmp_path, "text,label\ngood movie,pos,more\nbad movie,neg\nfine film,pos\n")
    ds = load_table(path)  # pandas made the texts the index: labels 'more' and NaN
    assert ds.items == ("bad movie", "fine film") and ds.labels == ("neg", "pos")
    assert ds.ids == ("row 2", "row 3")
    (skipped,) = ds.skipped
    assert skipped.id == "row 1" and skipped.reason.startswith("line 2 has 3 fields where the header has 2")
    with pytest.raises(BadItemError, match="line 2 has 3 fields"):
        load_table(path, on_bad="fail")


def test_quoted_multiline_texts_bom_blank_lines_and_short_rows_read_as_before(tmp_path: Path) -> None:
    text = '\ufefftext,label,text\n"two\nlines, one text",pos,x\n\nshort row\n"say ""hi""",neg,\n'
    frame, bad = read_table(_csv(tmp_path, text))
    assert bad == []
    assert list(frame.columns) == ["text", "label", "text.1"]  # as pandas names a repeated header
    assert frame.index.tolist() == [1, 2, 3]
    assert frame.iloc[0].tolist() == ["two\nlines, one text", "pos", "x"]
    assert frame.iloc[1, 0] == "short row" and pd.isna(frame.iloc[1, 1]) and pd.isna(frame.iloc[1, 2])
    assert frame.iloc[2, 0] == 'say "hi"' and pd.isna(frame.iloc[2, 2])


def test_a_runaway_cell_and_nul_bytes_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delimited, "MAX_CELL_CHARS", 1000)
    with pytest.raises(DataError, match="line 2 .* holds a cell over 1,000 characters"):
        load_table(_csv(tmp_path, "text,label\n" + "x" * 2000 + ",pos\n"))
    path = tmp_path / "bin.csv"
    path.write_bytes(b"text,label\nab\x00cd,pos\n")
    with pytest.raises(DataError, match="NUL byte: it is not a CSV text file"):
        load_table(path)


# -- item 2: strips -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(8000, 1), (1, 60000), (101, 1)])
def test_an_image_strip_is_a_bad_item_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    path = _img(tmp_path / "strip.png", size)
    with pytest.raises(BadItemError, match=r"is a strip, not a picture: one side is [\d,]+ times the other"):
        check_image_header(path)
    with pytest.raises(BadItemError, match=MAX_ASPECT_ENV):
        read_image(path)


def test_the_strip_guard_can_be_raised_and_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _img(tmp_path / "strip.png", (300, 2))
    monkeypatch.setenv(MAX_ASPECT_ENV, "200")
    assert read_image(path).size == (300, 2)
    monkeypatch.setenv(MAX_ASPECT_ENV, "-3")
    with pytest.raises(UsageError, match=MAX_ASPECT_ENV):
        check_image_header(path)


def test_a_strip_in_a_dataset_is_skipped_with_the_reason(tmp_path: Path) -> None:
    _img(tmp_path / "data" / "a" / "1.png")
    _img(tmp_path / "data" / "b" / "1.png")
    _img(tmp_path / "data" / "b" / "wide.png", (8000, 1))
    ds = load_image_folder(tmp_path / "data")
    assert ds.ids == ("a/1.png", "b/1.png")
    assert ds.skipped[0].id == "b/wide.png" and "8000x1 is a strip" in ds.skipped[0].reason


def _resize_then_crop(img: Image.Image, size: int, crop_pct: float) -> np.ndarray:
    """The reference preprocessing (resize the shorter side, then crop the centre), as exports document it."""
    scaled = int(round(size / crop_pct))
    w, h = img.size
    new_w, new_h = (
        (scaled, max(scaled, round(h * scaled / w))) if w <= h else (max(scaled, round(w * scaled / h)), scaled)
    )
    big = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = round((new_w - size) / 2.0), round((new_h - size) / 2.0)
    return np.asarray(big.crop((left, top, left + size, top + size)), dtype=np.float32)


@pytest.mark.parametrize("size", [(640, 480), (60, 3000)])
def test_efficientnet_resizes_a_strip_through_a_bounded_intermediate(size: tuple[int, int]) -> None:
    """Ordinary pictures are preprocessed exactly as before; a strip (allowed by a raised guard) resizes only its
    centre, which agrees with resizing it whole to within interpolation rounding."""
    rng = np.random.default_rng(0)
    smooth = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(smooth).resize(size, Image.Resampling.BILINEAR)
    fake = SimpleNamespace(input_size=64, crop_pct=0.875)
    got = EfficientNetLite._transform(fake, img)  # type: ignore[arg-type]
    assert got.shape == (3, 64, 64)
    pixels = got.transpose(1, 2, 0) * STD + MEAN
    diff = np.abs(pixels - _resize_then_crop(img, 64, 0.875) / 255.0)
    if size == (640, 480):
        assert diff.max() < 1e-6
    else:
        assert diff.mean() < 2 / 255
