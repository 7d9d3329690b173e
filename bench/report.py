"""Render BENCHMARKS.md from bench/results/latest/*.json: one section per goal, open goals first.

    .venv/bin/python bench/report.py            # rewrite BENCHMARKS.md
    .venv/bin/python bench/report.py --check    # exit 1 when BENCHMARKS.md differs from what it would render

Adding a goal = dropping a JSON file into bench/results/latest/ and rerunning this script (a bench script does
it through `bench.common.write_result`). One file per goal, named `<goal>.json`:

    schema   1
    goal     the file's stem, e.g. "serve-latency"
    title    the section heading ("Serving: text at 50 concurrent")
    target   what the goal asks, in words ("at least 200 req/s with p99 under 100 ms")
    status   "met", "partly met", "not met" or "reference" (a figure the docs rely on, with no goal to meet)
    figure   the current figure, one sentence with its numbers
    command  list of shell lines that regenerate it
    commit   the commit measured ("+ uncommitted changes" when the tree was dirty)
    machine  {"cpu": model, "cpu_flags": [...] or "not recorded", "cores": n, "ram_gib": x, "gpu": null, ...}
    load     1-minute load average: [1, 5, 15] as measured, or a string ("3-5 during the run")
    date     when it was measured (ISO date or timestamp)
  optional:
    issue    the issue number the goal comes from
    order    sort key of the section (default 1000; ties sorted by goal)
    table    {"columns": [...], "rows": [[...], ...]}: the figures behind `figure`
    notes    list of short sentences: caveats and the decision the figure led to
    sources  list of files (or BENCHMARKS.md history) each number was taken from

Older sweeps are summarised in bench/archive/, not here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LATEST = REPO_ROOT / "bench" / "results" / "latest"
OUTPUT = REPO_ROOT / "BENCHMARKS.md"
STATUSES = ("not met", "partly met", "met", "reference")
STATUS_NAMES = {"not met": "Not met", "partly met": "Partly met", "met": "Met", "reference": "Reference (no goal)"}
REQUIRED = ("goal", "title", "target", "status", "figure", "command", "commit", "machine", "load", "date")


class ResultError(ValueError):
    """A result file that does not follow the schema above (names the file and the field)."""


@dataclass(frozen=True)
class Result:
    """One goal's current figure, as read from bench/results/latest/<goal>.json."""

    goal: str
    title: str
    target: str
    status: str
    figure: str
    command: list[str]
    commit: str
    machine: dict[str, Any]
    load: str
    date: str
    issue: int | None = None
    order: int = 1000
    table: dict[str, list[Any]] | None = None
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """The GitHub-style anchor of this goal's section heading."""
        slug = re.sub(r"[^\w\- ]", "", self.title.lower()).strip()
        return "#" + slug.replace(" ", "-")


def _load_text(load: Any) -> str:
    if isinstance(load, list):
        return " / ".join(f"{x:g}" for x in load) + " (1 / 5 / 15 min)"
    return str(load)


def parse_result(path: Path, data: dict[str, Any]) -> Result:
    """Check one file's fields against the schema and return it as a Result."""
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ResultError(f"{path}: missing field(s) {', '.join(missing)}; expected all of {', '.join(REQUIRED)}")
    if data["goal"] != path.stem:
        raise ResultError(f"{path}: goal {data['goal']!r} differs from the file name; name the file <goal>.json")
    if data["status"] not in STATUSES:
        raise ResultError(f"{path}: status {data['status']!r}; expected one of {', '.join(STATUSES)}")
    table = data.get("table")
    if table is not None:
        width = len(table["columns"])
        bad = [i for i, row in enumerate(table["rows"]) if len(row) != width]
        if bad:
            raise ResultError(f"{path}: table rows {bad} do not have {width} cells like the columns")
    command = data["command"]
    return Result(
        goal=data["goal"],
        title=data["title"],
        target=data["target"],
        status=data["status"],
        figure=data["figure"],
        command=[command] if isinstance(command, str) else list(command),
        commit=str(data["commit"]),
        machine=dict(data["machine"]),
        load=_load_text(data["load"]),
        date=str(data["date"]),
        issue=data.get("issue"),
        order=int(data.get("order") or 1000),
        table=table,
        notes=list(data.get("notes") or []),
        sources=list(data.get("sources") or []),
    )


def load_results(folder: Path) -> list[Result]:
    """Every result in `folder`, in section order."""
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc})") from exc
        results.append(parse_result(path, data))
    return sorted(results, key=lambda r: (r.order, r.goal))


def machine_text(machine: dict[str, Any]) -> str:
    """One line: CPU model, ISA flags, cores, RAM, GPU."""
    parts = [str(machine.get("cpu", "CPU not recorded"))]
    flags = machine.get("cpu_flags", "not recorded")
    parts.append("CPU flags " + (", ".join(flags) if isinstance(flags, list) and flags else "not recorded"))
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores")
    if machine.get("ram_gib"):
        parts.append(f"{machine['ram_gib']} GiB RAM")
    parts.append("no GPU" if not machine.get("gpu") else f"GPU {machine['gpu']}")
    return ", ".join(parts)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: dict[str, list[Any]]) -> list[str]:
    """A Markdown table from {"columns", "rows"}."""
    lines = ["| " + " | ".join(_cell(c) for c in table["columns"]) + " |", "|" + "---|" * len(table["columns"])]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table["rows"]]
    return lines


MAX_LINES = 250  # the length BENCHMARKS.md keeps to (issue #18): sections show fewer table rows as goals are added
MAX_ROWS = 3  # a section shows the first rows of its table and its first commands; the result file holds them all
MAX_COMMANDS = 2


@dataclass(frozen=True)
class Shown:
    """How much of its result file each section shows."""

    rows: int = MAX_ROWS
    commands: int = MAX_COMMANDS


SHRINKING = (  # what every section shows, from the most to the least, until the file fits
    *(Shown(rows=rows) for rows in range(MAX_ROWS, 0, -1)),
    Shown(rows=1, commands=1),
)
NO_TABLE = Shown(rows=0, commands=1)  # then sections lose their table, references first and goals not met last


def section(result: Result, shown: Shown = Shown()) -> list[str]:
    """One goal's section: goal, status and figure, its table, the command, notes, where it was measured."""
    issue = f" (issue #{result.issue})" if result.issue else ""
    lines = [
        f"## {result.title}",
        f"**Goal**{issue}: {result.target}\\",
        f"**{result.status.capitalize()}**: {result.figure}",
        "",
    ]
    if result.table and shown.rows:
        rows = result.table["rows"]
        lines += table_markdown({"columns": result.table["columns"], "rows": rows[: shown.rows]}) + [""]
    lines += [f"    {command}" for command in result.command[: shown.commands]]  # an unindented list line ends it
    sources = ""
    if result.sources:
        sources = "; sources: " + ", ".join(f"`{s}`" if s.startswith("bench/") else s for s in result.sources)
    commit = f"`{result.commit}`" if re.fullmatch(r"[0-9a-f]{7,40}", result.commit) else result.commit
    measured = f"Measured {result.date} at {commit} on {machine_text(result.machine)}; load {result.load}{sources}."
    # one item: a reference, not a notebook (history lives in bench/archive/)
    lines += ["- " + " ".join([*_left_out(result, shown), *result.notes, measured]), ""]
    return lines


def _left_out(result: Result, shown: Shown) -> list[str]:
    """`The table shows 3 of 9 rows and 2 of 5 commands: <file>.` when a section shows part of its result file."""
    rows = len(result.table["rows"]) if result.table else 0
    if rows and not shown.rows:
        commands = f" and {len(result.command)} commands" if len(result.command) > shown.commands else ""
        plural = "" if rows == 1 else "s"
        return [f"Its table ({rows} row{plural}){commands}: `bench/results/latest/{result.goal}.json`."]
    parts = [f"{shown.rows} of {rows} rows"] if rows > shown.rows else []
    if len(result.command) > shown.commands:
        parts.append(f"{shown.commands} of {len(result.command)} commands")
    if not parts:
        return []
    shows = "The table shows" if rows > shown.rows else "It shows"
    return [f"{shows} {' and '.join(parts)}: `bench/results/latest/{result.goal}.json`."]


def render(results: list[Result], max_lines: int = MAX_LINES) -> str:
    """The whole of BENCHMARKS.md: each section shows the first 3 rows of its table and 2 commands, or less (down
    to 1 row and 1 command; then sections drop their table, whose rows stay in the result file, references first and
    goals not met last) when that keeps it within `max_lines`."""
    for shown in SHRINKING:
        text = _render(results, [shown] * len(results))
        if text.count("\n") <= max_lines:
            return text
    shown_each = [SHRINKING[-1]] * len(results)
    by_priority = sorted(range(len(results)), key=lambda i: -STATUSES.index(results[i].status))
    for index in by_priority:
        shown_each[index] = NO_TABLE
        text = _render(results, shown_each)
        if text.count("\n") <= max_lines:
            break
    return text


def _render(results: list[Result], shown_each: list[Shown]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Every goal's current figure and the command that regenerates it, from `bench/results/latest/*.json` by",
        "`bench/report.py` (edit those, not this file; older sweeps: `bench/archive/`). Read each next to its load.",
        "",
        "## Goals by status",
        "",
    ]
    for status in STATUSES:
        named = [f"[{r.title}]({r.anchor})" for r in results if r.status == status]
        if named:
            lines.append(f"- {STATUS_NAMES[status]}: " + ", ".join(named))
    lines.append("")
    for result, shown in zip(results, shown_each, strict=True):
        lines += section(result, shown)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or check) BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=LATEST, help="folder of <goal>.json files")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="the Markdown file to write")
    parser.add_argument("--check", action="store_true", help="exit 1 when --out differs from the rendering")
    args = parser.parse_args(argv)
    try:
        text = render(load_results(args.results))
    except ResultError as exc:
        print(f"bench/report.py: {exc}", file=sys.stderr)
        return 3
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run .venv/bin/python bench/report.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out} ({text.count(chr(10))} lines, {len(load_results(args.results))} goals)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
