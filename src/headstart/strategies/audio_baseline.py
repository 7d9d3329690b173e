"""The audio baseline's features: MFCC statistics (no pretrained network), for `baseline` on recordings."""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.data.audio import mfcc_config, mfcc_stats, read_audio
from headstart.strategies.file_features import FileFeatures


class MfccFeatures(FileFeatures):
    """20 MFCCs and their deltas, mean and standard deviation over time: 80 numbers per recording."""

    kind = "mfcc-stats"
    dim = int(mfcc_config()["dim"])

    def read(self, path: str) -> Any:
        return read_audio(path)

    def row(self, decoded: Any) -> np.ndarray:
        return mfcc_stats(decoded)

    def config(self) -> dict[str, Any]:
        return mfcc_config()
