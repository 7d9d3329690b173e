"""The audio baseline's features: MFCC statistics (no pretrained network), for `baseline` on recordings."""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.data.audio import mfcc_config, mfcc_stats, read_audio
from headstart.data.dataset import Dataset, SkippedItem
from headstart.errors import BadItemError
from headstart.progress import progress_bar


class MfccFeatures:
    """20 MFCCs and their deltas, mean and standard deviation over time: 80 numbers per recording."""

    kind = "mfcc-stats"

    def extract(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[SkippedItem]]:
        rows, kept, skipped = [], [], []
        with progress_bar("mfcc", total=len(dataset), enabled=progress) as advance:
            for i, path in enumerate(dataset.items):
                try:
                    wav = read_audio(path)
                except BadItemError as err:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], err.reason) from err
                    skipped.append(SkippedItem(dataset.ids[i], err.reason))
                else:
                    rows.append(mfcc_stats(wav))
                    kept.append(i)
                advance(1)
        features = np.stack(rows) if rows else np.zeros((0, mfcc_config()["dim"]), np.float32)
        return features, np.asarray(kept, dtype=np.int64), skipped

    def config(self) -> dict[str, Any]:
        return mfcc_config()

    def state(self) -> dict[str, np.ndarray]:
        return {}
