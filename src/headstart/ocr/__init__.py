"""OCR as a cached stage: RapidOCR's PP-OCRv4 ONNX models (shipped in the `rapidocr-onnxruntime` wheel, run by
`headstart.ocr.engine`) read each page into lines with boxes and confidences, kept on disk by the document's
content hash and the settings that change what is read (`OcrSettings`; threads only change how fast).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from headstart.cache import cache_dir
from headstart.data.documents import (
    MAX_PDF_PAGES,
    OcrLine,
    check_document,
    given_lines,
    iter_pages,
    page_limit_note,
    parse_fields,
)
from headstart.data.field_align import align, coverage
from headstart.data.hashing import image_sha256
from headstart.errors import BadItemError, UsageError
from headstart.ocr.engine import OCR_PACKAGE, PageRead, SpacedDecoder, ocr_engine
from headstart.progress import progress_bar

__all__ = [
    "DocumentLines",
    "OcrSettings",
    "OcrStore",
    "PageRead",
    "ReadLines",
    "SpacedDecoder",
    "field_coverage",
    "ocr_document",
    "ocr_page",
    "page_ranges",
    "read_document",
    "read_document_lines",
    "read_documents",
]
DECODER_VERSION = 2  # part of the cache key: bump when the decoding of the recogniser's outputs changes


DET_LIMITS = ("min", "max")


@dataclass(frozen=True)
class OcrSettings:
    """What changes the lines OCR reads (all part of the cache key); threads only change the speed and are not.

    The defaults are the trade-off measured by `bench/ocr.py` on SROIE receipts (speed and exact lines recovered).
    """

    max_side: int = 2000  # pages are shrunk to this longest side (px) before detection
    det_side: int = 736  # the detector's input: shortest side raised to this ("min") or longest cut to it ("max")
    det_limit: str = "min"
    det_max: int = 2400  # under "min", the detector's input is not raised past this on its longest side
    box_thresh: float = 0.5  # detector score a text box needs
    unclip_ratio: float = 1.6  # how far a detected box is grown around its text
    orientation: bool = True  # turn pages lying on their side or upside down upright before reading them
    line_angle: bool = False  # run the angle classifier on every line (measured slower and no better on receipts)
    rec_batch: int = 1  # lines per recogniser call (padding wider batches measured slower and less exact)
    space_threshold: float = 0.01  # the space symbol's probability that restores a dropped space; >1: never
    text_score: float = 0.5  # lines recognised below this confidence are dropped
    max_pages: int = MAX_PDF_PAGES  # pages read per document (PDF or multi-page TIFF); a longer one gets a note

    def __post_init__(self) -> None:
        positive = {"max_side": self.max_side, "det_side": self.det_side, "det_max": self.det_max}
        positive["rec_batch"] = self.rec_batch
        positive["max_pages"] = self.max_pages
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"OCR setting {name}={value!r} is not valid", expected="a positive integer")
        if self.max_side < 32:
            raise UsageError(f"OCR setting max_side={self.max_side} is too small", expected="at least 32 px")
        if self.det_limit not in DET_LIMITS:
            raise UsageError(f"OCR setting det_limit={self.det_limit!r} is not valid", expected="'min' or 'max'")
        for name, share in {"box_thresh": self.box_thresh, "text_score": self.text_score}.items():
            if not 0.0 <= share <= 1.0:
                raise UsageError(f"OCR setting {name}={share!r} is not valid", expected="a number from 0 to 1")
        if self.unclip_ratio <= 0:
            raise UsageError(f"OCR setting unclip_ratio={self.unclip_ratio!r} is not valid", expected="above 0")

    @classmethod
    def from_options(cls, **options: Any) -> OcrSettings:
        """Settings from command-line options (`--ocr-max-side 1280` -> `max_side=1280`): None keeps the default,
        an unknown name is a UsageError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            names = ", ".join(sorted(known))
            raise UsageError(f"unknown OCR setting(s) {', '.join(unknown)}", expected=f"one of {names}")
        return cls(**{name: value for name, value in options.items() if value is not None})

    def key(self) -> str:
        description = {**asdict(self), "decoder": DECODER_VERSION, "engine": _engine_version()}
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(OCR_PACKAGE)
    except PackageNotFoundError:
        return "missing"


def ocr_page(image: Any, settings: OcrSettings, threads: int = 2, page: int = 0) -> PageRead:
    """The lines RapidOCR reads on one page image (PIL or an RGB array), top to bottom, and the page's turn."""
    return ocr_engine(settings, threads).read(image, page)


@dataclass(frozen=True)
class DocumentLines:
    """A document's lines, where they came from ("given", "cache" or "ocr"), and notes on how it was read
    (pages cut at the limit, blank pages, pages turned upright)."""

    lines: list[OcrLine]
    source: str
    notes: list[str] = field(default_factory=list)


class OcrStore:
    """OCR lines on disk: `<root>/<settings key>/<document sha256>.json` (default root: `$HEADSTART_CACHE/ocr`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir("ocr")

    def path(self, digest: str, settings: OcrSettings) -> Path:
        return self.root / settings.key() / f"{digest}.json"

    def get(self, digest: str, settings: OcrSettings) -> DocumentLines | None:
        """The cached read (`{"lines", "notes"}`), None when absent or unreadable (then OCR reads it again)."""
        path = self.path(digest, settings)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows, notes = (data, []) if isinstance(data, list) else (data["lines"], data.get("notes", []))
            return DocumentLines([OcrLine.from_dict(r) for r in rows], "cache", [str(n) for n in notes])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, digest: str, settings: OcrSettings, read: DocumentLines) -> None:
        path = self.path(digest, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        body = {"lines": [line.to_dict() for line in read.lines], "notes": read.notes}
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, path)


def ocr_document(path: str | Path, settings: OcrSettings, *, threads: int = 2) -> DocumentLines:
    """Run OCR on every page of a document (up to `settings.max_pages`), noting what a reader should know."""
    notes: list[str] = []
    cut = page_limit_note(check_document(path), settings.max_pages)
    if cut is not None:
        notes.append(cut)
    lines: list[OcrLine] = []
    blank: list[int] = []
    for number, image in enumerate(iter_pages(path, settings.max_pages)):
        read = ocr_page(image, settings, threads, number)
        if read.rotation:
            notes.append(f"page {number + 1} was turned {read.rotation}° clockwise to stand upright")
        if not read.lines:
            blank.append(number + 1)
        lines.extend(read.lines)
    if blank:
        notes.append(f"no text found on page{'s' if len(blank) > 1 else ''} {page_ranges(blank)}")
    return DocumentLines(lines, "ocr", notes)


def page_ranges(pages: Sequence[int]) -> str:
    """Sorted page numbers as ranges: [1, 2, 3, 5] -> "1-3, 5"."""
    runs: list[list[int]] = []
    for number in pages:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def read_document_lines(
    path: str | Path, settings: OcrSettings, *, threads: int = 2, store: OcrStore | None = None
) -> DocumentLines:
    """A document's lines: given (a box file next to it), else cached by content hash and settings, else OCR."""
    given = given_lines(path)
    if given is not None:
        return DocumentLines(given, "given")
    store = store or OcrStore()
    digest = image_sha256(path)
    cached = store.get(digest, settings)
    if cached is not None:
        return cached
    read = ocr_document(path, settings, threads=threads)
    store.put(digest, settings, read)
    return read


def read_document(
    path: str | Path, settings: OcrSettings, *, threads: int = 2, store: OcrStore | None = None
) -> tuple[list[OcrLine], str]:
    """A document's lines and where they came from: "given" (a box file next to it), "cache" or "ocr"."""
    read = read_document_lines(path, settings, threads=threads, store=store)
    return read.lines, read.source


@dataclass(frozen=True)
class ReadLines:
    """The lines of each document (None where it could not be read or holds no text), the skipped ones with
    their reasons, the sources' counts, and notes per document (`{"id", "note"}`)."""

    lines: list[list[OcrLine] | None]
    skipped: list[dict[str, str]]
    sources: dict[str, int]
    notes: list[dict[str, str]] = field(default_factory=list)


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
    """Lines for many documents (given, cached or read now, with a progress bar). Unreadable documents and those
    with no text at all (blank pages) are skipped with the reason; never a traceback for a bad file."""
    settings = settings or OcrSettings()
    store = store or OcrStore()
    out: list[list[OcrLine] | None] = []
    skipped: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    sources: dict[str, int] = {}
    with progress_bar("OCR", len(paths), progress) as advance:
        for index, (path, item_id) in enumerate(zip(paths, ids, strict=True)):
            try:
                read = read_document_lines(path, settings, threads=threads, store=store)
            except BadItemError as err:
                out.append(None)
                skipped.append({"id": item_id, "reason": err.reason})
            else:
                sources[read.source] = sources.get(read.source, 0) + 1
                notes.extend({"id": item_id, "note": note} for note in read.notes)
                if read.lines:
                    out.append(read.lines)
                else:
                    out.append(None)
                    skipped.append({"id": item_id, "reason": "no text found in the document (blank pages?)"})
            advance(1)
            if on_read is not None:
                on_read(index)
    return ReadLines(out, skipped, sources, notes)


def unfindable_notes(ids: Sequence[str], labels: Sequence[str], read: ReadLines) -> list[dict[str, str]]:
    """Per readable document, the fields whose value is not findable in its lines (the tagger cannot learn them)."""
    notes = []
    for item_id, label, lines in zip(ids, labels, read.lines, strict=True):
        if lines is None:
            continue
        given = {k: v for k, v in parse_fields(label).items() if v.strip()}
        missing = [name for name, value in given.items() if align(value, lines) is None]
        if missing and len(missing) == len(given):
            notes.append({"id": item_id, "note": f"no field findable in its lines ({', '.join(missing)})"})
        elif missing:
            notes.append({"id": item_id, "note": f"not findable in its lines: {', '.join(missing)}"})
    return notes


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
    coverage, the share of documents a field tagger can learn from. Unreadable documents are left out; the
    returned `ReadLines.notes` name each document with fields that are not findable."""
    read = read_documents(items, ids, settings, threads=threads, progress=progress)
    documents = [
        (parse_fields(label), lines) for label, lines in zip(labels, read.lines, strict=True) if lines is not None
    ]
    return coverage(documents), replace(read, notes=read.notes + unfindable_notes(ids, labels, read))
