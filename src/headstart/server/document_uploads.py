"""Checking uploaded documents (page images, PDFs) before OCR reads them: the same 4xx discipline as images.

A PDF keeps a `.pdf` name (its pages are rendered by the PDF reader, found by the suffix); the header is checked
with `data.documents.check_document` (pages, the page-pixel guard, a password-protected or corrupt PDF), so an
unusable upload is a 422 naming the reason, or with `?on_bad=skip` an item left out with it.
"""

from __future__ import annotations

from pathlib import Path

from headstart.data.documents import PDF_EXTENSION, check_document
from headstart.errors import BadItemError
from headstart.server.limits import InvalidInputError

PDF_MAGIC = b"%PDF-"


def check_document_upload(path: Path, label: str, directory: Path, skip_bad: bool) -> tuple[Path, str | None]:
    """(the upload's path, None) when its header passes (a PDF renamed to end in .pdf); (path, the reason) with
    `skip_bad` when it is unusable; raises InvalidInputError otherwise."""
    with path.open("rb") as f:
        if f.read(len(PDF_MAGIC)) == PDF_MAGIC:
            path = path.rename(path.with_suffix(PDF_EXTENSION))
    try:
        check_document(path)
    except BadItemError as err:
        reason = err.reason.replace(str(directory) + "/", "").replace(str(directory), "")
        if skip_bad:
            return path, f"not a usable document: {reason}"
        raise InvalidInputError(
            f"{label} is not a usable document: {reason}",
            expected="a page image (JPEG, PNG, TIFF) or a PDF",
            fix="check that the file is a document and is not truncated or password-protected, or add ?on_bad=skip",
        ) from None
    return path, None
