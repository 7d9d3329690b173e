"""bench/report.py renders BENCHMARKS.md from goal results; the committed file cannot drift from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.bench._load import BENCH, bench_module

report = bench_module("report")
REPO = BENCH.parent


def _result(goal: str, status: str, **extra: Any) -> dict[str, Any]:
    base = {
        "schema": 1,
        "goal": goal,
        "title": f"Title of {goal}",
        "target": f"target of {goal}",
        "status": status,
        "figure": f"figure of {goal}",
        "command": [f".venv/bin/python bench/{goal}.py --fast"],
        "commit": "abc1234",
        "machine": {"cpu": "Test CPU", "cpu_flags": ["avx2", "avx512_vnni"], "cores": 2},
        "load": [1.5, 1.2, 1.0],
        "date": "2026-12-07",
    }
    return base | extra


def _write(folder: Path, *results: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        (folder / f"{result['goal']}.json").write_text(json.dumps(result))
    return folder


def test_renders_one_section_per_goal_in_order_with_open_goals_first(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "latest",
        _result("speed", "met", order=2, table={"columns": ["a", "b"], "rows": [["1 | 2", "3"]]}),
        _result("accuracy", "not met", order=1, notes=["a caveat"], issue=3),
        _result(
            "memory",
            "reference",
            order=3,
            machine={"cpu": "Old CPU", "cpu_flags": "not recorded"},
            load="3-5 during the run",
            commit="abc1234 + uncommitted changes",
        ),
    )
    text = report.render(report.load_results(folder))

    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Goals by status", "## Title of accuracy", "## Title of speed", "## Title of memory"]
    index = text.split("## Goals by status")[1].split("## Title of accuracy")[0]
    assert "- Not met: [Title of accuracy](#title-of-accuracy)\n" in index
    assert "- Met: [Title of speed](#title-of-speed)\n" in index
    assert "- Reference (no goal): [Title of memory](#title-of-memory)\n" in index
    assert "Partly met" not in index
    assert "**Goal** (issue #3): target of accuracy" in text
    assert "**Not met**: figure of accuracy" in text
    assert "- a caveat" in text
    assert "    .venv/bin/python bench/speed.py --fast" in text
    assert "| 1 \\| 2 | 3 |" in text
    assert "Test CPU, CPU flags avx2, avx512_vnni, 2 cores" in text
    assert "at `abc1234` on" in text and "load 1.5 / 1.2 / 1 (1 / 5 / 15 min)" in text
    assert "Old CPU, CPU flags not recorded" in text and "load 3-5 during the run" in text
    assert "at abc1234 + uncommitted changes on" in text


def test_a_section_shows_its_first_rows_and_commands_and_names_the_file_with_the_rest(tmp_path: Path) -> None:
    table = {"columns": ["n"], "rows": [[f"row {n}"] for n in range(1, 6)]}
    commands = [f"bench/run.py --part {n}" for n in range(1, 4)]
    text = report.render(report.load_results(_write(tmp_path, _result("speed", "met", table=table, command=commands))))
    assert "| row 3 |" in text and "| row 4 |" not in text
    assert "    bench/run.py --part 2" in text and "--part 3" not in text
    assert "- The table shows 3 of 5 rows and 2 of 3 commands: `bench/results/latest/speed.json`." in text
    short = report.render(report.load_results(_write(tmp_path / "one", _result("speed", "met", command=commands))))
    assert "- It shows 2 of 3 commands: `bench/results/latest/speed.json`." in short


def test_sections_show_fewer_rows_when_that_keeps_the_file_within_its_line_budget(tmp_path: Path) -> None:
    table = {"columns": ["n"], "rows": [[f"row {n}"] for n in range(1, 6)]}
    folder = _write(tmp_path, *(_result(goal, "met", table=table) for goal in ("a", "b", "c")))
    full = report.render(report.load_results(folder))
    assert "| row 3 |" in full
    budget = full.count("\n") - 3  # one row less in each of the three sections fits exactly
    tight = report.render(report.load_results(folder), max_lines=budget)
    assert tight.count("\n") <= budget and "| row 2 |" in tight and "| row 3 |" not in tight
    assert "The table shows 2 of 5 rows" in tight


def test_past_one_row_a_section_drops_its_table_references_first_and_goals_not_met_last(tmp_path: Path) -> None:
    table = {"columns": ["n"], "rows": [[f"row of {n}"] for n in ("open", "done", "ref")]}
    rows = {"open": [["row of open"]], "done": [["row of done"]], "ref": [["row of ref"]]}
    results = [
        _result(goal, status, table=table | {"rows": rows[goal]})
        for goal, status in (("open", "not met"), ("done", "met"), ("ref", "reference"))
    ]
    folder = _write(tmp_path, *results)
    one_row = report.render(report.load_results(folder))
    assert all(f"| row of {goal} |" in one_row for goal in rows)
    budget = one_row.count("\n") - 3  # one table (header, rule, row) too many
    tight = report.render(report.load_results(folder), max_lines=budget)
    assert tight.count("\n") <= budget
    assert "| row of ref |" not in tight and "| row of done |" in tight and "| row of open |" in tight
    assert "Its table (1 row): `bench/results/latest/ref.json`" in tight


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "almost"}, "status 'almost'"),
        ({"goal": "other"}, "differs from the file name"),
        ({"table": {"columns": ["a", "b"], "rows": [["1"]]}}, "table rows [0]"),
    ],
)
def test_a_result_off_the_schema_is_refused_with_its_file(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    result = _result("speed", "met") | change
    (tmp_path / "speed.json").write_text(json.dumps(result))
    with pytest.raises(report.ResultError, match="speed.json") as err:
        report.load_results(tmp_path)
    assert message in str(err.value)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    result = _result("speed", "met")
    del result["load"]
    (tmp_path / "speed.json").write_text(json.dumps(result))
    with pytest.raises(report.ResultError, match="missing field"):
        report.load_results(tmp_path)


def test_check_mode_reports_drift_and_write_mode_fixes_it(tmp_path: Path) -> None:
    folder = _write(tmp_path / "latest", _result("speed", "met"))
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# stale\n")
    assert report.main(["--results", str(folder), "--out", str(out), "--check"]) == 1
    assert report.main(["--results", str(folder), "--out", str(out)]) == 0
    assert report.main(["--results", str(folder), "--out", str(out), "--check"]) == 0
    assert out.read_text().startswith("# Benchmarks\n")


def test_committed_benchmarks_md_is_what_the_committed_results_render() -> None:
    rendered = report.render(report.load_results(REPO / "bench" / "results" / "latest"))
    assert (REPO / "BENCHMARKS.md").read_text() == rendered, (
        "BENCHMARKS.md differs from bench/results/latest/*.json: run .venv/bin/python bench/report.py"
    )


def test_every_committed_source_file_exists() -> None:
    for result in report.load_results(REPO / "bench" / "results" / "latest"):
        for source in result.sources:
            if source.startswith("bench/") and "*" not in source:
                assert (REPO / source).exists(), f"{result.goal}: source {source} is not in the repository"


def test_each_section_renders_as_markdown_blocks(tmp_path: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    folder = _write(
        tmp_path,
        _result("speed", "met", table={"columns": ["a"], "rows": [["1"]]}, notes=["n"]),
        _result("size", "not met"),
    )
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(report.render(report.load_results(folder)))
    assert html.count("<h2>") == 3  # goals by status + two sections
    assert html.count("<pre><code>") == 2  # each goal's commands stay a code block, notes do not join them
    assert html.count("<table>") == 1  # speed's
    assert '<li>Not met: <a href="#title-of-size">Title of size</a></li>' in html
    assert "<li>n Measured " in html and html.count("<br />") == 2
