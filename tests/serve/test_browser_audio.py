"""The try-it page of an audio bundle in headless Chromium: a recording uploaded as a file, and one recorded from
the microphone (Chromium's fake capture device plays a generated WAV file) then sent as WAV."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import headstart
from tests.audio_data import make_audio_folder, tone, write
from tests.serve.server import running_server
from tests.serve.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def audio_page_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-audio")
    data = make_audio_folder(root / "voices", per_class=6)
    headstart.fit(str(data), backbone="test-audio", out=str(root / "model"), progress=False)
    return root / "model"


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory):
    """Chromium whose fake microphone plays a 2 s tone at 48 kHz (looped)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    capture = write(tmp_path_factory.mktemp("capture") / "voice.wav", tone(300, 2.0, rate=48_000) * 2, rate=48_000)
    args = [
        *ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={capture}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield browser
        browser.close()


def test_page_classifies_an_uploaded_and_a_recorded_clip(microphone, audio_page_bundle: Path, tmp_path: Path) -> None:
    upload = write(tmp_path / "whistle.wav", tone(2000, 0.8, rate=22_050), rate=22_050)
    with running_server(audio_page_bundle) as url:
        context = microphone.new_context(permissions=["microphone"])
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='audio']")
        assert page.is_visible("#audio-form") and page.is_hidden("#image-form") and page.is_hidden("#text-form")
        page.set_input_files("#audio-input", str(upload))
        page.wait_for_selector("#bars .bar")
        assert len(page.query_selector_all("#bars .bar")) == 2
        page.evaluate("document.getElementById('bars').replaceChildren()")
        page.click("#record")
        page.wait_for_selector("body[data-recording='on']")
        page.wait_for_timeout(1500)
        page.click("#record")
        page.wait_for_selector("#bars .bar", timeout=30_000)
        assert page.is_hidden("#error"), page.inner_text("#error")
        assert {b.get_attribute("data-label") for b in page.query_selector_all("#bars .bar")} == {"high", "low"}
        seconds = page.evaluate("document.getElementById('audio-preview').duration")
        assert np.isfinite(seconds) and 0.5 < seconds < 5  # the recording was sent as a playable WAV
        page.screenshot(path=str(tmp_path / "audio-page.png"), full_page=True)
        context.close()
    assert (tmp_path / "audio-page.png").stat().st_size > 0
