"""Corrupt and edited bundles: every command that reads one answers a BundleError (exit 5), never a traceback.

Each case damages a copy of a good bundle the way the adversarial audit did (issue 19, items 4-5); each command
runs plain and with --json (then stdout is exactly one JSON document). Nothing in a bundle is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.errors import BundleError
from tests.conftest import make_text_csv

runner = CliRunner()
MARKER = Path("/tmp/headstart-test-unpickled-marker")


class _Payload:
    """Creates MARKER if anything ever unpickles it."""

    def __reduce__(self) -> Any:
        return (Path.touch, (MARKER,))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(folder: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    raw = json.loads((folder / "manifest.json").read_text())
    raw = change(raw) or raw
    (folder / "manifest.json").write_text(json.dumps(raw))


def _rehash(raw: dict[str, Any], folder: Path) -> None:
    raw["files"]["head.safetensors"] = _sha(folder / "head.safetensors")


def _pickle_head(folder: Path) -> None:
    (folder / "head.safetensors").write_bytes(pickle.dumps(_Payload()))
    _edit(folder, lambda raw: _rehash(raw, folder))


def _torch_head(folder: Path) -> None:
    import torch

    torch.save({"coef": torch.zeros(1, 16), "payload": _Payload()}, folder / "head.safetensors")
    _edit(folder, lambda raw: _rehash(raw, folder))


def _head_folder(folder: Path) -> None:
    (folder / "head.safetensors").unlink()
    (folder / "head.safetensors").mkdir()


def _outside(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        target = (folder / name) if not name.startswith("/") else Path(name)
        digest = _sha(target) if target.is_file() else "0" * 64
        _edit(folder, lambda raw: raw["files"].__setitem__(name, digest))

    return damage


def _without_strategy(raw: dict[str, Any]) -> None:
    del raw["strategy"]


CASES: dict[str, Callable[[Path], None]] = {
    "manifest is []": lambda f: (f / "manifest.json").write_text("[]"),
    "manifest is null": lambda f: (f / "manifest.json").write_text("null"),
    "files is a list": lambda f: _edit(f, lambda raw: raw.__setitem__("files", list(raw["files"]))),
    "labels is a string": lambda f: _edit(f, lambda raw: raw.__setitem__("labels", "food,sport")),
    "no strategy": lambda f: _edit(f, _without_strategy),
    "labels != head outputs": lambda f: _edit(f, lambda raw: raw.__setitem__("labels", [*raw["labels"], "extra"])),
    "head is a pickle": _pickle_head,
    "head is a torch file": _torch_head,
    "head is a folder": _head_folder,
    "files names /etc/hostname": _outside("/etc/hostname"),
    "files names ../../../../etc/passwd": _outside("../../../../etc/passwd"),
    "unknown modality": lambda f: _edit(f, lambda raw: raw.__setitem__("modality", "video")),
    "unknown task": lambda f: _edit(f, lambda raw: raw.__setitem__("task", "ranking")),
    "unknown strategy": lambda f: _edit(f, lambda raw: raw["strategy"].__setitem__("name", "quantum")),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a good text bundle, its labelled data)."""
    root = tmp_path_factory.mktemp("good")
    data = make_text_csv(root / "texts.csv")
    headstart.fit(str(data), backbone="test-text", out=str(root / "model"), progress=False, track=False)
    return root / "model", data


@pytest.fixture(params=list(CASES))
def corrupt(request: pytest.FixtureRequest, good: tuple[Path, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "corrupt"
    shutil.copytree(good[0], folder)
    CASES[request.param](folder)
    return folder


def _commands(bundle: Path, good: Path, data: Path, tmp: Path) -> dict[str, list[str]]:
    return {
        "predict": ["predict", str(bundle), "the team won"],
        "evaluate": ["evaluate", str(bundle), str(data)],
        "expand": ["expand", str(bundle), str(data), "--out", str(tmp / "grown")],
        "export": ["export", str(bundle), "--out", str(tmp / "model.onnx")],
        "serve": ["serve", str(bundle), "--port", "0"],
        "promote": ["promote", str(bundle), "--over", str(good), "--on", str(data)],
    }


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
def test_every_command_answers_a_corrupt_bundle_with_exit_5(
    corrupt: Path, good: tuple[Path, Path], tmp_path: Path, as_json: bool
) -> None:
    MARKER.unlink(missing_ok=True)
    for name, args in _commands(corrupt, good[0], good[1], tmp_path).items():
        result = runner.invoke(app, [*args, *(["--json"] if as_json else [])])
        output = result.stdout + result.stderr
        assert result.exit_code == 5, (name, output)
        assert "Traceback" not in output, (name, output)
        if as_json:
            document = json.loads(result.stdout)  # exactly one JSON document
            assert document["error"] == "BundleError" and document["fix"], (name, document)
    assert not MARKER.exists(), "a bundle file was unpickled"
    assert not (tmp_path / "grown").exists() and not (tmp_path / "model.onnx").exists()


def test_the_python_api_refuses_a_corrupt_bundle(corrupt: Path) -> None:
    with pytest.raises(BundleError):
        headstart.load(corrupt)


def test_a_good_bundle_still_loads(good: tuple[Path, Path]) -> None:
    assert headstart.load(good[0]).predict("the team won the match") in (["food"], ["sport"])


def test_a_hub_backbone_named_by_a_manifest_is_not_downloaded_at_load(
    good: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "hub"
    shutil.copytree(good[0], folder)
    _edit(folder, lambda raw: raw["backbone"].__setitem__("name", "hf:someone/not-downloaded-model"))

    def no_download(name: str, **options: Any) -> Any:
        raise AssertionError(f"tried to build {name}")

    monkeypatch.setattr("headstart.bundle.get_backbone", no_download)
    monkeypatch.delenv("HEADSTART_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(BundleError, match="hub id that is not downloaded") as refused:
        headstart.load(folder)
    assert "HEADSTART_ALLOW_DOWNLOAD=1" in (refused.value.fix or "")
    result = runner.invoke(app, ["predict", str(folder), "the team won", "--json"])
    assert result.exit_code == 5 and json.loads(result.stdout)["error"] == "BundleError"


def test_fit_and_evaluate_json_report_the_task_kind_and_modality(tmp_path: Path) -> None:
    """A script learns what was detected from `--json`, without opening manifest.json."""
    data = make_text_csv(tmp_path / "texts.csv")
    fitted = runner.invoke(
        app, ["fit", str(data), "--backbone", "test-text", "--out", str(tmp_path / "m"), "--no-track", "--json"]
    )
    assert fitted.exit_code == 0, fitted.output
    doc = json.loads(fitted.stdout)
    assert (doc["task"], doc["modality"]) == ("classification", "text")
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "m"), str(data), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    doc = json.loads(evaluated.stdout)
    assert (doc["task"], doc["modality"]) == ("classification", "text")
    written = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert written["format_version"] == 2 and written["task"] == "classification"
