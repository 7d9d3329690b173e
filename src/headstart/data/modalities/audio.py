"""The audio modality: recordings (WAV, FLAC, OGG, MP3 where libsndfile reads it) as 16 kHz mono waveforms.

What builds a `Dataset` (`claims`, `load`, `load_inputs`) is added by `data/audio_loading.py`, which registers
the modality: those need `data.dataset` and `data.folders`, which import this package (an import cycle here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.audio import (
    RECORDINGS,
    audio_stats,
    checked_waveform,
    decode_steps,
    read_audio,
    read_header,
    read_samples,
    write_check_recordings,
)
from headstart.data.hashing import image_sha256
from headstart.data.modalities.base import Modality
from headstart.errors import BadItemError

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset


class AudioModality(Modality):
    name = "audio"
    noun = "recording"
    default_backbone = "voice-encoder"
    baseline_features = "mfcc-stats"
    size_unit = "mel frames per window"
    items_are_files = True
    ragged = True  # a recording is a run of 1.6 s windows, as many as its length needs
    accepts_uploads = True
    page_input = "audio"
    one_class_fix = "add a second class folder next to {first!r}: <root>/<class>/<file> (e.g. one per speaker)"

    def decode(self, item: str) -> np.ndarray:
        return read_audio(item)

    def digest(self, item: str) -> str:
        return image_sha256(item)  # the file's bytes, remembered while its size and mtime are unchanged

    def table_item(self, table: Path, raw: object) -> tuple[str | None, str | None]:
        return RECORDINGS.table_item(table, raw)

    def inspect(self, ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        return recording_stats(ds, decode)

    def check_items(self, directory: Path) -> tuple[str, ...]:
        """Tones, a chirp and noise of 0.4 to 4 s (one to four windows) at 8, 16 and 44.1 kHz, as WAV files."""
        return write_check_recordings(directory)

    def decode_steps(self) -> list[str]:
        return decode_steps()

    def page(self) -> dict[str, Any]:
        return {**super().page(), "record": True, "accept": "audio/*"}


def recording_stats(ds: Dataset, decode: bool) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Durations and sample rates (min/median/max), counts of silent, clipped and too-short recordings, and the
    items `fit` would skip (unreadable, NaN, silent, too short), as skipped entries."""
    seconds: list[float] = []
    rates: list[int] = []
    counts = {"silent": 0, "clipped": 0, "too_short": 0, "unreadable": 0, "not_finite": 0}
    channels: dict[str, int] = {}
    broken: list[dict[str, str]] = []
    for item_id, path in zip(ds.ids, ds.items, strict=True):
        try:
            if not decode:
                header = read_header(path)
                seconds.append(header.seconds)
                rates.append(header.sample_rate)
                channels[str(header.channels)] = channels.get(str(header.channels), 0) + 1
                continue
            data, rate = read_samples(path)
        except BadItemError as err:
            counts["unreadable"] += 1
            broken.append({"id": item_id, "reason": err.reason})
            continue
        stats = audio_stats(data, rate)
        seconds.append(stats["seconds"])
        rates.append(stats["sample_rate"])
        channels[str(stats["channels"])] = channels.get(str(stats["channels"]), 0) + 1
        counts["clipped"] += stats["clipped"]
        for flag, key in (("silent", "silent"), ("too_short", "too_short")):
            counts[key] += stats[flag]
        counts["not_finite"] += not stats["finite"]
        try:
            checked_waveform(path, data, rate)
        except BadItemError as err:
            broken.append({"id": item_id, "reason": err.reason})
    if not seconds:
        return None, broken

    def summary(values: Sequence[float]) -> dict[str, float]:
        return {"min": float(min(values)), "median": float(np.median(values)), "max": float(max(values))}

    return (
        {
            "seconds": summary(seconds),
            "sample_rate": summary(rates),
            "total_seconds": {"sum": float(sum(seconds))},
            "channels": {k: float(v) for k, v in sorted(channels.items())},
            "flags": {k: float(v) for k, v in counts.items()},
        },
        broken,
    )
