"""`api.predict_batch`: what the HTTP service's micro-batches run on a loaded bundle, one forward pass per batch."""

from __future__ import annotations

import json
from pathlib import Path

from headstart import api
from headstart.tasks import Answer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bundles"
TEXTS: list[str] = json.loads((FIXTURES / "inputs" / "texts.json").read_text())


def test_a_batch_answers_like_predict_with_each_items_own_top_k() -> None:
    bundle = FIXTURES / "text-classification-linear"
    predictor = api.load(bundle)
    answers = api.predict_batch(predictor, TEXTS, top_k=[1, 2, 1, 2])
    expected = api.predict(bundle, TEXTS, top_k=2, progress=False).predictions
    assert all(isinstance(a, Answer) for a in answers)
    assert [a.label for a in answers if isinstance(a, Answer)] == [p.label for p in expected]
    assert [len(a.top) for a in answers if isinstance(a, Answer)] == [1, 2, 1, 2]
    assert [a.top for a in answers if isinstance(a, Answer)][1] == expected[1].top


def test_an_unusable_item_gets_its_reason_and_the_others_their_answers(tmp_path: Path) -> None:
    predictor = api.load(FIXTURES / "image-classification-linear")
    good, bad = str(FIXTURES / "inputs" / "images" / "red.png"), tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    answers = api.predict_batch(predictor, [good, str(bad), good], top_k=3)
    assert isinstance(answers[0], Answer) and answers[0] == answers[2]
    assert isinstance(answers[1], str) and answers[1]
