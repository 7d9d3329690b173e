"""Checking uploaded recordings before any sample is decoded: the same 4xx discipline as images.

The header is read with headstart's audio guards: an empty, unreadable, truncated or many-channel file is a 422
(or, with `?on_bad=skip`, an item left out with its reason); a recording over the duration limit is a 413 naming
`HEADSTART_MAX_AUDIO_SECONDS`, as an image over the pixel limit names `--max-image-pixels`. What only decoding
tells (silence, NaN samples) is answered per item by the batch, like an image whose body is corrupt.
"""

from __future__ import annotations

from pathlib import Path

from headstart.data.audio import MAX_SECONDS_ENV, max_seconds, read_header
from headstart.errors import BadItemError
from headstart.server.limits import InvalidInputError, TooLargeError

AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg")


def check_audio_upload(path: Path, label: str, directory: Path, skip_bad: bool) -> str | None:
    """None when the recording's header passes; the reason (with `skip_bad`) when it is unusable; raises otherwise."""
    try:
        read_header(path)
    except BadItemError as err:
        reason = err.reason.replace(str(directory) + "/", "").replace(str(directory), "")
        if reason.startswith("too long"):
            raise TooLargeError(
                f"{label} is {reason.split(' (')[0]}",
                expected=f"recordings of at most {max_seconds():g} s",
                fix=f"cut the recording into shorter clips, or raise {MAX_SECONDS_ENV} on the server",
            ) from None
        if skip_bad:
            return f"not a usable recording: {reason}"
        raise InvalidInputError(
            f"{label} is not a usable recording: {reason}",
            expected="a WAV, FLAC, OGG or MP3 recording",
            fix="check that the file is a recording and is not truncated, or add ?on_bad=skip",
        ) from None
    return None
