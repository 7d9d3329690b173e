"""A real uvicorn server under concurrent valid and bad requests: a bad text only ever affects its own answer."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.serve.server import running_server

VALID = {"the team won the match": "sport", "fresh bread from the bakery": "food"}
POISON = ["\\ud800 abc", "abc \\udcff def", "\\udfff", "x\\ud83d"]  # JSON escapes decoding to lone surrogates
N_VALID, N_BAD, N_SKIP, THREADS = 120, 30, 30, 8


def _requests() -> list[tuple[str, str, bytes]]:
    """(kind, query, body) for valid, bad and bad-but-skipped requests, interleaved in a fixed order."""
    texts = list(VALID)
    valid = [("valid", "", json.dumps({"inputs": [texts[i % 2]]}).encode()) for i in range(N_VALID)]
    bad = [("bad", "", f'{{"inputs": ["{POISON[i % len(POISON)]}"]}}'.encode()) for i in range(N_BAD)]
    skip = [
        ("skip", "?on_bad=skip", f'{{"inputs": ["{POISON[i % len(POISON)]}", "{texts[i % 2]}"]}}'.encode())
        for i in range(N_SKIP)
    ]
    requests = valid + bad + skip
    random.Random(0).shuffle(requests)
    return requests


def test_poisoned_requests_do_not_fail_valid_ones(text_bundle: Path) -> None:
    requests = _requests()
    with running_server(text_bundle, "--max-wait-ms", "20") as url:
        with httpx.Client(base_url=url, timeout=60) as client:

            def send(request: tuple[str, str, bytes]) -> tuple[str, bytes, httpx.Response]:
                kind, query, body = request
                headers = {"content-type": "application/json"}
                return kind, body, client.post(f"/v1/predict{query}", content=body, headers=headers)

            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                answers = list(pool.map(send, requests))
            health = client.get("/v1/health").json()

    failed_valid = [r.status_code for kind, _, r in answers if kind == "valid" and r.status_code != 200]
    assert failed_valid == []
    for kind, body, response in answers:
        text = json.loads(body)["inputs"][-1]
        if kind == "valid":
            assert response.json()["predictions"][0]["label"] == VALID[text]
        elif kind == "bad":
            assert response.status_code == 422, response.text
            assert "inputs[0]" in response.json()["message"] and "Unicode" in response.json()["message"]
        else:
            assert response.status_code == 200, response.text
            answer = response.json()
            assert [p["label"] for p in answer["predictions"]] == [VALID[text]]
            assert [s["id"] for s in answer["skipped"]] == ["inputs[0]"]
    assert health["requests"] == N_VALID + N_SKIP  # every valid text was predicted
    assert health["batches"] < health["requests"]  # and the requests shared forward passes
