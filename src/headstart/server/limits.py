"""Request limits of the service and the errors they raise (each a HeadstartError with its HTTP status)."""

from __future__ import annotations

import json
from typing import Any

from headstart.errors import HeadstartError, UsageError


class TooLargeError(HeadstartError):
    """A request over one of the service's size limits (body, inputs, pixels, text length)."""

    exit_code = 2
    http_status = 413


class UnsupportedMediaTypeError(HeadstartError):
    """A body that is neither JSON nor multipart form data."""

    exit_code = 2
    http_status = 415


class InvalidInputError(UsageError):
    """A request whose content cannot be used: malformed JSON, empty text, undecodable image..."""


def body_too_large(limit_bytes: int) -> TooLargeError:
    return TooLargeError(
        f"the request body is over the limit of {limit_bytes / 1024 / 1024:g} MB",
        expected=f"at most {limit_bytes:,} bytes",
        fix="send fewer or smaller inputs per request, or start the server with a larger --max-body-mb",
    )


class BodySizeLimit:
    """ASGI middleware: refuse bodies over `limit_bytes` with 413, by header or while streaming.

    A declared Content-Length over the limit is refused before reading; otherwise the body is read up to
    the limit (at most `limit_bytes` are ever held) and replayed to the app.
    """

    def __init__(self, app: Any, limit_bytes: int) -> None:
        self.app = app
        self.limit = limit_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_error(send, body_too_large(self.limit))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _send_error(send, body_too_large(self.limit))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect like a server would

        await self.app(scope, replay, send)


async def _send_error(send: Any, error: HeadstartError) -> None:
    payload = json.dumps(error.to_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
