"""Any body gets a 4xx with the error document, never a 500: hostile JSON, huge numbers, texts that are not Unicode."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.serve.test_app import assert_error

JSON = {"content-type": "application/json"}
HUGE = "1" * 5000  # over Python's 4300-digit limit for int(str)
BODIES = {
    "deeply nested array": b"[" * 100_000,
    "deeply nested object": b'{"a":' * 100_000,
    "deeply nested inputs": b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "nested inputs under the JSON limit": b'{"inputs": ' + b"[" * 500 + b'"a"' + b"]" * 500 + b"}",
    "top_k of 5000 digits": b'{"inputs": ["a"], "top_k": ' + HUGE.encode() + b"}",
    "top_k of 5000 negative digits": b'{"inputs": ["a"], "top_k": -' + HUGE.encode() + b"}",
    "top_k over float range": b'{"inputs": ["a"], "top_k": 1e400}',
    "top_k NaN": b'{"inputs": ["a"], "top_k": NaN}',
    "top_k a fraction": b'{"inputs": ["a"], "top_k": 1.5}',
    "top_k a string": b'{"inputs": ["a"], "top_k": "3"}',
    "top_k true": b'{"inputs": ["a"], "top_k": true}',
    "not UTF-8": b'{"inputs": ["\xff\xfe"]}',
    "a JSON list": b"[]",
    "a JSON string": b'"a text"',
    "null": b"null",
    "inputs null": b'{"inputs": null}',
    "inputs an object": b'{"inputs": {"a": 1}}',
    "a number among the texts": b'{"inputs": ["a", 1e999]}',
    "empty body": b"",
    "lone high surrogate": b'{"inputs": ["\\ud800 abc"]}',
    "lone low surrogate": b'{"inputs": ["abc \\udfff"]}',
    "reversed surrogate pair": b'{"inputs": ["\\udc00\\ud800"]}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_hostile_json_bodies_are_refused_with_a_4xx(text_client: TestClient, body: bytes) -> None:
    response = text_client.post("/v1/predict", content=body, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code)


def test_deep_nesting_says_so(text_client: TestClient) -> None:
    assert_error(text_client.post("/v1/predict", content=b"[" * 100_000, headers=JSON), 422, "nested too deeply")


@pytest.mark.parametrize("where", ["query", "form"])
def test_huge_top_k_outside_json_is_refused(text_client: TestClient, image_client: TestClient, where: str) -> None:
    if where == "query":
        response = text_client.post(f"/v1/predict?top_k={HUGE}", json={"inputs": ["a goal"]})
    else:
        response = image_client.post("/v1/predict", data={"top_k": HUGE}, files={"files": ("a.png", b"x", "image/png")})
    assert_error(response, 422, "top_k")


def test_a_long_but_convertible_top_k_is_capped(text_client: TestClient) -> None:
    body = b'{"inputs": ["a goal"], "top_k": ' + b"9" * 4000 + b"}"
    response = text_client.post("/v1/predict", content=body, headers=JSON)
    assert response.status_code == 200 and len(response.json()["predictions"][0]["top"]) == 2


def test_a_text_that_is_not_unicode_is_named(text_client: TestClient) -> None:
    body = b'{"inputs": ["a goal", "\\ud800 abc"]}'
    error = assert_error(text_client.post("/v1/predict", content=body, headers=JSON), 422, "inputs[1]", "Unicode")
    assert "on_bad=skip" in error["fix"]


def test_on_bad_skip_answers_the_other_texts(text_client: TestClient) -> None:
    body = b'{"inputs": ["the team won the match", "\\ud800 abc", "fresh bread from the bakery"]}'
    response = text_client.post("/v1/predict?on_bad=skip", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [p["id"] for p in answer["predictions"]] == ["inputs[0]", "inputs[2]"]
    assert [p["label"] for p in answer["predictions"]] == ["sport", "food"]
    assert answer["skipped"][0]["id"] == "inputs[1]" and "U+D800" in answer["skipped"][0]["reason"]
