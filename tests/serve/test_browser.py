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
        assert page.inner_text("#text-label") == "Text to classify" and page.inner_text("#text-submit") == "Classify"
        assert "accuracy" in page.inner_text("#card-fields")
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
        # the native file control is hidden from sight only: the drop zone (its label) is what shows
        box = page.query_selector("#file-input").bounding_box()
        assert box is not None and box["width"] <= 1 and box["height"] <= 1
        assert page.is_visible("#drop-zone") and page.get_attribute("#drop-zone", "for") == "file-input"
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


def test_page_speaks_regression(browser, text_value_bundle: Path) -> None:
    with running_server(text_value_bundle) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='text'][data-task='regression']")
        assert page.inner_text("#text-label") == "Text to score" and page.inner_text("#text-submit") == "Predict"
        assert "value" in page.inner_text("#results-hint") and "classes" not in page.inner_text("#results-hint")
        assert page.inner_text("#labels-title") == "Target"
        fields = page.inner_text("#card-fields")
        assert all(name in fields for name in ("MAE", "RMSE", "R²")) and "accuracy" not in fields
        page.fill("#text-input", "the team won the match")
        page.click("#text-submit")
        page.wait_for_selector("#answer:not([hidden])")
        assert page.inner_text("#answer").startswith("predicted value: ")
        assert abs(float(page.get_attribute("#answer", "data-value")) - 1.0) < 1.0  # sport texts score 1, food 3
        assert page.query_selector_all("#bars .bar") == []
        page.close()


def test_page_speaks_multilabel(browser, text_tag_bundle: Path) -> None:
    with running_server(text_tag_bundle) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='text'][data-task='multilabel']")
        assert page.inner_text("#text-label") == "Text to tag" and page.inner_text("#text-submit") == "Tag"
        assert page.inner_text("#labels-title") == "Tags"
        fields = page.inner_text("#card-fields")
        assert "micro-F1" in fields and "mAP" in fields and "accuracy" not in fields
        page.fill("#text-input", "the team won the match")
        page.click("#text-submit")
        page.wait_for_selector("#answer:not([hidden])")
        tags = page.inner_text("#answer").removeprefix("tags: ").split(", ")
        assert "sport" in tags and "food" not in tags
        chosen = [bar.get_attribute("data-label") for bar in page.query_selector_all("#bars .bar.chosen")]
        assert "sport" in chosen and set(chosen) <= set(tags)
        page.close()
