"""Upload folders left by a killed server are removed by the next one, and nothing else is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from headstart.server.tempdirs import PREFIX, clean_stale_upload_folders, upload_folder
from tests.serve.conftest import png_bytes
from tests.serve.server import running_server


def _mark(pid: int) -> int:
    return round(psutil.Process(pid).create_time() * 100)


def _folder(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    (path / "upload-0000").write_bytes(b"an upload")
    return path


def test_only_folders_of_gone_processes_of_this_user_are_removed(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid, dead_mark = finished.pid, _mark(finished.pid)
    finished.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _folder(tmp_path, f"{PREFIX}{dead_pid}-{dead_mark}-abc")
        reused_pid = _folder(tmp_path, f"{PREFIX}{sleeper.pid}-{_mark(sleeper.pid) - 500}-abc")  # same pid, older
        running = _folder(tmp_path, f"{PREFIX}{sleeper.pid}-{_mark(sleeper.pid)}-abc")
        mine = _folder(tmp_path, f"{PREFIX}{os.getpid()}-{_mark(os.getpid())}-abc")
        legacy = _folder(tmp_path, f"{PREFIX}k2j4h5")  # the older naming: no owner to check, kept
        target = _folder(tmp_path, "not-ours")
        link = tmp_path / f"{PREFIX}{dead_pid}-{dead_mark}-link"
        link.symlink_to(target)
        plain_file = tmp_path / f"{PREFIX}{dead_pid}-{dead_mark}-file"
        plain_file.write_text("x")
        removed = clean_stale_upload_folders(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted([dead, reused_pid])
    assert not dead.exists() and not reused_pid.exists()
    assert running.exists() and mine.exists() and legacy.exists() and plain_file.exists()
    assert link.is_symlink() and (target / "upload-0000").exists()


def test_upload_folders_name_their_owner_and_are_removed_after_use() -> None:
    with upload_folder() as folder:
        assert folder.name.startswith(f"{PREFIX}{os.getpid()}-{_mark(os.getpid())}-")
        assert clean_stale_upload_folders(folder.parent) == [] and folder.exists()  # its owner runs
    assert not folder.exists()


def test_the_folder_of_a_server_killed_mid_request_is_removed_by_the_next(
    image_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the servers' temp folder
    files = {"files": ("a.png", png_bytes(), "image/png")}
    with running_server(image_bundle, "--max-wait-ms", "8000") as url:  # a lone upload waits 8 s for company
        pid = httpx.get(f"{url}/v1/health").json()["worker_pid"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(httpx.post, f"{url}/v1/predict", files=files, timeout=30)
            deadline = time.monotonic() + 20
            while not list(tmp_path.glob(f"{PREFIX}{pid}-*/upload-0000")) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                pending.result()
    left = list(tmp_path.glob(f"{PREFIX}{pid}-*"))
    assert left, "the killed server left no upload folder: the request did not reach it"
    with running_server(image_bundle) as url:
        assert httpx.post(f"{url}/v1/predict", files=files, timeout=30).status_code == 200
    assert not any(path.exists() for path in left)
