"""The documents modality: page images and PDFs with key fields per document (`data/documents.py` reads them).

A documents folder is claimed when it holds document files and their fields (`key/<stem>.json` or
`fields.csv`); each document is one item (its path), its fields the label (a JSON object, task `fields`).
A document whose file cannot be read, or that has no fields while others do, is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from PIL import Image

from headstart.data.dataset import Dataset, SkippedItem, check_on_bad
from headstart.data.documents import (
    DOCUMENT_EXTENSIONS,
    DOCUMENT_FOLDERS,
    FIELD_TABLES,
    canonical_fields,
    check_document,
    document_folder,
    fields_of,
    is_document_file,
    given_lines_path,
    list_documents,
    looks_like_documents,
    read_field_table,
    read_pages,
)
from headstart.data.hashing import image_sha256
from headstart.data.inputs import FolderListing, InputKind, load_input_files
from headstart.data.modalities.base import Modality, register_modality
from headstart.errors import BadItemError, DataError
from headstart.tasks.fields import FIELDS

ACCEPTED = ", ".join(sorted(DOCUMENT_EXTENSIONS))
IN_FOLDERS = " or ".join(f"{name}/" for name in DOCUMENT_FOLDERS)  # where a documents folder keeps its files


class DocumentModality(Modality):
    name = "document"
    noun = "document"
    size_unit = "px"
    items_are_files = True
    accepts_uploads = True
    page_input = "file"
    one_class_fix = "give the fields of each document (key/<stem>.json or fields.csv)"

    def decode(self, item: str) -> list[Image.Image]:
        return read_pages(item)

    def digest(self, item: str) -> str:
        return image_sha256(item)  # the file's bytes

    def claims(self, path: Path) -> bool:
        return looks_like_documents(path)

    def load(self, path: Path, **options: Any) -> Dataset:
        return load_documents(path, on_bad=str(options.get("on_bad", "skip")))

    def load_inputs(self, inputs: Sequence[str], *, text_column: str | None, on_bad: str) -> Dataset | None:
        return load_document_inputs(inputs, on_bad=on_bad)

    def inspect(self, ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        """Pages per document (min/median/max), how many come with OCR lines, and the unreadable ones. `decode`
        also decodes each document's first page (a 200-page PDF is not rendered whole to be inspected)."""
        pages: list[int] = []
        broken: list[dict[str, str]] = []
        given = 0
        for item_id, item in zip(ds.ids, ds.items, strict=True):
            try:
                count = check_document(item)
                if decode:
                    read_pages(item, max_pages=1)
                pages.append(count)
            except BadItemError as err:
                broken.append({"id": item_id, "reason": err.reason})
                continue
            given += given_lines_path(item) is not None
        if not pages:
            return None, broken
        stats = {
            "pages": {"min": float(min(pages)), "median": float(median(pages)), "max": float(max(pages))},
            "ocr_lines_given": {"documents": float(given), "share": round(given / len(pages), 4)},
        }
        return stats, broken


def load_documents(root: Path, *, on_bad: str = "skip") -> Dataset:
    """The documents under `root` with their fields; unreadable files and documents without fields are skipped."""
    policy = check_on_bad(on_bad)
    table_path = next((root / n for n in FIELD_TABLES if (root / n).is_file()), None)
    table = read_field_table(table_path) if table_path is not None else None
    items: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    skipped: list[SkippedItem] = []
    for document in list_documents(root):
        item_id = str(document.relative_to(root))
        try:
            check_document(document)
            fields = fields_of(root, document, table)
            if fields is None:
                where = f"key/{document.stem}.json" + (f" or a row of {table_path.name}" if table_path else "")
                raise BadItemError(str(document), f"no fields given (expected {where})")
        except BadItemError as err:
            if policy == "fail":
                raise
            skipped.append(SkippedItem(item_id, err.reason))
            continue
        items.append(str(document.resolve()))
        ids.append(item_id)
        labels.append(canonical_fields(fields))
    if not items:
        raise DataError(
            f"no usable documents in {root}",
            expected=f"document files ({ACCEPTED}) in {document_folder(root)} with their fields",
            fix="put the files under img/ and a key/<stem>.json (or a row of fields.csv) per file",
        )
    return Dataset(
        modality=DocumentModality.name,
        items=tuple(items),
        ids=tuple(ids),
        labels=tuple(labels),
        source=str(root),
        skipped=tuple(skipped),
        task=FIELDS.name,
    )


def _list_inputs(folder: Path, named: Path) -> FolderListing:
    """A folder's documents, at its root or under its `img/` (not recursive), ids under the path as named."""
    return FolderListing([(f, str(named / f.relative_to(folder))) for f in list_documents(folder)])


def _check_input(path: Path) -> None:
    """BadItemError unless `path` is a readable document (a file of another kind fails too, with `on_bad="fail"`)."""
    if not is_document_file(path):
        raise BadItemError(str(path), f"not a document file ({ACCEPTED})")
    check_document(path)


INPUTS = InputKind(
    modality=DocumentModality.name,
    noun="document",
    plural="documents",
    accepted=ACCEPTED,
    in_folders=f"at the folder's root or in its {IN_FOLDERS}; not deeper",
    list_folder=_list_inputs,
    check=_check_input,
    resolve=True,
)


def load_document_inputs(inputs: Sequence[str], *, on_bad: str = "skip") -> Dataset:
    """Documents to predict: files (page images, PDFs) and folders of them (a documents folder's `img/`...)."""
    return load_input_files(inputs, INPUTS, on_bad=on_bad)


DOCUMENTS = register_modality(DocumentModality())
