"""The OpenAPI description of `POST /v1/predict` for one served bundle: exactly the bodies that bundle accepts.

A text model takes JSON only (`inputs`: one text or a list); an image model takes multipart uploads or one image as
the raw body. Limits (inputs per request, characters per text) are in the schema, so a request that satisfies
it is answered 200, and one that does not gets a documented 4xx.
"""

from __future__ import annotations

from typing import Any

from headstart.data.modalities import get_modality
from headstart.data.modalities.audio import AudioModality
from headstart.server.audio_uploads import AUDIO_TYPES
from headstart.server.schemas import ServeConfig

# What Python's str.strip() removes (the server refuses a text of only these as empty), spelled so every regex
# dialect of JSON Schema reads it the same: a text must hold one character outside this class.
_PY_WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK = f"[^{_PY_WHITESPACE}]"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp")
ERRORS: dict[int, str] = {
    413: "over a limit: body size, number of inputs, text length or image pixels",
    415: "the body is not one this model accepts (see the request body's content types)",
    422: "unusable input: malformed JSON, empty text, undecodable image, wrong modality",
}


def _top_k(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "description": description}


def _parameters(modality: str) -> list[dict[str, Any]]:
    """Query parameters (and, for images sent as the raw body, the X-Filename header)."""
    parameters = [
        {
            "name": "top_k",
            "in": "query",
            "required": False,
            "schema": _top_k("labels per input (default: the server's --top-k; a JSON or form top_k wins)"),
        },
        {
            "name": "on_bad",
            "in": "query",
            "required": False,
            "schema": {
                "type": "string",
                "enum": ["fail", "skip"],
                "description": "skip: answer the usable inputs and list the others in `skipped` (also inputs the "
                "body schema rules out one by one: empty files, blank or overlong texts); fail (default): refuse",
            },
        },
    ]
    if get_modality(modality).accepts_uploads:
        parameters.append(
            {
                "name": "X-Filename",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "description": "raw-body uploads: the file name to answer with"},
            }
        )
    return parameters


def _text_body(config: ServeConfig) -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": config.max_text_chars, "pattern": NON_BLANK}
    return {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["inputs"],
                "properties": {
                    "inputs": {
                        "description": 'texts to predict for; one text may be sent as a bare string ({"inputs": "a"})',
                        "anyOf": [
                            {**text, "title": "one text"},
                            {"type": "array", "items": text, "minItems": 1, "maxItems": config.max_inputs},
                        ],
                    },
                    "top_k": {"anyOf": [_top_k("labels per input (default: the server's --top-k)"), {"type": "null"}]},
                },
            },
            "example": {"inputs": ["my card was charged twice"], "top_k": 3},
        }
    }


def _image_body(config: ServeConfig, types: tuple[str, ...] = IMAGE_TYPES, media: str = "image/*") -> dict[str, Any]:
    image = {"type": "string", "format": "binary", "minLength": 1, "contentMediaType": media}
    body: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "array", "items": image, "minItems": 1, "maxItems": config.max_inputs},
                    "top_k": _top_k("labels per input (default: the server's --top-k)"),
                },
            },
            "encoding": {"files": {"contentType": ", ".join(types)}},
        }
    }
    for one in (*types, "application/octet-stream"):  # one file as the whole body
        body[one] = {"schema": {"type": "string", "format": "binary", "minLength": 1}}
    return body


def predict_operation(modality: str, config: ServeConfig) -> dict[str, Any]:
    """`openapi_extra` of the predict route: its parameters and request body for `modality`."""
    kind = get_modality(modality)
    if kind.accepts_texts:
        content = _text_body(config)
    elif isinstance(kind, AudioModality):
        content = _image_body(config, AUDIO_TYPES, "audio/*")
    else:
        content = _image_body(config)
    return {"parameters": _parameters(modality), "requestBody": {"required": True, "content": content}}
