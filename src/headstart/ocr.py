"""OCR as a cached stage: RapidOCR's PP-OCRv4 ONNX models (shipped in the `rapidocr-onnxruntime` wheel) read each
page into lines with boxes and confidences, kept on disk by the document's content hash and the settings.

Its recogniser (a Chinese/English model) often drops the spaces between English words ("NO290,JALANAIRPANAS"):
`SpacedDecoder` replaces its greedy CTC decoding and puts a space wherever the space symbol's probability
between two characters reaches `space_threshold`, although another symbol (usually the blank) won the step.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.cache import cache_dir
from headstart.data.documents import OcrLine, given_lines, iter_pages, parse_fields
from headstart.data.field_align import coverage
from headstart.data.hashing import image_sha256
from headstart.errors import BackboneError, BadItemError
from headstart.progress import progress_bar

OCR_PACKAGE = "rapidocr-onnxruntime"
DECODER_VERSION = 1  # part of the cache key: bump when the decoding of the recogniser's outputs changes


@dataclass(frozen=True)
class OcrSettings:
    """What changes the lines OCR reads (part of the cache key) and how fast (threads: not part of it)."""

    max_side: int = 2000  # pages are shrunk to this longest side before detection
    space_threshold: float = 0.01  # the space symbol's probability that restores a dropped space; >1: never
    text_score: float = 0.5  # lines recognised below this confidence are dropped

    def key(self) -> str:
        description = {**asdict(self), "decoder": DECODER_VERSION, "engine": _engine_version()}
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(OCR_PACKAGE)
    except PackageNotFoundError:
        return "missing"


class SpacedDecoder:
    """Greedy CTC decoding of the recogniser's outputs that also emits the spaces it scored but did not pick.

    Between two emitted characters, the steps that were not characters (blanks, repeats) are looked at: when the
    space symbol's probability reaches `threshold` on any of them, a space goes between the two characters.
    """

    def __init__(self, characters: Sequence[str], threshold: float) -> None:
        self.characters = list(characters)  # index 0 is the CTC blank
        self.space = self.characters.index(" ") if " " in self.characters else -1
        self.threshold = threshold

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **_: Any) -> list[tuple[str, float]]:
        return [self.decode_line(p) for p in preds]

    def decode_line(self, probs: np.ndarray) -> tuple[str, float]:
        best = probs.argmax(axis=1)
        chars: list[str] = []
        confidences: list[float] = []
        previous = 0
        space_seen = 0.0
        for step, index in enumerate(best):
            index = int(index)
            if index == previous and index != 0:
                continue  # a repeat of the character just emitted
            previous = index
            if index == self.space:
                space_seen = 1.0  # a space the recogniser picked is always kept
                continue
            if index == 0:
                if self.space >= 0 and chars:
                    space_seen = max(space_seen, float(probs[step, self.space]))
                continue
            if chars and space_seen >= min(self.threshold, 1.0):
                chars.append(" ")
            space_seen = 0.0
            chars.append(self.characters[index])
            confidences.append(float(probs[step, index]))
        return "".join(chars).strip(), float(np.mean(confidences)) if confidences else 0.0


_ENGINES: dict[tuple[int, float, int], Any] = {}
_ENGINE_LOCK = threading.Lock()


def ocr_engine(settings: OcrSettings, threads: int = 2) -> Any:
    """The RapidOCR engine for these settings (built once per process); BackboneError when not installed."""
    key = (threads, settings.space_threshold, settings.max_side)
    with _ENGINE_LOCK:
        if key not in _ENGINES:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise BackboneError(
                    "OCR is not available: the rapidocr-onnxruntime package is not installed",
                    expected="its wheel, which ships the PP-OCRv4 detection and recognition models",
                    fix="pip install 'headstart[documents]', or give OCR lines with the documents (box/<stem>.csv)",
                ) from None
            engine = RapidOCR(
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                max_side_len=settings.max_side,
                print_verbose=False,
            )
            recogniser = engine.text_rec
            recogniser.postprocess_op = SpacedDecoder(recogniser.postprocess_op.character, settings.space_threshold)
            _ENGINES[key] = engine
        return _ENGINES[key]


def ocr_page(image: Any, settings: OcrSettings, threads: int = 2, page: int = 0) -> list[OcrLine]:
    """The lines RapidOCR reads on one page image (PIL or an RGB array), top to bottom."""
    engine = ocr_engine(settings, threads)
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)[:, :, ::-1]  # BGR, as cv2
    result, _ = engine(np.ascontiguousarray(array), text_score=settings.text_score)
    lines = []
    for box, text, confidence in result or []:
        corners = tuple(float(v) for point in box for v in point)
        if str(text).strip():
            lines.append(OcrLine(str(text), corners, round(float(confidence), 4), page))  # type: ignore[arg-type]
    return lines


class OcrStore:
    """OCR lines on disk: `<root>/<settings key>/<document sha256>.json` (default root: `$HEADSTART_CACHE/ocr`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir("ocr")

    def path(self, digest: str, settings: OcrSettings) -> Path:
        return self.root / settings.key() / f"{digest}.json"

    def get(self, digest: str, settings: OcrSettings) -> list[OcrLine] | None:
        path = self.path(digest, settings)
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return [OcrLine.from_dict(r) for r in rows]

    def put(self, digest: str, settings: OcrSettings, lines: Sequence[OcrLine]) -> None:
        path = self.path(digest, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps([line.to_dict() for line in lines]), encoding="utf-8")
        os.replace(tmp, path)


def read_document(
    path: str | Path, settings: OcrSettings, *, threads: int = 2, store: OcrStore | None = None
) -> tuple[list[OcrLine], str]:
    """A document's lines and where they came from: "given" (a box file next to it), "cache" or "ocr"."""
    given = given_lines(path)
    if given is not None:
        return given, "given"
    store = store or OcrStore()
    digest = image_sha256(path)
    cached = store.get(digest, settings)
    if cached is not None:
        return cached, "cache"
    lines = [line for number, page in enumerate(iter_pages(path)) for line in ocr_page(page, settings, threads, number)]
    store.put(digest, settings, lines)
    return lines, "ocr"


@dataclass(frozen=True)
class ReadLines:
    """The lines of each document (None where it could not be read), the skipped ones, and the sources' counts."""

    lines: list[list[OcrLine] | None]
    skipped: list[dict[str, str]]
    sources: dict[str, int]


def read_documents(
    paths: Sequence[str],
    ids: Sequence[str],
    settings: OcrSettings | None = None,
    *,
    threads: int = 2,
    progress: bool = True,
    store: OcrStore | None = None,
    on_read: Callable[[int], None] | None = None,
) -> ReadLines:
    """Lines for many documents (given, cached or read now, with a progress bar); unreadable ones are skipped."""
    settings = settings or OcrSettings()
    store = store or OcrStore()
    out: list[list[OcrLine] | None] = []
    skipped: list[dict[str, str]] = []
    sources: dict[str, int] = {}
    with progress_bar("OCR", len(paths), progress) as advance:
        for index, (path, item_id) in enumerate(zip(paths, ids, strict=True)):
            try:
                lines, source = read_document(path, settings, threads=threads, store=store)
            except BadItemError as err:
                out.append(None)
                skipped.append({"id": item_id, "reason": err.reason})
            else:
                out.append(lines)
                sources[source] = sources.get(source, 0) + 1
            advance(1)
            if on_read is not None:
                on_read(index)
    return ReadLines(out, skipped, sources)


def field_coverage(
    items: Sequence[str],
    ids: Sequence[str],
    labels: Sequence[str],
    *,
    threads: int = 2,
    progress: bool = True,
    settings: OcrSettings | None = None,
) -> tuple[dict[str, dict[str, float]], ReadLines]:
    """Per field, how many documents have their value findable in their lines (given, else OCR): weak-label
    coverage, the share of documents a field tagger can learn from. Unreadable documents are left out."""
    read = read_documents(items, ids, settings, threads=threads, progress=progress)
    documents = [
        (parse_fields(label), lines) for label, lines in zip(labels, read.lines, strict=True) if lines is not None
    ]
    return coverage(documents), read
