"""bench/goals.py turns a script's raw result into its goal's record; the committed records trace to raw files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.bench._load import BENCH, bench_module

goals = bench_module("goals")
common = bench_module("common")
RESULTS = BENCH / "results"
LATEST = RESULTS / "latest"


def _raw(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def _committed(goal: str) -> dict[str, Any]:
    return json.loads((LATEST / f"{goal}.json").read_text())


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records go to a temporary folder, never to bench/results/latest."""
    monkeypatch.setenv(common.LATEST_ENV, str(tmp_path))
    return tmp_path


def _written(folder: Path, goal: str) -> dict[str, Any]:
    return json.loads((folder / f"{goal}.json").read_text())


@pytest.mark.parametrize("goal", sorted(goals.GOALS))
def test_a_scripted_goal_keeps_the_committed_heading_and_target(goal: str) -> None:
    meta, committed = goals.GOALS[goal], _committed(goal)
    assert (committed["title"], committed["target"], committed["issue"], committed["order"]) == (
        meta.title,
        meta.target,
        meta.issue,
        meta.order,
    )


def test_extract_record_reproduces_the_committed_figure(folder: Path) -> None:
    goals.record_extract(_raw("extract.json"), RESULTS / "extract.json")
    written, committed = _written(folder, "extract-speed"), _committed("extract-speed")
    assert written["status"] == committed["status"] == "met"
    assert written["figure"] == committed["figure"]
    assert written["table"] == committed["table"]
    assert written["sources"] == ["bench/results/extract.json"]


def test_finetune_records_merge_two_runs_into_the_committed_table(folder: Path) -> None:
    goals.record_finetune(_raw("finetune.json"), RESULTS / "finetune.json")
    assert _written(folder, "finetune-cached-prefix")["status"] == "partly met"  # sst2 is 1.6x
    goals.record_finetune(_raw("finetune-224.json"), RESULTS / "finetune-224.json")
    written = _written(folder, "finetune-cached-prefix")
    assert written["table"] == _committed("finetune-cached-prefix")["table"]
    assert "Rows kept from the previous record" in written["notes"][0]
    assert written["figure"].startswith("2 of 3 cases at ≥ 5x")


def test_probe_and_tasks_records_reproduce_the_committed_rows(folder: Path) -> None:
    goals.record_probe(_raw("probe.json"), RESULTS / "probe.json")
    goals.record_tasks(_raw("tasks.json"), RESULTS / "tasks.json")
    probe_rows = _written(folder, "probe-vs-baseline")["table"]["rows"]
    assert probe_rows and all(row in _committed("probe-vs-baseline")["table"]["rows"] for row in probe_rows)
    assert _written(folder, "tasks")["table"] == _committed("tasks")["table"]


def test_serve_status_needs_most_runs_of_one_variant_under_100_ms(folder: Path) -> None:
    for name in ("serve-quiet/fp32.json", "serve-quiet/int8.json"):
        goals.record_serve(_raw(name), RESULTS / name)
    assert _written(folder, "serve-latency")["status"] == "partly met"  # ≥ 200 req/s, p99 over 100 ms
    goals.record_serve(_raw("serve-quiet/int8-batch64.json"), RESULTS / "serve-quiet/int8-batch64.json")
    assert _written(folder, "serve-latency")["status"] == "partly met"  # 1 of 2 runs: not most
    goals.record_serve(_raw("serve-quiet/int8-batch64-run2.json"), RESULTS / "serve-quiet/int8-batch64-run2.json")
    written = _written(folder, "serve-latency")
    assert written["status"] == "met" and "3 of 3 runs" in written["figure"]
    committed_rows = {row[0]: row for row in _committed("serve-latency")["table"]["rows"]}
    assert [row[0] for row in written["table"]["rows"]] == list(committed_rows)
    assert written["table"]["rows"][0] == committed_rows["fp32, --max-batch 32"]


def test_serve_with_a_test_backbone_is_not_recorded(folder: Path) -> None:
    payload = _raw("serve-quiet/fp32.json")
    payload["text"]["model"] = "test-text + linear"
    assert goals.record_serve(payload, RESULTS / "serve-quiet/fp32.json") is None
    assert not list(folder.iterdir())


def test_expand_status_reads_the_committed_table(folder: Path) -> None:
    (folder / "expand.json").write_text((LATEST / "expand.json").read_text())
    goals.record_expand(_raw("expand-linear-flowers.json"), RESULTS / "expand-linear-flowers.json")
    written = _written(folder, "expand")
    assert [row[0] for row in written["table"]["rows"]] == [row[0] for row in _committed("expand")["table"]["rows"]]
    assert written["status"] == _committed("expand")["status"] == "partly met"
    assert written["figure"] == "2 of 4 (strategy, data) rows meet all three: partial:2, banking77; linear, banking77"


def test_int8_and_tracking_records_reproduce_the_committed_figures(folder: Path) -> None:
    goals.record_int8_fidelity(_raw("precision.json"), RESULTS / "precision.json")
    goals.record_tracking(_raw("tracking.json"), RESULTS / "tracking.json")
    assert _written(folder, "int8-fidelity")["figure"] == _committed("int8-fidelity")["figure"]
    assert _written(folder, "tracking-overhead")["status"] == _committed("tracking-overhead")["status"] == "met"


def test_hf_int8_and_text_prior_records_reproduce_the_committed_figures(folder: Path) -> None:
    goals.record_hf_int8(_raw("hf-int8.json"), RESULTS / "hf-int8.json")
    goals.record_text_prior(_raw("text-prior.json"), RESULTS / "text-prior.json")
    for goal in ("hf-int8", "text-prior"):
        written, committed = _written(folder, goal), _committed(goal)
        assert (written["status"], written["figure"], written["table"]) == (
            committed["status"], committed["figure"], committed["table"],
        )  # fmt: skip
    faster = _raw("hf-int8.json") | {"int8_vs_eager": 2.9}
    goals.record_hf_int8(faster, RESULTS / "hf-int8.json")
    assert _written(folder, "hf-int8")["status"] in ("partly met", "not met")


def test_tracking_over_ten_percent_is_not_met(folder: Path) -> None:
    payload = _raw("tracking.json") | {"overhead_seconds_median": 0.5, "untracked_fit_seconds_median": 2.0}
    goals.record_tracking(payload, RESULTS / "tracking.json")
    assert _written(folder, "tracking-overhead")["status"] == "not met"


def test_auto_pooled_records_reproduce_the_committed_table(folder: Path) -> None:
    auto = bench_module("auto")
    main = [RESULTS / f"auto-v3{suffix}.jsonl" for suffix in ("", "-seed1", "-seed2")]
    mnist = [RESULTS / f"auto-v3-mnist-seed{seed}.jsonl" for seed in range(3)]
    assert auto.main(["--pooled", *map(str, main)]) == 0
    first = _written(folder, "auto-vs-fixed")
    assert first["status"] == "partly met" and first["figure"].startswith("best or tied in 15 of 24")
    assert first["commit"] == "a5b33dc" and first["date"] == "2026-11-25"
    assert auto.main(["--pooled", *map(str, mnist)]) == 0
    written, committed = _written(folder, "auto-vs-fixed"), _committed("auto-vs-fixed")
    assert written["table"] == committed["table"] and written["status"] == committed["status"]


def test_strategies_summary_records_its_setfit_cells_and_keeps_the_others(folder: Path, tmp_path: Path) -> None:
    strategies = bench_module("strategies")
    (folder / "setfit-parity.json").write_text((LATEST / "setfit-parity.json").read_text())
    results = tmp_path / "runs" / "strategies-v4-banking77.jsonl"
    results.parent.mkdir()
    for suffix in (".jsonl", ".machine.json"):
        results.with_suffix(suffix).write_text((RESULTS / f"strategies-v4-banking77{suffix}").read_text())
    assert strategies.main(["--summary", "--results", str(results)]) == 0
    written, committed = _written(folder, "setfit-parity"), _committed("setfit-parity")
    rows = {row[0]: row for row in written["table"]["rows"]}
    assert rows["banking77, 64"] == [
        "banking77, 64",
        "linear 0.929 (1 seed)",
        "0.881 (1 seed)",
        "13.2 vs 419.8 CPU s",
        "yes",
    ]
    assert [row[0] for row in written["table"]["rows"]] == [row[0] for row in committed["table"]["rows"]]
    assert written["status"] == committed["status"] == "partly met"
    assert written["figure"] == "met in 5 of 6 cells; not met: sst2, 64"
    assert "744efcc" in written["commit"] and "Rows kept from the previous record" in written["notes"][0]


def test_serve_distinct_keeps_a_row_per_precision_and_run_and_names_the_isa(folder: Path) -> None:
    goals.record_serve_distinct(_raw("serve-distinct-int8.json"), RESULTS / "serve-distinct-int8.json")  # int8 alone
    first = _written(folder, "serve-distinct")
    assert [row[:2] for row in first["table"]["rows"]] == [["int8", "0"], ["int8", "1"]]
    assert first["status"] == "not met" and first["figure"].startswith("int8 81% of")  # 73 % and 81 %
    goals.record_serve_distinct(_raw("serve-distinct.json"), RESULTS / "serve-distinct.json")  # both, 3 runs each
    written = _written(folder, "serve-distinct")
    assert [row[:2] for row in written["table"]["rows"]] == [[p, str(r)] for p in ("fp32", "int8") for r in range(3)]
    ratios = {
        p: sorted(_first_number(row[4]) for row in written["table"]["rows"] if row[0] == p) for p in ("fp32", "int8")
    }
    met = all(r[1] >= 85 for r in ratios.values())
    assert written["status"] == ("met" if met else "not met")
    assert "AVX-512 VNNI" in written["figure"] and written["sources"] == ["bench/results/serve-distinct.json"]


def _first_number(cell: str) -> float:
    return float(cell.rstrip("%"))


def test_the_isa_is_named_as_it_decides_int8_speed() -> None:
    assert goals.isa_words(["avx2", "avx512f", "avx512_vnni"]) == "AVX-512 VNNI"
    assert goals.isa_words(["avx2", "fma", "avx_vnni"]) == "AVX-VNNI"
    assert goals.isa_words(["sse4_2", "avx", "avx2", "fma"]) == "AVX2 only"


def test_readme_serving_figures_are_the_committed_record_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (BENCH.parent / "README.md").read_text()
    block = readme.split(goals.README_START, 1)[1].split(goals.README_END, 1)[0]
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace(block, "\nstale figures\n"))
    monkeypatch.delenv(common.LATEST_ENV, raising=False)
    assert goals.write_readme_serving(copy, LATEST)
    assert copy.read_text() == readme  # what bench/serve.py --wrk writes from bench/results/latest
    assert "requests/s" in block and goals.isa_words(_committed("serve-distinct")["machine"]["cpu_flags"]) in block


def test_documents_record_reproduces_the_committed_table_and_judges_both_settings(folder: Path) -> None:
    raw = _raw("documents.json")
    goals.record_documents(raw, RESULTS / "documents.json")
    written, committed = _written(folder, "documents"), _committed("documents")
    assert written["table"]["columns"] == committed["table"]["columns"] and written["figure"] == committed["figure"]
    # every row of this run is in the committed table as written; it also keeps partial:2 rows of their own runs
    assert all(row in committed["table"]["rows"] for row in written["table"]["rows"])
    assert written["status"] == committed["status"]
    best = {
        setting: max(r["f1_mean"] for r in result["runs"] if r["train_size"] == "all")
        for setting, result in raw["settings"].items()
    }
    met = [best["given"] > 0.902, best["ocr"] >= 0.80]
    assert written["status"] == ("met" if all(met) else "partly met" if any(met) else "not met")
