"""A text that is not valid Unicode (a lone surrogate) is one bad input: named by `Predictor.predict`, skipped with
its reason by `headstart.predict` and the CLI, and never fails the other texts predicted with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import headstart
from headstart.batches import text_problem
from headstart.bundle import BadInputError
from headstart.data.dataset import Dataset
from headstart.data.modalities import item_digests
from tests.conftest import make_text_csv

LONE_HIGH = "\ud800 abc"  # what {"inputs": ["\ud800 abc"]} decodes to
UNDECODABLE = "abc \udcff def"  # what the argument $'abc \xff def' becomes in sys.argv (surrogateescape)
GOOD = "the team won the match"


@pytest.fixture(scope="module", params=["linear", "baseline"])
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp(f"text-{request.param}")
    out = root / "model"
    headstart.fit(
        str(make_text_csv(root / "texts.csv")),
        backbone="test-text",
        strategy=request.param,
        out=str(out),
        progress=False,
    )
    return out


def test_text_problem_names_the_character() -> None:
    assert text_problem(GOOD) is None and text_problem("naïve café 🙂") is None
    assert "character 1" in text_problem(LONE_HIGH) and "U+D800" in text_problem(LONE_HIGH)
    assert "character 5" in text_problem(UNDECODABLE) and "U+DCFF" in text_problem(UNDECODABLE)


def test_digest_of_a_bad_text_does_not_fail_the_dataset() -> None:
    ds = Dataset(modality="text", items=(GOOD, LONE_HIGH), ids=("a", "b"))
    digests = item_digests(ds)
    assert len(set(digests)) == 2 and ds.fingerprint(digests)


@pytest.mark.parametrize("bad", [LONE_HIGH, UNDECODABLE])
def test_predictor_names_the_bad_input(bundle: Path, bad: str) -> None:
    model = headstart.load(bundle)
    with pytest.raises(BadInputError, match="input 2") as info:
        model.predict([GOOD, bad, GOOD])
    assert "not valid Unicode" in info.value.reason
    assert model.predict([GOOD]) == ["sport"]  # the model is unaffected


@pytest.mark.parametrize("bad", [LONE_HIGH, UNDECODABLE])
def test_api_predict_skips_only_the_bad_input(bundle: Path, bad: str) -> None:
    result = headstart.predict(bundle, [GOOD, bad, "fresh bread from the bakery"], progress=False)
    assert [p.id for p in result.predictions] == ["input 1", "input 3"]
    assert [p.label for p in result.predictions] == ["sport", "food"]
    assert [s.id for s in result.skipped] == ["input 2"]
    assert "lone surrogate" in result.skipped[0].reason


def test_cli_skips_undecodable_argument_bytes(bundle: Path) -> None:
    """The real process, so the argument reaches Python as bytes decoded with surrogateescape, as from a shell."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "headstart", "predict", str(bundle), GOOD, b"abc \xff def", "--json"]
    done = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    body = json.loads(done.stdout)
    assert [p["label"] for p in body["predictions"]] == ["sport"]
    assert body["skipped"][0]["id"] == "input 2" and "U+DCFF" in body["skipped"][0]["reason"]
    failed = subprocess.run([*argv, "--on-bad", "fail"], capture_output=True, env=env, timeout=120)
    assert failed.returncode == 3 and b"Traceback" not in failed.stderr
    assert json.loads(failed.stdout)["error"] == "BadItemError"
