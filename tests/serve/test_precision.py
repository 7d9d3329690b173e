"""Serving speed paths keep answers right: batched requests of mixed lengths, and the opt-in int8 precision."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import headstart
from headstart import runtime
from headstart.cli.main import app as cli_app
from headstart.errors import BundleError, UsageError
from headstart.runtime import INT8_PARITY_ATOL
from headstart.server import create_app, process
from tests.conftest import make_text_csv

TEXTS = [
    "the team won",
    "we cooked pasta with garlic, tomato sauce, olive oil, basil and a lot of parmesan for the whole family",
    "fans sang",
    "a sweet cake with cream and strawberries",
    "the coach was angry after the draw in the rain, and the players left the pitch without a word to the fans",
    "soup",
    "the striker scored twice before half time",
    "fresh bread",
    "the referee showed a red card in the last minute of a very long and bad tempered derby match",
    "pizza",
    "goal",
    "we baked cookies for the neighbours",
]


def test_concurrent_requests_of_mixed_lengths_match_the_predictor(text_bundle: Path) -> None:
    """Requests batched together (and run as length buckets) answer as the bundle does for each text alone."""
    predictor = headstart.load(text_bundle)
    labels = predictor.labels
    want = {t: predictor.predict_proba([t])[0] for t in TEXTS}
    service_app = create_app(text_bundle, max_wait_ms=50, top_k=len(labels))

    async def send_all() -> list[Any]:
        transport = httpx.ASGITransport(app=service_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/v1/predict", json={"inputs": [t]}) for t in TEXTS * 2))

    responses = asyncio.run(send_all())
    assert service_app.state.service.batcher.stats.largest > 8  # the requests did share forward passes
    for text, response in zip(TEXTS * 2, responses, strict=True):
        assert response.status_code == 200, response.text
        got = {t["label"]: t["probability"] for t in response.json()["predictions"][0]["top"]}
        np.testing.assert_allclose([got[lab] for lab in labels], want[text], atol=1e-5)


def test_int8_service_is_close_to_fp32_and_says_so(text_bundle: Path) -> None:
    predictor = headstart.load(text_bundle)
    want = predictor.predict_proba(TEXTS)
    with TestClient(create_app(text_bundle, precision="int8", max_inputs=len(TEXTS))) as client:
        body = client.post("/v1/predict", json={"inputs": TEXTS, "top_k": len(predictor.labels)}).json()
        card = client.get("/v1/model").json()
    assert body["model"].endswith("(int8)")
    assert card["limits"]["precision"] == "int8"
    got = np.array(
        [
            [{t["label"]: t["probability"] for t in p["top"]}[lab] for lab in predictor.labels]
            for p in body["predictions"]
        ]
    )
    assert np.max(np.abs(got - want)) <= INT8_PARITY_ATOL
    assert (got.argmax(axis=1) == want.argmax(axis=1)).mean() >= 0.9


def test_int8_that_disagrees_on_this_cpu_serves_fp32_and_says_so(
    text_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "INT8_PARITY_ATOL", 0.0)  # any int8 rounding now counts as poor agreement
    want = headstart.load(text_bundle).predict_proba(TEXTS[:2])
    with pytest.warns(UserWarning, match="int8 disagrees"):
        with TestClient(create_app(text_bundle, precision="int8")) as client:
            body = client.post("/v1/predict", json={"inputs": TEXTS[:2], "top_k": 2}).json()
            card = client.get("/v1/model").json()
    assert body["model"] == "test-text + linear"  # no "(int8)": fp32 answers
    assert card["limits"]["precision"] == "fp32" and "int8 disagrees" in card["limits"]["precision_note"]
    got = [
        [{t["label"]: t["probability"] for t in p["top"]}[lab] for lab in ("food", "sport")]
        for p in body["predictions"]
    ]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_precision_is_validated_and_refused_without_a_backbone(text_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="precision"):
        create_app(text_bundle, precision="fp16")
    table = make_text_csv(tmp_path / "texts.csv")
    headstart.fit(str(table), strategy="baseline", out=str(tmp_path / "baseline"), progress=False)
    with pytest.raises(BundleError, match="precision"):
        create_app(tmp_path / "baseline", precision="int8")
    create_app(tmp_path / "baseline", precision="fp32")  # the default is fine for every bundle


def test_cli_precision_reaches_the_http_face(monkeypatch: pytest.MonkeyPatch, text_bundle: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(process, "serve", lambda bundle, **kw: calls.append(kw))
    result = CliRunner().invoke(cli_app, ["serve", str(text_bundle), "--precision", "int8"])
    assert result.exit_code == 0, result.output
    assert calls[0]["precision"] == "int8"
