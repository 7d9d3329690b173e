"""Turning request content into model items, under the service's limits.

Texts are checked for count, emptiness and length. Uploaded images are written to a per-request
temporary directory under generated names (never the upload's file name) and their headers checked
with headstart's image guards before any pixel is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from headstart.data.images import image_size
from headstart.errors import BadItemError
from headstart.serve.limits import InvalidInputError, TooLargeError
from headstart.serve.schemas import ServeConfig


def check_count(n: int, what: str, config: ServeConfig) -> None:
    if n == 0:
        raise InvalidInputError(
            f"the request has no {what}",
            expected=f"1 to {config.max_inputs} {what}",
            fix="send at least one input",
        )
    if n > config.max_inputs:
        raise TooLargeError(
            f"the request has {n} {what}, over the limit of {config.max_inputs} per request",
            expected=f"at most {config.max_inputs} {what}",
            fix="split the inputs over several requests (they are batched together anyway)",
        )


def check_texts(texts: Sequence[str], config: ServeConfig) -> list[str]:
    """The texts, refused when empty or longer than `max_text_chars` (naming the first offender)."""
    check_count(len(texts), "texts", config)
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInputError(
                f"inputs[{i}] is an empty text",
                expected="non-blank texts",
                fix="remove empty texts from the request",
            )
        if len(text) > config.max_text_chars:
            raise TooLargeError(
                f"inputs[{i}] has {len(text):,} characters, over the limit of {config.max_text_chars:,}",
                expected=f"texts of at most {config.max_text_chars:,} characters",
                fix="shorten the text (the model reads only its first tokens anyway)",
            )
    return list(texts)


def display_name(name: str | None) -> str:
    """An upload's file name for messages only (shortened, never used as a path)."""
    if not name:
        return "unnamed"
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name if len(name) <= 80 else name[:77] + "..."


def save_uploads(uploads: Sequence[tuple[str | None, bytes]], directory: Path, config: ServeConfig) -> list[str]:
    """Write each upload to `directory` under a generated name and check its image header and size."""
    check_count(len(uploads), "files", config)
    paths = []
    for i, (name, data) in enumerate(uploads):
        label = f"files[{i}] ({display_name(name)!r})"
        if not data:
            raise InvalidInputError(
                f"{label} is empty (0 bytes)", expected="an image file", fix="upload the image again"
            )
        path = directory / f"upload-{i:04d}"
        path.write_bytes(data)
        try:
            width, height = image_size(path)
        except BadItemError as err:
            raise InvalidInputError(
                f"{label} is not a usable image: {scrub(err.reason, directory)}",
                expected="a JPEG, PNG, WebP, BMP or GIF image",
                fix="check that the file is an image and is not truncated",
            ) from None
        if width * height > config.max_image_pixels:
            raise TooLargeError(
                f"{label} is {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{config.max_image_pixels:,}",
                expected=f"images of at most {config.max_image_pixels:,} pixels",
                fix="downscale the image (the model sees a small square anyway), or raise --max-image-pixels",
            )
        paths.append(str(path))
    return paths


def scrub(message: str, directory: Path) -> str:
    """A reason without the server's temporary paths in it."""
    return message.replace(str(directory) + "/", "").replace(str(directory), "")
