"""Malformed inputs, each built on first use in one session folder: `World["name"]` is the path of input `name`.

Builders take the folder to write in and return the path to pass on the command line. Good inputs (a small image
folder and text table, and bundles fitted on them with the tiny test backbones) are built the same way.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import make_image_folder, make_text_csv

Builder = Callable[[Path, "World"], Path]
BUILDERS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


class World(dict[str, str]):
    """Input name -> path, building each input on first use (so `str.format_map` fills command templates)."""

    def __init__(self, root: Path, fit: Callable[[list[str]], None]) -> None:
        super().__init__()
        self.root = root
        self.fit = fit  # runs `headstart fit ...` in-process, for the bundles

    def __missing__(self, name: str) -> str:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        path = BUILDERS[name](folder, self)
        self[name] = str(path)
        return str(path)


def _png(path: Path, size: tuple[int, int] = (24, 24), colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding, newline="")
    return path


def _rows(n: int = 8) -> str:
    return "".join(
        f"text number {i} about {'sport' if i % 2 else 'food'},{'sport' if i % 2 else 'food'}\n" for i in range(n)
    )


# -- good inputs ----------------------------------------------------------------------------------------------


@builder("images")
def _images(d: Path, w: World) -> Path:
    return make_image_folder(d / "data", per_class=6, size=24)


@builder("texts")
def _texts(d: Path, w: World) -> Path:
    return make_text_csv(d / "texts.csv")


@builder("image_model")
def _image_model(d: Path, w: World) -> Path:
    w.fit(["fit", w["images"], "--backbone", "test-cnn", "--out", str(d / "m")])
    return d / "m"


@builder("image_model_b")
def _image_model_b(d: Path, w: World) -> Path:
    w.fit(["fit", w["images"], "--backbone", "test-cnn", "--seed", "1", "--out", str(d / "m")])
    return d / "m"


@builder("text_model")
def _text_model(d: Path, w: World) -> Path:
    w.fit(["fit", w["texts"], "--backbone", "test-text", "--out", str(d / "m")])
    return d / "m"


@builder("image")
def _one_image(d: Path, w: World) -> Path:
    return _png(d / "one.png")


# -- tables ---------------------------------------------------------------------------------------------------


@builder("empty_csv")
def _empty_csv(d: Path, w: World) -> Path:
    return _write(d / "empty.csv", "")


@builder("blank_lines_csv")
def _blank_lines_csv(d: Path, w: World) -> Path:
    return _write(d / "blank.csv", "\n\n  \n")


@builder("header_only_csv")
def _header_only(d: Path, w: World) -> Path:
    return _write(d / "header.csv", "text,label\n")


@builder("no_header_csv")
def _no_header(d: Path, w: World) -> Path:
    return _write(d / "noheader.csv", _rows())


@builder("one_column_csv")
def _one_column(d: Path, w: World) -> Path:
    return _write(d / "one.csv", "text\n" + "".join(f"text number {i}\n" for i in range(8)))


@builder("no_label_csv")
def _no_label(d: Path, w: World) -> Path:
    return _write(d / "nolabel.csv", "text,comment\n" + _rows())


@builder("nan_labels_csv")
def _nan_labels(d: Path, w: World) -> Path:
    return _write(d / "nan.csv", "text,label\n" + "".join(f"text number {i},\n" for i in range(8)))


@builder("single_class_csv")
def _single_class(d: Path, w: World) -> Path:
    return _write(d / "single.csv", "text,label\n" + "".join(f"text number {i},sport\n" for i in range(8)))


@builder("huge_cell_csv")
def _huge_cell(d: Path, w: World) -> Path:
    return _write(d / "huge.csv", "text,label\n" + "x" * 10_000_001 + ",sport\n" + _rows())


@builder("unterminated_quote_csv")
def _unterminated(d: Path, w: World) -> Path:
    return _write(d / "quote.csv", "text,label\n" + _rows(4) + '"an open quote,sport\n' + _rows(4))


@builder("mid_field_quote_csv")
def _mid_field(d: Path, w: World) -> Path:
    return _write(d / "quote.csv", 'text,label\n"good movie,food\n' + _rows(4) + '"closed",sport\n' + _rows(4))


@builder("ragged_first_row_csv")
def _ragged_first(d: Path, w: World) -> Path:
    return _write(d / "ragged.csv", "text,label\ngood movie,food,more\n" + _rows())


@builder("ragged_all_csv")
def _ragged_all(d: Path, w: World) -> Path:
    return _write(d / "ragged.csv", "text,label\n" + "".join(f"t {i},sport,x,y\n" for i in range(8)))


@builder("binary_csv")
def _binary_csv(d: Path, w: World) -> Path:
    path = d / "garbage.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@builder("nul_csv")
def _nul_csv(d: Path, w: World) -> Path:
    path = d / "nul.csv"
    path.write_bytes(b"text,label\n" + b"a\x00b,sport\n" * 8)
    return path


@builder("latin1_csv")
def _latin1(d: Path, w: World) -> Path:
    return _write(
        d / "latin1.csv",
        "text,label\n" + "".join(f"café crème {i},{'a' if i % 2 else 'b'}\n" for i in range(8)),
        "latin-1",
    )


@builder("utf16_csv")
def _utf16(d: Path, w: World) -> Path:
    return _write(d / "utf16.csv", "text,label\n" + _rows(), "utf-16")


@builder("bom_crlf_csv")
def _bom_crlf(d: Path, w: World) -> Path:
    body = ("text,label\n" + _rows(24)).replace("\n", "\r\n")
    return _write(d / "bom.csv", body, "utf-8-sig")


@builder("semicolon_csv")
def _semicolon(d: Path, w: World) -> Path:
    return _write(d / "semi.csv", ("text,label\n" + _rows(24)).replace(",", ";"))


@builder("wrong_separator_tsv")
def _wrong_sep(d: Path, w: World) -> Path:
    return _write(d / "comma.tsv", "text,label\n" + _rows())


@builder("bad_jsonl")
def _bad_jsonl(d: Path, w: World) -> Path:
    return _write(d / "bad.jsonl", '{not json\n[1, 2]\n"a string"\n{"text": \n')


@builder("garbage_parquet")
def _garbage_parquet(d: Path, w: World) -> Path:
    path = d / "garbage.parquet"
    path.write_bytes(b"PAR1 but not really" * 10)
    return path


@builder("xlsx")
def _xlsx(d: Path, w: World) -> Path:
    path = d / "data.xlsx"
    path.write_bytes(b"PK\x03\x04 not a spreadsheet")
    return path


@builder("txt_file")
def _txt(d: Path, w: World) -> Path:
    return _write(d / "lines.txt", "one text\nanother text\n")


@builder("csv_folder")
def _csv_folder(d: Path, w: World) -> Path:
    (d / "data.csv").mkdir()
    return d / "data.csv"


# -- image folders --------------------------------------------------------------------------------------------


@builder("empty_folder")
def _empty_folder(d: Path, w: World) -> Path:
    (d / "data").mkdir()
    return d / "data"


@builder("no_images_folder")
def _no_images(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        (d / "data" / c).mkdir(parents=True)
        _write(d / "data" / c / "notes.txt", "not an image")
    return d / "data"


@builder("loose_images_folder")
def _loose(d: Path, w: World) -> Path:
    for n in range(4):
        _png(d / "data" / f"{n}.png")
    return d / "data"


@builder("one_class_folder")
def _one_class(d: Path, w: World) -> Path:
    for n in range(6):
        _png(d / "data" / "only" / f"{n}.png")
    return d / "data"


@builder("garbage_images_folder")
def _garbage_images(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        for n in range(3):
            (d / "data" / c).mkdir(parents=True, exist_ok=True)
            (d / "data" / c / f"{n}.png").write_bytes(os.urandom(64))
    return d / "data"


@builder("truncated_images_folder")
def _truncated(d: Path, w: World) -> Path:
    """Headers pass, pixels do not: found only when decoding. New class names, so expand would add them."""
    source = Path(w["images"])
    for c, new in (("red", "pink"), ("blue", "navy")):
        for n in range(3):
            data = (source / c / f"{n:03d}.png").read_bytes()
            (d / "data" / new).mkdir(parents=True, exist_ok=True)
            (d / "data" / new / f"{n}.png").write_bytes(data[: len(data) // 3])
    return d / "data"


@builder("empty_files_folder")
def _zero_bytes(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        (d / "data" / c).mkdir(parents=True)
        for n in range(3):
            (d / "data" / c / f"{n}.jpg").write_bytes(b"")
    return d / "data"


def _png_header(width: int, height: int) -> bytes:
    """A PNG claiming `width` x `height` with one tiny (invalid) data chunk: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


@builder("bomb_images_folder")
def _bombs(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        (d / "data" / c).mkdir(parents=True)
        for n in range(3):
            (d / "data" / c / f"{n}.png").write_bytes(_png_header(60_000, 60_000))
    return d / "data"


@builder("wide_images_folder")
def _wide(d: Path, w: World) -> Path:
    for c, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        for n, size in enumerate([(8000, 1), (1, 60000), (20000, 2)]):
            _png(d / "data" / c / f"{n}.png", size, colour)
    return d / "data"


@builder("mixed_good_and_wide_folder")
def _mixed(d: Path, w: World) -> Path:
    source = Path(w["images"])
    for c in ("red", "blue"):
        for n in range(5):
            target = d / "data" / c / f"{n}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((source / c / f"{n:03d}.png").read_bytes())
        _png(d / "data" / c / "wide.png", (8000, 1))
    return d / "data"


@builder("symlink_loop_folder")
def _loop(d: Path, w: World) -> Path:
    source = Path(w["images"])
    for c in ("red", "blue"):
        for n in range(5):
            target = d / "data" / c / f"{n}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((source / c / f"{n:03d}.png").read_bytes())
    os.symlink("../", d / "data" / "red" / "loop")
    os.symlink("../red", d / "data" / "blue" / "red-again")
    return d / "data"


@builder("dangling_link")
def _dangling(d: Path, w: World) -> Path:
    os.symlink(d / "nowhere", d / "link")
    return d / "link"


@builder("wrong_extension_images")
def _wrong_ext(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        (d / "data" / c).mkdir(parents=True)
        for n in range(3):
            _write(d / "data" / c / f"{n}.heic", "x")
    return d / "data"


@builder("text_as_png_folder")
def _text_as_png(d: Path, w: World) -> Path:
    for c in ("a", "b"):
        (d / "data" / c).mkdir(parents=True)
        for n in range(3):
            _write(d / "data" / c / f"{n}.png", "text,label\nhello,a\n")
    return d / "data"


@builder("missing")
def _missing(d: Path, w: World) -> Path:
    return d / "does-not-exist"


@builder("a_file")
def _a_file(d: Path, w: World) -> Path:
    return _write(d / "plain-file", "not a folder")


# -- corrupt bundles (issue 19 items 4-5) ---------------------------------------------------------------------


def _copy_bundle(w: World, d: Path) -> Path:
    source = Path(w["image_model"])
    target = d / "bundle"
    target.mkdir()
    for f in source.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    return target


def _edit_manifest(w: World, d: Path, edit: Callable[[dict], object]) -> Path:
    bundle = _copy_bundle(w, d)
    manifest = json.loads((bundle / "manifest.json").read_text())
    edited = edit(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest if edited is None else edited))
    return bundle


@builder("empty_bundle_folder")
def _empty_bundle(d: Path, w: World) -> Path:
    (d / "bundle").mkdir()
    return d / "bundle"


@builder("invalid_json_bundle")
def _invalid_json(d: Path, w: World) -> Path:
    bundle = _copy_bundle(w, d)
    (bundle / "manifest.json").write_text("{ not json")
    return bundle


@builder("list_manifest_bundle")
def _list_manifest(d: Path, w: World) -> Path:
    return _edit_manifest(w, d, lambda m: [])


@builder("files_as_list_bundle")
def _files_list(d: Path, w: World) -> Path:
    return _edit_manifest(w, d, lambda m: m.update(files=list(m["files"])))


@builder("labels_as_string_bundle")
def _labels_string(d: Path, w: World) -> Path:
    return _edit_manifest(w, d, lambda m: m.update(labels="red"))


@builder("no_strategy_bundle")
def _no_strategy(d: Path, w: World) -> Path:
    return _edit_manifest(w, d, lambda m: m.pop("strategy"))


@builder("outside_path_bundle")
def _outside_path(d: Path, w: World) -> Path:
    return _edit_manifest(w, d, lambda m: m.update(files={"../../../../etc/hostname": "0" * 64}))


@builder("pickle_weights_bundle")
def _pickle_weights(d: Path, w: World) -> Path:
    import pickle

    bundle = _copy_bundle(w, d)
    (bundle / "head.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    return bundle


@builder("weights_dir_bundle")
def _weights_dir(d: Path, w: World) -> Path:
    bundle = _copy_bundle(w, d)
    (bundle / "head.safetensors").unlink()
    (bundle / "head.safetensors").mkdir()
    return bundle


@builder("truncated_weights_bundle")
def _truncated_weights(d: Path, w: World) -> Path:
    bundle = _copy_bundle(w, d)
    data = (bundle / "head.safetensors").read_bytes()
    (bundle / "head.safetensors").write_bytes(data[: len(data) // 2])
    return bundle


@builder("unknown_backbone_bundle")
def _unknown_backbone(d: Path, w: World) -> Path:
    def edit(m: dict) -> None:
        m["backbone"] = {**m["backbone"], "name": "no-such-backbone"} if isinstance(m["backbone"], dict) else "nope"

    return _edit_manifest(w, d, edit)
