"""Baseline features computed file by file, without a pretrained network: each readable item becomes one row;
an item that cannot be read is skipped with its reason (or raises with `on_bad="fail"`)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from headstart.data.dataset import Dataset, SkippedItem
from headstart.errors import BadItemError
from headstart.progress import progress_bar


class FileFeatures:
    """A fixed, stateless feature map of decoded files. Subclasses say how to read a file and turn it into a row."""

    kind: ClassVar[str]  # recorded in the manifest; the modality's `baseline_features` names it
    dim: ClassVar[int]  # values per row

    def read(self, path: str) -> Any:
        """The decoded item; raises BadItemError when it cannot be used."""
        raise NotImplementedError

    def row(self, decoded: Any) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def extract(
        self, dataset: Dataset, *, on_bad: str = "skip", progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[SkippedItem]]:
        """(rows, positions of the items they come from, skipped items)."""
        rows, kept, skipped = [], [], []
        with progress_bar(self.kind, total=len(dataset), enabled=progress) as advance:
            for i, path in enumerate(dataset.items):
                try:
                    decoded = self.read(path)
                except BadItemError as err:
                    if on_bad == "fail":
                        raise BadItemError(dataset.ids[i], err.reason) from err
                    skipped.append(SkippedItem(dataset.ids[i], err.reason))
                else:
                    rows.append(self.row(decoded))
                    kept.append(i)
                advance(1)
        features = np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)
        return features, np.asarray(kept, dtype=np.int64), skipped

    def state(self) -> dict[str, np.ndarray]:
        return {}
