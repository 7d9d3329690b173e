"""Documents as files: page images (JPEG/PNG/TIFF, PDF pages), their fields, and OCR lines given with them.

A documents folder holds the files (at its root or under `img/`, `images/`, `documents/`), the fields of each
(`key/<stem>.json`, a JSON object per document as in SROIE, or a table `fields.csv` with a `file` column and any
field columns) and optionally its OCR lines (`box/<stem>.csv`: 8 corner coordinates then the text, as SROIE's;
or `box/<stem>.json`: a list of `{"text", "box", "page", "confidence"}`), which are used instead of running OCR.
Nothing here runs a network: OCR itself is `headstart.ocr`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from headstart.data.images import image_size, max_pixels
from headstart.errors import BadItemError

PAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
PDF_EXTENSION = ".pdf"
DOCUMENT_EXTENSIONS = PAGE_EXTENSIONS | {PDF_EXTENSION}
DOCUMENT_FOLDERS = ("img", "images", "documents", "docs")
FIELD_FOLDERS = ("key", "fields")
LINE_FOLDERS = ("box", "ocr")
FIELD_TABLES = ("fields.csv", "fields.tsv")
MAX_PDF_PAGES = 50  # default pages read per document (OcrSettings.max_pages); a longer one is cut, with a note
PDF_SCALE = 200 / 72  # render at 200 dpi: receipts' small print stays readable to the recogniser


@dataclass(frozen=True)
class OcrLine:
    """One line of text on a page: its corners (x, y clockwise from top-left), the OCR's confidence, the page."""

    text: str
    box: tuple[float, float, float, float, float, float, float, float]
    confidence: float = 1.0
    page: int = 0

    @property
    def left(self) -> float:
        return min(self.box[0::2])

    @property
    def top(self) -> float:
        return min(self.box[1::2])

    @property
    def right(self) -> float:
        return max(self.box[0::2])

    @property
    def bottom(self) -> float:
        return max(self.box[1::2])

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": list(self.box), "confidence": self.confidence, "page": self.page}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> OcrLine:
        """A line from `{"text", "box"}`: `box` is 4 numbers (left, top, right, bottom) or 8 (corners)."""
        box = [float(v) for v in row["box"]]
        if len(box) == 4:
            x0, y0, x1, y1 = box
            box = [x0, y0, x1, y0, x1, y1, x0, y1]
        if len(box) != 8:
            raise ValueError(f"a box has 4 or 8 numbers, not {len(box)}")
        return cls(str(row["text"]), tuple(box), float(row.get("confidence", 1.0)), int(row.get("page", 0)))  # type: ignore[arg-type]


def is_document_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DOCUMENT_EXTENSIONS


def document_folder(root: Path) -> Path:
    """Where a documents folder keeps its files: the first of `img/`, `images/`... that exists, else the root."""
    for name in DOCUMENT_FOLDERS:
        if (root / name).is_dir():
            return root / name
    return root


def looks_like_documents(root: Path) -> bool:
    """A folder with document files and their fields (a `key/` or `fields/` folder of JSON, or `fields.csv`)."""
    if not root.is_dir() or (root / "manifest.json").is_file():
        return False
    has_fields = any((root / n).is_dir() and any((root / n).glob("*.json")) for n in FIELD_FOLDERS) or any(
        (root / n).is_file() for n in FIELD_TABLES
    )
    return has_fields and any(is_document_file(p) for p in document_folder(root).iterdir() if p.is_file())


def list_documents(root: Path) -> list[Path]:
    """The document files of a documents folder, sorted by name."""
    folder = document_folder(root)
    return sorted(p for p in folder.iterdir() if p.is_file() and is_document_file(p) and not p.name.startswith("."))


def read_field_table(path: Path) -> dict[str, dict[str, str]]:
    """`file,<field>,<field>...` rows -> {file name: {field: value}} (empty cells are absent fields)."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        columns = list(reader.fieldnames or [])
        if "file" not in columns:
            raise BadItemError(str(path), f"no `file` column (columns: {', '.join(columns)})")
        table: dict[str, dict[str, str]] = {}
        for row in reader:
            name = (row.get("file") or "").strip()
            if name:
                fields = {k: (v or "").strip() for k, v in row.items() if k and k != "file" and (v or "").strip()}
                table[Path(name).name] = fields
        return table


def read_field_json(path: Path) -> dict[str, str]:
    """A JSON object of field -> value (values kept as strings); BadItemError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadItemError(str(path), f"fields file is not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise BadItemError(str(path), "fields file is not a JSON object of field: value")
    return {str(k): "" if v is None else str(v) for k, v in data.items()}


def fields_of(root: Path, document: Path, table: dict[str, dict[str, str]] | None) -> dict[str, str] | None:
    """The fields given for `document` (a key/ JSON wins over the table), None when neither has it."""
    for name in FIELD_FOLDERS:
        candidate = root / name / f"{document.stem}.json"
        if candidate.is_file():
            return read_field_json(candidate)
    if table is not None:
        return table.get(document.name)
    return None


def read_box_csv(path: Path) -> list[OcrLine]:
    """SROIE's box file: `x1,y1,x2,y2,x3,y3,x4,y4,text` per line (the text may hold commas)."""
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(",", 8)
        if len(parts) < 9:
            raise BadItemError(str(path), f"line {number} has fewer than 8 coordinates and a text")
        try:
            box = tuple(float(v) for v in parts[:8])
        except ValueError:
            raise BadItemError(str(path), f"line {number}: the first 8 values are not coordinates") from None
        lines.append(OcrLine(parts[8].strip(), box))  # type: ignore[arg-type]
    return lines


def read_lines_json(path: Path) -> list[OcrLine]:
    """A JSON list of `{"text", "box", "page"?, "confidence"?}` (or `{"lines": [...]}`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["lines"] if isinstance(data, dict) else data
        return [OcrLine.from_dict(r) for r in rows]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise BadItemError(str(path), f"OCR lines are not a JSON list of {{text, box}} ({err})") from None


def given_lines_path(document: str | Path) -> Path | None:
    """The OCR lines file given next to a document (`box/<stem>.csv` or `.json` beside its folder), if any."""
    doc = Path(document)
    roots = [doc.parent, doc.parent.parent] if doc.parent.name in DOCUMENT_FOLDERS else [doc.parent]
    for root in roots:
        for folder in LINE_FOLDERS:
            for suffix in (".csv", ".json"):
                candidate = root / folder / f"{doc.stem}{suffix}"
                if candidate.is_file():
                    return candidate
    return None


def given_lines(document: str | Path) -> list[OcrLine] | None:
    """The OCR lines given with a document, or None when it has none (then OCR reads it)."""
    path = given_lines_path(document)
    if path is None:
        return None
    return read_box_csv(path) if path.suffix == ".csv" else read_lines_json(path)


def check_document(path: str | Path) -> int:
    """The number of pages of a document, reading headers only; BadItemError with the reason when unusable
    (a page image over the pixel guard is refused here, before any pixel is decoded)."""
    p = Path(path)
    if p.suffix.lower() == PDF_EXTENSION:
        return _pdf_page_count(p)
    image_size(p)  # the size and aspect guards of every image: a decompression bomb stops here
    try:
        with Image.open(p) as im:
            return int(getattr(im, "n_frames", 1))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise BadItemError(str(p), f"not a readable image ({type(err).__name__}: {err})") from None


def page_limit_note(pages: int, max_pages: int) -> str | None:
    """The note saying a document was read only up to `max_pages` (None when it was read whole)."""
    if pages <= max_pages:
        return None
    return f"{pages} pages: read the first {max_pages} (raise --ocr-max-pages to read more)"


def read_pages(path: str | Path, max_pages: int = MAX_PDF_PAGES) -> list[Image.Image]:
    """Every page of a document as an RGB image (up to `max_pages`; PDF pages rendered)."""
    return list(iter_pages(path, max_pages))


def iter_pages(path: str | Path, max_pages: int = MAX_PDF_PAGES) -> Iterator[Image.Image]:
    """The pages of a document as RGB images, one at a time, the first `max_pages` only."""
    p = Path(path)
    if p.suffix.lower() == PDF_EXTENSION:
        yield from _render_pdf(p, max_pages)
        return
    check_document(p)
    try:
        with Image.open(p) as im:
            for frame in range(min(getattr(im, "n_frames", 1), max_pages)):
                im.seek(frame)
                yield ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError, EOFError) as err:
        raise BadItemError(str(p), f"image could not be decoded ({type(err).__name__}: {err})") from None


def _open_pdf(path: Path) -> Any:
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise BadItemError(str(path), "PDF needs pypdfium2 (pip install 'headstart[documents]')") from None
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as err:
        if "password" in str(err).lower():
            reason = "the PDF is password-protected: save an unprotected copy to read it"
        else:
            reason = f"not a readable PDF, corrupt or truncated ({err})"
        raise BadItemError(str(path), reason) from None


def _pdf_page_count(path: Path) -> int:
    pdf = _open_pdf(path)
    try:
        n = len(pdf)
    finally:
        pdf.close()
    if n == 0:
        raise BadItemError(str(path), "the PDF has no pages")
    return n


def pdf_scale(width_pt: float, height_pt: float) -> float:
    """The render scale of a PDF page: 200 dpi, less when that would pass the pixel limit (a poster-sized page)."""
    pixels = width_pt * height_pt * PDF_SCALE**2
    limit = max_pixels()
    return PDF_SCALE if pixels <= limit else PDF_SCALE * (limit / pixels) ** 0.5


def _render_pdf(path: Path, max_pages: int) -> Iterator[Image.Image]:
    import pypdfium2 as pdfium

    pdf = _open_pdf(path)
    try:
        for index in range(min(len(pdf), max_pages)):
            page = pdf[index]
            try:
                scale = pdf_scale(*page.get_size())
                yield page.render(scale=scale).to_pil().convert("RGB")
            except pdfium.PdfiumError as err:
                raise BadItemError(str(path), f"page {index + 1} could not be rendered ({err})") from None
            finally:
                page.close()
    finally:
        pdf.close()


def canonical_fields(fields: dict[str, str]) -> str:
    """The label string a document's fields are kept as in a `Dataset` (JSON, keys sorted)."""
    return json.dumps(fields, sort_keys=True, ensure_ascii=False)


def parse_fields(label: str) -> dict[str, str]:
    """The fields kept by `canonical_fields`."""
    data = json.loads(label)
    return {str(k): str(v) for k, v in data.items()}


def field_names(labels: Sequence[str]) -> list[str]:
    """Every field name any document has, in first-seen order."""
    names: dict[str, None] = {}
    for label in labels:
        names.update(dict.fromkeys(parse_fields(label)))
    return list(names)
