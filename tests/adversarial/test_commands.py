"""Every command against malformed inputs, bad options, unusable outputs and corrupt bundles (issue 19's proof).

For each case, plain and with --json: the documented exit code (never 1, a bug), no traceback, exactly one JSON
document on stdout with --json (an error document when it fails), an error message on stderr when it fails,
and nothing half-written: a failed command leaves its output path and every input it was given as they were.
"""

from __future__ import annotations

import json
from collections import ChainMap
from pathlib import Path

import pytest

from tests.adversarial.cases import ALL_CASES, Case
from tests.adversarial.conftest import Outcome, invoke
from tests.adversarial.inputs import World

ERROR_NAMES = {2: ("UsageError", "StrategyError", "EngineError"), 3: ("DataError",), 4: ("BackboneError",),
               5: ("BundleError",)}  # fmt: skip


def _params() -> list[object]:
    params = []
    for case in ALL_CASES:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def _state(path: Path) -> object:
    """What a path holds, to compare before and after: file sizes and contents' hashes, folder trees."""
    if path.is_symlink() and not path.exists():
        return "dangling"
    if not path.exists():
        return None
    if path.is_file():
        return (path.stat().st_size, hash(path.read_bytes()))
    return sorted((str(p.relative_to(path)), p.stat().st_size if p.is_file() else -1) for p in path.rglob("*"))


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A serve case that got as far as serving would block the suite: make it fail loudly instead."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server started: the case expected it to refuse")

    monkeypatch.setattr(uvicorn.Server, "run", started)
    monkeypatch.setattr(Multiprocess, "run", started)


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("case", _params())
def test_command(case: Case, as_json: bool, world: World, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("the user's file")
    fill: dict[str, str] = {"out": str(tmp_path / "out"), "out_file": str(existing)}
    if any("{readonly}" in a for a in case.args):
        fill["readonly"] = str(request.getfixturevalue("readonly_dir"))
    values = ChainMap(fill, world)
    args = [a.format_map(values) for a in case.args]
    given = [Path(a) for a in args if "/" in a and not a.startswith("-")]
    before = {p: _state(p) for p in given}
    outputs_before = _state(tmp_path)

    outcome = invoke([*args, "--json"] if as_json else args)

    _check(case, outcome, as_json)
    if outcome.code != 0:
        assert _state(tmp_path) == outputs_before, "a failed command wrote (or half-wrote) something"
    changed = [p for p in given if _state(p) != before[p] and not str(p).startswith(str(tmp_path))]
    assert not changed, f"inputs were modified: {changed}"


def _check(case: Case, outcome: Outcome, as_json: bool) -> None:
    shown = f"exit {outcome.code}\n--- stdout\n{outcome.stdout[-3000:]}\n--- stderr\n{outcome.stderr[-3000:]}"
    assert outcome.exception is None, f"{type(outcome.exception).__name__}: {outcome.exception}\n{shown}"
    assert "Traceback" not in outcome.stdout + outcome.stderr, shown
    assert outcome.code == case.code, shown
    if as_json:
        document = json.loads(outcome.stdout)  # exactly one document: trailing text would raise
        if case.code != 0:
            assert isinstance(document, dict) and document.get("error"), shown
            assert document["error"] != "InternalError", shown
            assert document["message"], shown
    elif case.code != 0:
        assert "error" in outcome.stderr.lower(), shown
