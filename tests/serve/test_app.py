"""Every endpoint and every limit of the service, through FastAPI's test client on tiny backbones."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import headstart
from headstart.errors import UsageError
from headstart.server import create_app
from tests.serve.conftest import png_bytes, png_header

ERROR_KEYS = {"error", "message", "expected", "fix"}


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    for word in words:
        assert word in body["message"], body
    return body


# -- endpoints --------------------------------------------------------------------------------------------


def test_health(image_client: TestClient) -> None:
    body = image_client.get("/v1/health").json()
    assert body["status"] == "ok"
    assert body["model"] == "test-cnn + linear"
    assert body["modality"] == "image"
    assert body["worker_pid"] == os.getpid()  # the in-process test server: its counters are this process's


def test_health_counts_client_requests_only(text_bundle: Path) -> None:
    """The start-up warm-up ran (the session is open) but is not a request anyone made."""
    with TestClient(create_app(text_bundle)) as client:
        assert client.get("/v1/health").json()["requests"] == 0
        client.post("/v1/predict", json={"inputs": ["a goal", "some soup"]})
        body = client.get("/v1/health").json()
        assert body["requests"] == 1 and body["items"] == 2 and body["batches"] == 1


def test_model_card_is_public(image_client: TestClient, image_bundle: Path) -> None:
    response = image_client.get("/v1/model")
    assert response.status_code == 200
    card = response.json()
    assert card["labels"] == ["blue", "green", "red"]
    assert card["strategy"]["name"] == "linear"
    assert card["backbone"]["name"] == "test-cnn"
    assert card["metrics"]["test"]["accuracy"] >= 0.8
    assert card["task"] == "classification" and card["created"]
    text = json.dumps(card)
    assert str(image_bundle.parent) not in text  # no local paths: data source, --out, skipped ids
    assert "source" not in card["data"] and "config" not in card


def test_model_card_identifies_the_bundle(image_client: TestClient, image_bundle: Path) -> None:
    """After a promote an operator checks which bundle is served: manifest digest and run id, no local path."""
    card = image_client.get("/v1/model").json()
    manifest = image_bundle / "manifest.json"
    assert card["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    recorded = json.loads(manifest.read_text())
    assert recorded.get("run_id") and card["run_id"] == recorded["run_id"]
    assert "tracking_uri" not in card and "sqlite" not in json.dumps(card)


def test_head_probes_answer_200(image_client: TestClient) -> None:
    """Load balancers probe with HEAD."""
    for path in ("/", "/v1/health"):
        response = image_client.head(path)
        assert response.status_code == 200, (path, response.status_code)
        assert response.content == b""
    assert image_client.head("/v1/predict").status_code == 405


def test_predict_one_text_as_a_bare_string(text_client: TestClient) -> None:
    """{"inputs": "one text"}, as Hugging Face clients send it, is one input."""
    response = text_client.post("/v1/predict", json={"inputs": "the team won the match"})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [(p["id"], p["label"]) for p in predictions] == [("inputs[0]", "sport")]
    assert "filename" not in predictions[0]
    assert_error(text_client.post("/v1/predict", json={"inputs": "  "}), 422, "inputs[0]", "empty")
    assert_error(text_client.post("/v1/predict", json={"inputs": 3}), 422, "inputs")


def test_predict_texts_top_k(text_client: TestClient, text_bundle: Path) -> None:
    texts = ["the team won the match again", "fresh bread and soup"]
    response = text_client.post("/v1/predict", json={"inputs": texts, "top_k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["id"] for p in body["predictions"]] == ["inputs[0]", "inputs[1]"]
    assert [p["label"] for p in body["predictions"]] == ["sport", "food"]
    expected = headstart.load(text_bundle).predict_proba(texts)
    labels = headstart.load(text_bundle).labels
    for row, prediction in zip(expected, body["predictions"], strict=True):
        assert len(prediction["top"]) == 2
        got = {t["label"]: t["probability"] for t in prediction["top"]}
        assert got == pytest.approx({lab: float(p) for lab, p in zip(labels, row, strict=True)}, abs=1e-6)
        assert prediction["probability"] == max(got.values())


def test_predict_top_k_defaults_and_is_capped(text_client: TestClient) -> None:
    body = text_client.post("/v1/predict", json={"inputs": ["a goal"]}).json()
    assert len(body["predictions"][0]["top"]) == 2  # default 3, but the model has 2 labels
    body = text_client.post("/v1/predict?top_k=1", json={"inputs": ["a goal"]}).json()
    assert len(body["predictions"][0]["top"]) == 1


def test_predict_images_multipart(image_client: TestClient) -> None:
    files = [
        ("files", ("red.png", png_bytes((220, 30, 30)), "image/png")),
        ("files", ("blue.png", png_bytes((30, 40, 220)), "image/png")),
    ]
    response = image_client.post("/v1/predict", files=files, data={"top_k": "2"})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["red", "blue"]
    assert [p["id"] for p in predictions] == ["files[0]", "files[1]"]
    assert [p["filename"] for p in predictions] == ["red.png", "blue.png"]
    assert all(len(p["top"]) == 2 for p in predictions)


def test_one_raw_image_as_the_body(image_client: TestClient, text_client: TestClient) -> None:
    """TorchServe / Hugging Face style: the image itself is the body, its type in Content-Type."""
    headers = {"content-type": "image/png", "x-filename": "red.png"}
    body = image_client.post("/v1/predict?top_k=1", content=png_bytes((220, 30, 30)), headers=headers).json()
    (prediction,) = body["predictions"]
    assert prediction["label"] == "red" and prediction["filename"] == "red.png" and len(prediction["top"]) == 1
    refused = text_client.post("/v1/predict", content=png_bytes(), headers={"content-type": "image/png"})
    assert_error(refused, 422, "classifies texts")


def test_uploads_are_joined_back_by_file_name_without_paths(image_client: TestClient) -> None:
    files = [
        ("files", ("photos/2024/red.png", png_bytes((220, 30, 30)), "image/png")),
        ("files", ("C:\\Users\\me\\blue.png", png_bytes((30, 40, 220)), "image/png")),
        ("files", ("../../etc/green.png", png_bytes((30, 200, 40)), "image/png")),
    ]
    predictions = image_client.post("/v1/predict", files=files).json()["predictions"]
    assert [(p["filename"], p["label"]) for p in predictions] == [
        ("red.png", "red"),
        ("blue.png", "blue"),
        ("green.png", "green"),
    ]


def test_page_and_static_files(image_client: TestClient) -> None:
    page = image_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text
    assert image_client.get("/static/app.js").status_code == 200
    assert image_client.get("/static/style.css").status_code == 200


def test_openapi_docs(image_client: TestClient) -> None:
    """/docs works offline: every script and stylesheet it loads is served by the app itself."""
    import re

    page = image_client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if a.startswith("http")], assets
    for asset in assets:
        assert image_client.get(asset).status_code == 200, asset
    schema = image_client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/model", "/v1/health"} <= set(schema["paths"])


def test_openapi_describes_what_an_image_model_accepts(image_client: TestClient) -> None:
    operation = image_client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    body = operation["requestBody"]["content"]
    assert "application/json" not in body  # texts are refused (422) by an image model
    files = body["multipart/form-data"]["schema"]["properties"]["files"]
    assert files["maxItems"] == 4 and files["items"]["format"] == "binary"
    assert {"image/png", "image/jpeg", "application/octet-stream"} <= set(body)
    assert {p["name"] for p in operation["parameters"]} == {"top_k", "on_bad", "X-Filename"}


def test_openapi_describes_what_a_text_model_accepts(text_client: TestClient) -> None:
    import re

    operation = text_client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    body = operation["requestBody"]["content"]
    assert set(body) == {"application/json"}  # no uploads advertised to a text model
    inputs = body["application/json"]["schema"]["properties"]["inputs"]["anyOf"]
    one, many = inputs
    assert one["type"] == "string" and one["maxLength"] == 200  # a bare string is one text, as the service takes it
    assert many["type"] == "array" and many["maxItems"] == 4 and many["items"]["maxLength"] == 200
    blank = re.compile(one["pattern"])
    assert blank.search("a goal") and not blank.search(" \t\x1c\u3000 ")  # blank as str.strip() sees it
    sent = text_client.post("/v1/predict", json={"inputs": "a goal"})
    assert sent.status_code == 200
    refused = text_client.post("/v1/predict", files={"files": ("x.png", png_bytes(), "image/png")})
    assert refused.status_code == 422  # what the document leaves out is refused


def test_a_file_part_without_a_file_name_is_an_upload(image_client: TestClient) -> None:
    """RFC 7578 makes filename= optional: such a part is still the image, not a text field."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + png_bytes((30, 40, 220))
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = image_client.post("/v1/predict", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "blue"


def test_unknown_route_and_method(image_client: TestClient) -> None:
    assert_error(image_client.get("/v2/nothing"), 404)
    assert_error(image_client.get("/v1/predict"), 405)


# -- limits and bad input: always a 4xx with the error document, never a 500 --------------------------------


def test_wrong_content_type(text_client: TestClient) -> None:
    assert_error(text_client.post("/v1/predict", content=b"hello", headers={"content-type": "text/plain"}), 415)
    assert_error(text_client.post("/v1/predict", content=b"hello"), 415, "(none)")


def test_too_many_texts(text_client: TestClient) -> None:
    assert_error(text_client.post("/v1/predict", json={"inputs": ["a"] * 5}), 413, "5 texts", "limit of 4")


def test_text_too_long(text_client: TestClient) -> None:
    assert_error(text_client.post("/v1/predict", json={"inputs": ["ok", "x" * 201]}), 413, "inputs[1]", "200")


def test_empty_and_malformed_texts(text_client: TestClient) -> None:
    assert_error(text_client.post("/v1/predict", json={"inputs": ["fine", "   "]}), 422, "inputs[1]", "empty")
    assert_error(text_client.post("/v1/predict", json={"inputs": []}), 422, "inputs")
    assert_error(text_client.post("/v1/predict", json={"inputs": [1, 2]}), 422, "inputs")
    assert_error(text_client.post("/v1/predict", json={"texts": ["a"]}), 422)
    assert_error(text_client.post("/v1/predict", json={"inputs": ["a"], "top_k": 0}), 422, "top_k")
    assert_error(text_client.post("/v1/predict?top_k=abc", json={"inputs": ["a"]}), 422, "top_k")
    bad_json = text_client.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(bad_json, 422, "not valid JSON")


def test_image_sent_to_text_model(text_client: TestClient) -> None:
    response = text_client.post("/v1/predict", files={"files": ("x.png", png_bytes(), "image/png")})
    assert_error(response, 422, "classifies texts")


def test_text_sent_to_image_model(image_client: TestClient) -> None:
    assert_error(image_client.post("/v1/predict", json={"inputs": ["a red thing"]}), 422, "classifies images")


def test_undecodable_image_names_the_file(image_client: TestClient) -> None:
    files = [
        ("files", ("good.png", png_bytes(), "image/png")),
        ("files", ("notes.txt", b"this is not an image", "image/png")),
    ]
    assert_error(image_client.post("/v1/predict", files=files), 422, "files[1]", "notes.txt", "not a usable image")


def test_on_bad_skip_answers_the_usable_uploads_and_lists_the_others(image_client: TestClient) -> None:
    files = [
        ("files", ("red.png", png_bytes((220, 30, 30)), "image/png")),
        ("files", ("notes.txt", b"this is not an image", "image/png")),
    ]
    body = image_client.post("/v1/predict?on_bad=skip", files=files).json()
    assert [(p["index"], p["label"]) for p in body["predictions"]] == [(0, "red")]
    (skipped,) = body["skipped"]
    assert (
        skipped["id"] == "files[1]" and skipped["filename"] == "notes.txt" and "not a usable image" in skipped["reason"]
    )
    assert "upload-" not in skipped["reason"]
    assert "skipped" not in image_client.post("/v1/predict", files=files[:1]).json()  # only with ?on_bad=skip
    assert_error(image_client.post("/v1/predict?on_bad=maybe", files=files), 422, "on_bad='maybe'")


def test_on_bad_skip_skips_empty_and_overlong_texts_too(text_client: TestClient) -> None:
    texts = ["the team won the match", "   ", "x" * 20_000, "the vote on the new law"]
    body = text_client.post("/v1/predict?on_bad=skip", json={"inputs": texts}).json()
    assert [p["index"] for p in body["predictions"]] == [0, 3]
    assert [(s["id"], s["reason"]) for s in body["skipped"]] == [
        ("inputs[1]", "empty text"),
        ("inputs[2]", "20,000 characters, over the limit of 200"),  # the test service allows 200
    ]
    only_bad = text_client.post("/v1/predict?on_bad=skip", json={"inputs": ["", " "]}).json()
    assert only_bad["predictions"] == [] and len(only_bad["skipped"]) == 2
    refused = assert_error(text_client.post("/v1/predict", json={"inputs": texts}), 422, "inputs[1]")
    assert "?on_bad=skip" in refused["fix"]


def test_truncated_image_names_the_file(image_client: TestClient) -> None:
    truncated = png_bytes()[:120]  # the header is fine, the pixel data is cut
    files = [("files", ("a.png", png_bytes(), "image/png")), ("files", ("cut.png", truncated, "image/png"))]
    body = assert_error(image_client.post("/v1/predict", files=files), 422, "files[1]", "cut.png")
    assert "/tmp" not in body["message"] and "upload-" not in body["message"]


def test_not_an_image_names_no_temporary_extension(image_client: TestClient) -> None:
    """The temporary file has no extension; the message must not say "extension ''" about the user's fake.jpg."""
    response = image_client.post("/v1/predict", files={"files": ("fake.jpg", b"plain text, not a JPEG", "image/jpeg")})
    body = assert_error(response, 422, "files[0]", "fake.jpg", "no known image format")
    assert "extension" not in body["message"] and "upload-" not in body["message"]


def test_decompression_bomb_is_413_naming_the_limit_flag(image_client: TestClient) -> None:
    """Over PIL's pixel guards (error above 179 M, warning above 89 M) the answer is 413, like any large image."""
    for width, height, pixels in ((30_000, 30_000, "900,000,000"), (10_000, 10_000, "100,000,000")):
        response = image_client.post("/v1/predict", files={"files": ("bomb.png", png_header(width, height))})
        body = assert_error(response, 413, "files[0]", "bomb.png", pixels, "limit of 100,000")
        assert "--max-image-pixels" in body["fix"]


def test_headstart_pixel_guard_is_413_when_the_limit_flag_is_above_it(image_bundle: Path) -> None:
    """--max-image-pixels over headstart's own 40 M guard: the answer names the guard that refused the image."""
    with TestClient(create_app(image_bundle, max_image_pixels=10**9)) as client:
        response = client.post("/v1/predict", files={"files": ("big.png", png_header(8_000, 6_000))})
        body = assert_error(response, 413, "files[0]", "48,000,000", "limit of 40,000,000")
        assert "HEADSTART_MAX_PIXELS" in body["fix"]
        response = client.post("/v1/predict", files={"files": ("bomb.png", png_header(30_000, 30_000))})
        assert_error(response, 413, "900,000,000", "limit of 178,956,970")


def test_empty_upload_and_no_files(image_client: TestClient) -> None:
    assert_error(image_client.post("/v1/predict", files={"files": ("e.png", b"", "image/png")}), 422, "empty")
    no_files = image_client.post("/v1/predict", data={"top_k": "2"}, files={"other": ("", b"")})
    assert no_files.status_code == 422


def test_too_many_files(image_client: TestClient) -> None:
    files = [("files", (f"{i}.png", png_bytes(), "image/png")) for i in range(5)]
    assert_error(image_client.post("/v1/predict", files=files), 413, "4")


def test_image_over_pixel_limit(image_client: TestClient) -> None:
    big = png_bytes(size=(400, 300))  # 120,000 pixels > 100,000
    assert_error(image_client.post("/v1/predict", files={"files": ("big.png", big)}), 413, "files[0]", "400x300")


def test_body_over_limit(image_bundle: Path) -> None:
    with TestClient(create_app(image_bundle, max_body_mb=0.01)) as client:
        big = png_bytes(size=(200, 200))  # ~120 kB of noisy PNG > 10 kB
        assert_error(client.post("/v1/predict", files={"files": ("big.png", big)}), 413, "body")

        def chunks():  # no Content-Length: the limit applies while the body streams in
            for _ in range(20):
                yield b"x" * 1024

        streamed = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        assert_error(streamed, 413, "body")
        assert client.post("/v1/predict", files={"files": ("ok.png", png_bytes())}).status_code == 200


def test_server_keeps_answering_after_bad_requests(image_client: TestClient) -> None:
    image_client.post("/v1/predict", files={"files": ("x.png", b"\x89PNG garbage")})
    image_client.post("/v1/predict", content=b"\x00" * 100, headers={"content-type": "application/json"})
    ok = image_client.post("/v1/predict", files={"files": ("r.png", png_bytes())})
    assert ok.status_code == 200 and ok.json()["predictions"][0]["label"] == "red"


def test_bad_options_and_bundle(image_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="max_batch"):
        create_app(image_bundle, max_batch=0)
    with pytest.raises(headstart.errors.BundleError):
        create_app(tmp_path / "missing")


def test_predictions_match_predictor_for_images(image_bundle: Path, image_client: TestClient, tmp_path: Path) -> None:
    data = png_bytes((30, 200, 40))
    (tmp_path / "g.png").write_bytes(data)
    want = headstart.load(image_bundle).predict_proba([str(tmp_path / "g.png")])[0]
    body = image_client.post("/v1/predict", files={"files": ("g.png", data)}, data={"top_k": "3"}).json()
    got = {t["label"]: t["probability"] for t in body["predictions"][0]["top"]}
    assert np.allclose([got[lab] for lab in ["blue", "green", "red"]], want, atol=1e-6)


# -- the card fields the try-it page reads, for each task kind ----------------------------------------------


@pytest.mark.parametrize(
    ("bundle", "task", "metrics"),
    [
        ("text_bundle", "classification", {"accuracy", "macro_f1", "expected_calibration_error"}),
        ("text_value_bundle", "regression", {"mae", "rmse", "r2"}),
        ("text_tag_bundle", "multilabel", {"micro_f1", "mean_average_precision"}),
    ],
)
def test_card_has_the_fields_the_page_shows(bundle: str, task: str, metrics: set[str], request) -> None:
    """app.js switches its wording on `task` and shows these test metrics (METRICS in app.js)."""
    with TestClient(create_app(request.getfixturevalue(bundle))) as client:
        card = client.get("/v1/model").json()
    assert card["task"] == task
    assert metrics <= set(card["metrics"]["test"]), card["metrics"]["test"]
    package = importlib.import_module("headstart.server")  # `headstart.serve` is the function
    script = (Path(str(package.__file__)).parent / "static" / "app.js").read_text()
    for key in metrics:
        assert f'"{key}"' in script, key


def test_cors_is_off_unless_an_origin_is_allowed(text_bundle: Path, text_client: TestClient) -> None:
    """A browser app on another origin may call the API only when the operator names that origin."""
    preflight = {
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    closed = text_client.options("/v1/predict", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    with TestClient(create_app(text_bundle, cors_origins=("https://app.example",))) as client:
        opened = client.options("/v1/predict", headers=preflight)
        assert opened.status_code == 200 and opened.headers["access-control-allow-origin"] == "https://app.example"
        answer = client.post("/v1/predict", json={"inputs": ["a goal"]}, headers={"origin": "https://app.example"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "https://app.example"
        other = client.options("/v1/predict", headers={**preflight, "origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
