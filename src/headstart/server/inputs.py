"""Turning request content into model items, under the service's limits.

Texts are checked for count, emptiness and length (recordings: `audio_uploads`). Uploaded images are written to
a per-request temporary directory under generated names (never the upload's file name) and their headers checked
with headstart's image guards before any pixel is decoded. An image over a pixel guard (the service's,
headstart's or PIL's decompression-bomb guard) is a 413 naming `--max-image-pixels`, not a bad image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import UnidentifiedImageError

from headstart.batches import text_problem
from headstart.data.images import MAX_PIXELS_ENV, image_size
from headstart.data.modalities import Modality
from headstart.data.modalities.audio import AudioModality
from headstart.data.modalities.documents import DocumentModality
from headstart.errors import BadItemError, TooManyPixelsError
from headstart.server.audio_uploads import check_audio_upload
from headstart.server.document_uploads import check_document_upload
from headstart.server.limits import InvalidInputError, TooLargeError
from headstart.server.schemas import ServeConfig


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


def check_texts(texts: Sequence[str], config: ServeConfig, skip_bad: bool = False) -> dict[int, str]:
    """Why each unusable text cannot be used (empty, not valid Unicode, or longer than `max_text_chars`), by index.

    Without `skip_bad` the first one is refused instead (422 empty or invalid, 413 too long), naming it.
    """
    check_count(len(texts), "texts", config)
    problems: dict[int, str] = {}
    for i, text in enumerate(texts):
        invalid = text_problem(text)
        if invalid is not None:
            if not skip_bad:
                raise InvalidInputError(
                    f"inputs[{i}] cannot be used: {invalid}",
                    expected="texts of valid Unicode characters",
                    fix=f"fix or remove inputs[{i}] (e.g. a \\ud800 escape without its pair), or add ?on_bad=skip",
                )
            problems[i] = invalid
        elif not text.strip():
            if not skip_bad:
                raise InvalidInputError(
                    f"inputs[{i}] is an empty text",
                    expected="non-blank texts",
                    fix="remove empty texts from the request, or add ?on_bad=skip",
                )
            problems[i] = "empty text"
        elif len(text) > config.max_text_chars:
            if not skip_bad:
                raise TooLargeError(
                    f"inputs[{i}] has {len(text):,} characters, over the limit of {config.max_text_chars:,}",
                    expected=f"texts of at most {config.max_text_chars:,} characters",
                    fix="shorten the text (the model reads only its first tokens anyway), or add ?on_bad=skip",
                )
            problems[i] = f"{len(text):,} characters, over the limit of {config.max_text_chars:,}"
    return problems


def display_name(name: str | None) -> str:
    """An upload's file name for messages only (shortened, never used as a path)."""
    if not name:
        return "unnamed"
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name if len(name) <= 80 else name[:77] + "..."


def upload_filename(name: str | None) -> str | None:
    """The name a client gave an upload, for joining answers back: its last path part, printable, at most 255 chars."""
    if not name:
        return None
    base = PurePosixPath(name.replace("\\", "/")).name
    base = "".join(c if c.isprintable() else "?" for c in base)
    return base[:255] or None


@dataclass(frozen=True)
class Unusable:
    """An upload left out under `?on_bad=skip`, with the reason a refusal would have given."""

    reason: str


def save_uploads(
    uploads: Sequence[tuple[str | None, bytes]],
    directory: Path,
    config: ServeConfig,
    skip_bad: bool = False,
    modality: Modality | None = None,
) -> list[str | Unusable]:
    """Write each upload to `directory` under a generated name and check its image header and size.

    An empty or unreadable file refuses the request, or with `skip_bad` becomes an `Unusable` in its place;
    a file over the size limits always refuses it (413).
    """
    check_count(len(uploads), "files", config)
    paths: list[str | Unusable] = []
    for i, (name, data) in enumerate(uploads):
        label = f"files[{i}] ({display_name(name)!r})"
        if not data:
            if skip_bad:
                paths.append(Unusable("the file is empty (0 bytes)"))
                continue
            raise InvalidInputError(
                f"{label} is empty (0 bytes)", expected="an image file", fix="upload the image again, or ?on_bad=skip"
            )
        path = directory / f"upload-{i:04d}"
        path.write_bytes(data)
        if isinstance(modality, AudioModality):  # recordings: their own header guards
            problem = check_audio_upload(path, label, directory, skip_bad, config.max_audio_seconds)
            paths.append(Unusable(problem) if problem is not None else str(path))
            continue
        if isinstance(modality, DocumentModality):  # page images and PDFs: OCR reads them
            saved, problem = check_document_upload(path, label, directory, skip_bad)
            paths.append(Unusable(problem) if problem is not None else str(saved))
            continue
        try:
            width, height = image_size(path)
        except TooManyPixelsError as err:
            raise _too_many_pixels(label, f"{err.pixels:,}", err.pixels, config, err) from None
        except BadItemError as err:
            reason = f"not a usable image: {_upload_reason(err, directory)}"
            if skip_bad:
                paths.append(Unusable(reason))
                continue
            raise InvalidInputError(
                f"{label} is {reason}",
                expected="a JPEG, PNG, WebP, BMP or GIF image",
                fix="check that the file is an image and is not truncated, or add ?on_bad=skip",
            ) from None
        if width * height > config.max_image_pixels:
            raise _too_many_pixels(label, f"{width}x{height} = {width * height:,}", width * height, config)
        paths.append(str(path))
    return paths


def _too_many_pixels(
    label: str, size: str, pixels: int, config: ServeConfig, guard: TooManyPixelsError | None = None
) -> TooLargeError:
    """413 for an image over the service's --max-image-pixels, or over a lower guard that refused its header."""
    if guard is None or pixels > config.max_image_pixels:
        limit, fix = config.max_image_pixels, "or raise --max-image-pixels"
    elif guard.guard == MAX_PIXELS_ENV:  # the operator raised --max-image-pixels above a guard that still applies
        limit, fix = guard.limit, f"or raise {MAX_PIXELS_ENV} on the server"
    else:
        limit, fix = guard.limit, f"which {guard.guard} requires (it cannot be raised)"
    return TooLargeError(
        f"{label} is {size} pixels, over the limit of {limit:,}",
        expected=f"images of at most {limit:,} pixels",
        fix=f"downscale the image (the model sees a small square anyway), {fix}",
    )


def _upload_reason(err: BadItemError, directory: Path) -> str:
    """Why an upload is not an image, without the server's temporary path or the generated name's extension."""
    if isinstance(err.__cause__, UnidentifiedImageError):
        return "no known image format in the file"
    return scrub(err.reason, directory)


def scrub(message: str, directory: Path) -> str:
    """A reason without the server's temporary paths in it."""
    return message.replace(str(directory) + "/", "").replace(str(directory), "")
