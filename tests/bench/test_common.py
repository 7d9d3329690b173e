"""bench/common.write_result records a goal's figure with its command, commit, machine, load and date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench._load import bench_module

common = bench_module("common")
report = bench_module("report")


def test_write_result_records_provenance_and_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.LATEST_ENV, str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = common.write_result(
        "speed",
        title="Speed",
        target="at least 7x",
        status="met",
        figure="9.8x",
        table={"columns": ["x"], "rows": [["1"]]},
        issue=2,
        argv=[str(common.REPO_ROOT / "bench" / "extract.py"), "--n", "64"],
    )
    assert path == tmp_path / "speed.json"
    data = json.loads(path.read_text())
    assert data["command"] == ["OMP_NUM_THREADS=1 .venv/bin/python bench/extract.py --n 64"]
    assert data["machine"]["cpu"] == common.cpu_model()
    assert data["machine"]["cpu_flags"] == (common.cpu_flags() or "not recorded")
    assert data["commit"].startswith(common.git_commit() or "not recorded")
    assert len(data["load"]) == 3 and data["date"].endswith("Z")
    [result] = report.load_results(tmp_path)
    assert result.status == "met" and result.command == data["command"]


def test_cpu_flags_are_the_isa_flags_of_proc_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Test\nflags\t\t: fpu sse4_2 avx avx2 avx512_vnni ht\n")
    real_path = common.Path
    monkeypatch.setattr(common, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    assert common.cpu_flags() == ["sse4_2", "avx", "avx2", "avx512_vnni"]


def test_write_result_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.LATEST_ENV, "off")
    assert common.write_result("speed", title="t", target="t", status="met", figure="f") is None


def test_a_run_s_own_results_do_not_mark_the_commit_dirty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "latency.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "init", "--allow-empty")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "files")
    monkeypatch.setattr(common, "REPO_ROOT", tmp_path)
    (tmp_path / "bench" / "results" / "latency.json").write_text('{"written": "by the run"}')
    assert common.git_describe() == common.git_commit()
    (tmp_path / "code.py").write_text("x = 2\n")
    assert common.git_describe() == f"{common.git_commit()} + uncommitted changes"
