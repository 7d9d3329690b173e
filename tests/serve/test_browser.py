"""The try-it page in headless Chromium (Debian's chromium driven by Python playwright; no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serve.conftest import png_bytes
from tests.serve.server import running_server

CHROMIUM = os.environ.get("HEADSTART_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def test_page_classifies_a_text(browser, text_bundle: Path, tmp_path: Path) -> None:
    with running_server(text_bundle) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='text']")
        assert "test-text" in page.inner_text("#model-name")
        assert page.inner_text("#labels").split() == ["food", "sport"]
        page.fill("#text-input", "the team won the match")
        page.click("#text-submit")
        page.wait_for_selector("#bars .bar")
        bars = page.query_selector_all("#bars .bar")
        assert len(bars) == 2
        assert bars[0].get_attribute("data-label") == "sport"
        assert "%" in bars[0].inner_text()
        page.screenshot(path=str(tmp_path / "text-page.png"), full_page=True)
        page.fill("#text-input", "   ")
        page.click("#text-submit")
        assert not page.is_hidden("#error")
        page.close()
    assert (tmp_path / "text-page.png").stat().st_size > 0


def test_page_classifies_an_uploaded_image(browser, image_bundle: Path, tmp_path: Path) -> None:
    image = tmp_path / "green.png"
    image.write_bytes(png_bytes((30, 200, 40), size=(120, 90)))
    with running_server(image_bundle) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='image']")
        assert "accuracy" in page.inner_text("#card-fields")
        page.set_input_files("#file-input", str(image))
        page.wait_for_selector("#bars .bar")
        bars = page.query_selector_all("#bars .bar")
        assert len(bars) == 3
        assert bars[0].get_attribute("data-label") == "green"
        page.screenshot(path=str(tmp_path / "image-page.png"), full_page=True)
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"not an image at all")
        page.set_input_files("#file-input", str(broken))
        page.wait_for_selector("#error:not([hidden])")
        assert "files[0]" in page.inner_text("#error")
        page.close()
    assert (tmp_path / "image-page.png").stat().st_size > 0
