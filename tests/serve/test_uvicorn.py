"""A real uvicorn process on 127.0.0.1 answering concurrent requests, batched together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.serve.conftest import png_bytes
from tests.serve.server import running_server


def test_concurrent_text_requests(text_bundle: Path) -> None:
    texts = ["the team won the match", "fresh bread from the bakery"]
    with running_server(text_bundle, "--max-wait-ms", "20") as url:
        with httpx.Client(base_url=url, timeout=30) as client:

            def one(i: int) -> tuple[int, str]:
                response = client.post("/v1/predict", json={"inputs": [texts[i % 2]]})
                return response.status_code, response.json()["predictions"][0]["label"]

            with ThreadPoolExecutor(max_workers=16) as pool:
                results = list(pool.map(one, range(200)))
            health = client.get("/v1/health").json()
            bad = client.post("/v1/predict", content=b"nope", headers={"content-type": "text/plain"})
            after = client.post("/v1/predict", json={"inputs": ["a great goal"]})
    assert all(status == 200 for status, _ in results)
    assert [label for _, label in results] == ["sport" if i % 2 == 0 else "food" for i in range(200)]
    assert health["requests"] >= 200
    assert health["batches"] < health["requests"]  # concurrent requests shared forward passes
    assert bad.status_code == 415 and after.status_code == 200


def test_image_uploads_over_http(image_bundle: Path) -> None:
    with running_server(image_bundle) as url:
        with ThreadPoolExecutor(max_workers=8) as pool:

            def one(i: int) -> int:
                files = {"files": (f"{i}.png", png_bytes((30, 40, 220)), "image/png")}
                response = httpx.post(f"{url}/v1/predict", files=files, timeout=30)
                assert response.json()["predictions"][0]["label"] == "blue"
                return response.status_code

            statuses = list(pool.map(one, range(24)))
        card = httpx.get(f"{url}/v1/model").json()
        page = httpx.get(f"{url}/")
    assert statuses == [200] * 24
    assert card["labels"] == ["blue", "green", "red"]
    assert page.status_code == 200 and "headstart" in page.text


def test_two_workers(text_bundle: Path) -> None:
    with running_server(text_bundle, "--workers", "2") as url:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda _: httpx.post(f"{url}/v1/predict", json={"inputs": ["goal"]}).status_code, range(20))
            )
    assert statuses == [200] * 20
