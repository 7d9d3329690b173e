"""Engine selection without a cluster: the missing-Ray error, option wiring, and no Ray import at startup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headstart import api
from headstart.cli.main import app
from headstart.engines import LocalEngine, current_engine, get_engine, use_engine
from headstart.errors import EngineError, UsageError

runner = CliRunner()


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import ray` fail as it does where Ray is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)


def test_engine_ray_without_ray_says_what_to_install(no_ray: None, image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        api.fit(image_folder, backbone="test-cnn", engine="ray", out=str(tmp_path / "m"), track=False, progress=False)
    err = info.value
    assert "--engine ray needs the Ray package" in err.what
    assert "ray[data]" in (err.expected or "")
    assert "pip install 'headstart[ray]'" in (err.fix or "") and "--engine local" in (err.fix or "")
    assert not (tmp_path / "m").exists()


def test_cli_study_with_ray_missing_exits_with_the_fix(no_ray: None, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = runner.invoke(
        app, ["study", str(image_folder), "--backbone", "test-cnn", "--engine", "ray", "--out", str(out), "--json"]
    )
    assert result.exit_code == EngineError.exit_code == 2
    assert "headstart[ray]" in result.output and "EngineError" in result.output
    assert not (out / "results.jsonl").exists()  # refused before any cell ran


def test_unknown_engine_is_a_usage_error(image_folder: Path) -> None:
    with pytest.raises(UsageError, match="engine"):
        api.fit(image_folder, backbone="test-cnn", engine="spark", track=False)
    with pytest.raises(UsageError, match="did you mean 'ray'"):
        get_engine("rayy")


def test_local_engine_is_the_default_and_use_engine_restores_it() -> None:
    assert isinstance(current_engine(), LocalEngine)
    marker = LocalEngine()
    with use_engine(marker) as engine:
        assert engine is marker and current_engine() is marker
    assert current_engine() is not marker
    records = list(LocalEngine().run_cells(["a", "b"], lambda cell: {"key": cell}))
    assert records == [("a", {"key": "a"}), ("b", {"key": "b"})]


@pytest.mark.parametrize("command", ["fit", "rank", "study"])
def test_cli_passes_engine_options_to_the_api(command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise EngineError("stop here")

    monkeypatch.setattr(api, command, fake)
    address = "ray://head:10001"
    result = runner.invoke(app, [command, str(tmp_path), "--engine", "ray", "--ray-address", address, "--json"])
    assert result.exit_code == 2, result.output
    assert seen["engine"] == "ray" and seen["ray_address"] == address


def test_help_and_import_do_not_import_ray() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; import headstart, headstart.api, headstart.services.study; "
        "from headstart.cli.main import app; r = CliRunner().invoke(app, ['fit', '--help']); "
        "assert '--engine' in r.output and '--ray-address' in r.output, r.output; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
