"""`POST /v1/predict` of a fields bundle: an uploaded page image or PDF answers each document's fields; an
unusable upload is a 422 (or skipped with ?on_bad=skip). The model's line reader is replaced by one that knows the
uploaded bytes' lines, so no test waits for RapidOCR on a page."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from headstart import api
from headstart.data.documents import OcrLine
from headstart.data.hashing import image_sha256
from headstart.ocr import OcrSettings, ReadLines
from headstart.server import create_app
from headstart.strategies.fields import strategy as fields_strategy
from tests.fields_data import fields_extractors, receipt, write_receipts


@pytest.fixture(autouse=True, scope="module")
def extractors() -> Iterator[None]:
    with fields_extractors():
        yield


LINES: dict[str, list[OcrLine]] = {}  # the lines of each upload, by its bytes' sha256
SETTINGS: list[OcrSettings | None] = []  # the OCR settings of each read


@pytest.fixture(autouse=True)
def known_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fields model reads the lines of `LINES` (a document it does not know there has none)."""

    def read(paths, ids, settings=None, **_):  # type: ignore[no-untyped-def]
        SETTINGS.append(settings)
        found = [LINES.get(image_sha256(path)) for path in paths]
        return ReadLines(found, [], {"cache": sum(lines is not None for lines in found)})

    monkeypatch.setattr(fields_strategy, "read_documents", read)


@pytest.fixture(scope="module")
def fields_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-fields")
    receipts = write_receipts(root / "receipts", 10)
    return api.fit(receipts, strategy="rules", out=str(root / "bundle"), progress=False).bundle


def _cached_upload(tmp_path: Path, n: int, pdf: bool = False) -> bytes:
    """The bytes of a page (PNG, or a one-page PDF) whose lines, receipt `n`'s, the model's reader knows."""
    page = Image.new("RGB", (90, 70), "white")
    page.putpixel((n, n), (0, 0, 0))
    buffer = io.BytesIO()
    page.save(buffer, format="PDF" if pdf else "PNG")
    path = tmp_path / f"upload-{n}"
    path.write_bytes(buffer.getvalue())
    lines, _ = receipt(n)
    rows = [
        OcrLine(text, (10, 10 + 20 * i, 200, 10 + 20 * i, 200, 26 + 20 * i, 10, 26 + 20 * i))
        for i, text in enumerate(lines)
    ]
    LINES[image_sha256(path)] = rows
    return buffer.getvalue()


def test_uploaded_pages_and_pdfs_answer_their_fields_with_boxes(fields_bundle: Path, tmp_path: Path) -> None:
    files = [
        ("files", ("first.png", _cached_upload(tmp_path, 3), "image/png")),
        ("files", ("second.pdf", _cached_upload(tmp_path, 4, pdf=True), "application/pdf")),
    ]
    with TestClient(create_app(fields_bundle)) as client:
        response = client.post("/v1/predict", files=files)
        card = client.get("/v1/model").json()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "fields" and card["task"] == "fields"
    first, second = body["predictions"]
    assert first["filename"] == "first.png" and set(first) == {"index", "id", "filename", "fields", "top"}
    assert {k: v["value"] for k, v in first["fields"].items()} == receipt(3)[1]
    assert {k: v["value"] for k, v in second["fields"].items()} == receipt(4)[1]
    assert first["fields"]["total"]["box"] == [10.0, 70.0, 200.0, 86.0] and first["fields"]["total"]["page"] == 0


def test_an_unusable_upload_is_refused_or_skipped_with_its_reason(fields_bundle: Path, tmp_path: Path) -> None:
    bad = ("files", ("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf"))
    good = ("files", ("first.png", _cached_upload(tmp_path, 5), "image/png"))
    with TestClient(create_app(fields_bundle)) as client:
        refused = client.post("/v1/predict", files=[good, bad])
        skipped = client.post("/v1/predict?on_bad=skip", files=[good, bad])
    assert refused.status_code == 422 and "not a usable document" in refused.json()["message"], refused.text
    assert "Traceback" not in refused.text
    body = skipped.json()
    assert [p["filename"] for p in body["predictions"]] == ["first.png"]
    assert body["skipped"][0]["filename"] == "broken.pdf" and "not a usable document" in body["skipped"][0]["reason"]


def test_the_try_it_page_knows_fields_models_metrics_and_draws_their_boxes(fields_bundle: Path) -> None:
    """app.js words the page for `fields`, shows the card's entity scores and draws boxes on #page-boxes."""
    with TestClient(create_app(fields_bundle)) as client:
        card = client.get("/v1/model").json()
        page = client.get("/").text
        script = client.get("/static/app.js").text
    assert card["task"] == "fields" and card["input"] == "file"
    assert {"entity_f1", "entity_precision", "entity_recall"} <= set(card["metrics"]["test"])
    assert all(f'"{key}"' in script for key in ("entity_f1", "entity_precision", "entity_recall"))
    assert "fields: {" in script and 'id="page-boxes"' in page and "application/pdf" in script


def test_uploads_are_read_with_the_bundles_ocr_settings_unless_the_service_is_told(
    fields_bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # earlier tests' libraries may have reconfigured logging (a disabled logger, a raised level, no propagation to
    # the root where caplog listens): the warning is what is tested here, so caplog listens on the logger itself
    log = logging.getLogger("headstart.serve")
    monkeypatch.setattr(log, "disabled", False)
    monkeypatch.setattr(log, "handlers", [*log.handlers, caplog.handler])
    caplog.set_level(logging.WARNING, logger="headstart.serve")
    files = [("files", ("first.png", _cached_upload(tmp_path, 5), "image/png"))]
    for options, max_side in (({}, OcrSettings().max_side), ({"ocr_max_side": 900, "ocr_orientation": False}, 900)):
        SETTINGS.clear()
        with TestClient(create_app(fields_bundle, **options)) as client:
            response = client.post("/v1/predict", files=files)
        assert response.status_code == 200, response.text
        assert SETTINGS and all(s is not None and s.max_side == max_side for s in SETTINGS), options
    assert SETTINGS[-1] is not None and SETTINGS[-1].orientation is False
    fitted = OcrSettings().max_side
    assert f"OCR settings differ from the model's: max_side=900 (fitted with {fitted})" in caplog.text
