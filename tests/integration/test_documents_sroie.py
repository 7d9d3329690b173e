"""The shared SROIE receipts as a documents dataset: fields from key/, given lines from box/, weak-label coverage."""

from __future__ import annotations

from pathlib import Path

import pytest

import headstart

pytestmark = pytest.mark.integration


def test_sroie_fields_are_findable_in_the_given_lines(shared_data: Path) -> None:
    root = shared_data / "sroie_receipts"
    if not root.is_dir():
        pytest.skip("sroie_receipts is not in ../shared/data")
    report = headstart.inspect(root, decode=False, progress=False)
    assert report.modality == "document" and report.n_items == 100
    assert report.ocr_sources == {"given": 100}  # no OCR: every receipt has box/<stem>.csv
    coverage = report.field_coverage or {}
    assert {name: int(found["findable"]) for name, found in coverage.items()} == {
        "company": 100,
        "date": 100,
        "address": 100,
        "total": 99,  # one receipt's key has an empty total
    }
    assert coverage["total"]["documents"] == 99
