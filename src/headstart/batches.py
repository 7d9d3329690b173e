"""Items to network inputs: decode, transform and preprocess in batches on a helper thread, skipping unreadable ones."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

import numpy as np

from headstart.backbones.base import Backbone
from headstart.data.dataset import Dataset
from headstart.data.modalities import get_modality
from headstart.errors import BadItemError


def decode_item(dataset: Dataset, i: int) -> Any:
    """The decoded item: a PIL RGB image for image data, the string for texts."""
    return decode_raw(dataset.modality, dataset.items[i])


def decode_raw(modality: str, item: str) -> Any:
    """Decode one raw item (an image path or a text) as `decode_item` does; raises BadItemError."""
    kind = get_modality(modality)
    if not kind.accepts_texts:
        return kind.decode(item)
    problem = text_problem(item)
    if problem is not None:
        raise BadItemError(item, problem)
    return item


def text_problem(text: str) -> str | None:
    """Why a text cannot be encoded for a network, or None: a lone surrogate (undecodable bytes read with
    `surrogateescape`, as in command-line arguments, or a broken `\\ud800` escape in JSON) is no character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = ord(text[err.start])
        return (
            f"the text is not valid Unicode: character {err.start + 1} is a lone surrogate (U+{bad:04X}), "
            "left by bytes that are not UTF-8 or by a broken \\u escape"
        )
    return None


Job = tuple[int, int]  # (dataset index, view number)
Transform = Callable[[Any, int, int], Any]  # (decoded item, dataset index, view) -> transformed item


def prepared_batches(
    backbone: Backbone,
    dataset: Dataset,
    jobs: list[Job],
    batch_size: int,
    transform: Transform | None = None,
) -> Iterator[tuple[list[Job], dict[str, np.ndarray], list[tuple[int, str]]]]:
    """Decode, transform and preprocess batches on a helper thread while the caller runs the network."""

    def prepare(batch: list[Job]) -> tuple[list[Job], dict[str, np.ndarray], list[tuple[int, str]]]:
        ok, decoded, failures = [], [], []
        for i, view in batch:
            try:
                item = decode_item(dataset, i)
            except BadItemError as err:
                failures.append((i, err.reason))
                continue
            decoded.append(transform(item, i, view) if transform else item)
            ok.append((i, view))
        inputs = backbone.preprocess(decoded) if decoded else {}
        return ok, inputs, failures

    batches = iter([jobs[s : s + batch_size] for s in range(0, len(jobs), batch_size)])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-decode") as pool:
        in_flight = deque(pool.submit(prepare, b) for b in islice(batches, 2))
        while in_flight:
            result = in_flight.popleft().result()
            for b in islice(batches, 1):
                in_flight.append(pool.submit(prepare, b))
            yield result


def iter_batches(
    backbone: Backbone, dataset: Dataset, batch_size: int = 32
) -> Iterator[tuple[list[int], dict[str, np.ndarray], list[tuple[int, str]]]]:
    """(dataset indices, preprocessed inputs, failures) for every item, in order (prediction paths)."""
    jobs = [(i, 0) for i in range(len(dataset))]
    for ok, inputs, failures in prepared_batches(backbone, dataset, jobs, batch_size):
        yield [i for i, _ in ok], inputs, failures


def readable_batches(
    backbone: Backbone,
    dataset: Dataset,
    jobs: list[Job],
    batch_size: int,
    *,
    on_bad: str,
    failed: dict[int, str],
    advance: Callable[[int], object] | None = None,
    transform: Transform | None = None,
) -> Iterator[tuple[list[Job], dict[str, np.ndarray]]]:
    """`prepared_batches` with unreadable items handled in one place, for every extraction loop.

    With `on_bad="fail"` the first unreadable item raises BadItemError; otherwise it is recorded in `failed`
    (dataset index -> reason). Yields only batches holding readable items; `advance(n)` (a progress bar)
    counts each batch's items once the caller is done with it.
    """
    for ok, inputs, failures in prepared_batches(backbone, dataset, jobs, batch_size, transform):
        for i, reason in failures:
            if on_bad == "fail":
                raise BadItemError(dataset.ids[i], reason)
            failed[i] = reason
        if ok:
            yield ok, inputs
        if advance is not None:
            advance(len(ok) + len(failures))
