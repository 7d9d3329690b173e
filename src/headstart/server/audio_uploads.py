"""Checking uploaded recordings before any sample is decoded: the same 4xx discipline as images.

The header is read with headstart's audio guards: an empty, unreadable, truncated or many-channel file is a 422
(or, with `?on_bad=skip`, an item left out with its reason); a recording over the service's `--max-audio-seconds`
is a 413 naming that flag, as an image over the pixel limit names `--max-image-pixels` (and one under the flag but
over the decoder's own guard, `HEADSTART_MAX_AUDIO_SECONDS`, names that variable). What only decoding tells
(silence, NaN samples) is answered per item by the batch, like an image whose body is corrupt.
"""

from __future__ import annotations

import math
from pathlib import Path

from headstart.data.audio import MAX_SECONDS_ENV, max_seconds, read_header
from headstart.errors import BadItemError
from headstart.server.limits import InvalidInputError, TooLargeError

AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg")


def check_audio_upload(path: Path, label: str, directory: Path, skip_bad: bool, limit: float) -> str | None:
    """None when the recording's header passes; the reason (with `skip_bad`) when it is unusable; raises otherwise
    (413 over `limit` seconds, the service's --max-audio-seconds, or over the decoder's guard)."""
    try:
        header = read_header(path, limit=math.inf)  # the duration is checked below, against both limits
    except BadItemError as err:
        reason = err.reason.replace(str(directory) + "/", "").replace(str(directory), "")
        if skip_bad:
            return f"not a usable recording: {reason}"
        raise InvalidInputError(
            f"{label} is not a usable recording: {reason}",
            expected="a WAV, FLAC, OGG or MP3 recording",
            fix="check that the file is a recording and is not truncated, or add ?on_bad=skip",
        ) from None
    guard = max_seconds()
    if header.seconds > min(limit, guard):
        if header.seconds > limit:
            bound, fix = limit, "or raise --max-audio-seconds"
        else:  # the operator raised --max-audio-seconds above the decoder's guard, which still applies
            bound, fix = guard, f"or raise {MAX_SECONDS_ENV} on the server"
        raise TooLargeError(
            f"{label} is too long: {header.seconds:.1f} s, more than the {bound:g} s limit",
            expected=f"recordings of at most {bound:g} s",
            fix=f"cut the recording into shorter clips, {fix}",
        )
    return None
