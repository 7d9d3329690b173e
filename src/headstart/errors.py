"""The HeadstartError tree: every user mistake says what happened, what was expected and how to fix it.

Each class carries the CLI exit code and the HTTP status it maps to, so the CLI and the service
translate errors in exactly one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HeadstartError(Exception):
    """Base of every error a user can cause; printed without a traceback."""

    exit_code: int = 1
    http_status: int = 400

    def __init__(self, what: str, *, expected: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.expected = expected
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what]
        if self.expected:
            parts.append(f"expected: {self.expected}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "\n  ".join(parts)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": type(self).__name__,
            "message": self.what,
            "expected": self.expected,
            "fix": self.fix,
        }


class UsageError(HeadstartError):
    """A bad option value or combination of options."""

    exit_code = 2
    http_status = 422


class DataError(HeadstartError):
    """The dataset as a whole cannot be used (missing column, one class, empty folder...)."""

    exit_code = 3
    http_status = 422


class BadItemError(DataError):
    """One item (image file, table row) cannot be read; skipped unless `on_bad="fail"`."""

    def __init__(self, item: str, reason: str) -> None:
        self.item = item
        self.reason = reason
        super().__init__(
            f"cannot use item {item!r}: {reason}",
            fix="fix or remove the item, or pass --on-bad skip to skip bad items and list them",
        )


class TooManyPixelsError(BadItemError):
    """An image header over a pixel guard: `pixels` in the image, the guard's `limit`, and what sets it (`guard`)."""

    def __init__(self, item: str, reason: str, *, pixels: int, limit: int, guard: str) -> None:
        super().__init__(item, reason)
        self.pixels, self.limit, self.guard = pixels, limit, guard


class BackboneError(HeadstartError):
    """A backbone is unknown, not installed, or does not fit the data."""

    exit_code = 4
    http_status = 404


class ModalityMismatchError(BackboneError):
    """A backbone of one modality was asked to handle data of another."""

    http_status = 422

    def __init__(self, backbone: str, backbone_modality: str, data_modality: str, *, model: bool = False) -> None:
        article = "an" if data_modality[:1] in "aeiou" else "a"
        if model:  # a trained bundle given the other kind of data (evaluate, predict, expand, promote)
            super().__init__(
                f"this model reads {backbone_modality} (backbone {backbone!r}) but the data is {data_modality}",
                expected=f"{backbone_modality} data, like the data the model was trained on",
                fix=f"pass {backbone_modality} data, or fit a model on this data with `headstart fit`",
            )
            self.exit_code = DataError.exit_code  # the data is wrong for the model chosen, as predict says too
            return
        super().__init__(
            f"backbone {backbone!r} reads {backbone_modality} but the data is {data_modality}",
            expected=f"{article} {data_modality} backbone: transfer needs the same kind of input as pretraining",
            fix=f"run `headstart models` and pick a backbone whose modality is {data_modality}",
        )


class BundleError(HeadstartError):
    """A saved model bundle is missing, corrupt, or does not match the installed backbone."""

    exit_code = 5
    http_status = 422


class ExportParityError(BundleError):
    """An exported file disagrees with the bundle it came from."""


class StrategyError(UsageError):
    """An unknown or unavailable adaptation strategy."""


class EngineError(UsageError):
    """The execution engine cannot run: Ray not installed, a cluster unreachable, a cache not shared."""


class PromotionRefused(HeadstartError):
    """`promote`: the candidate does not beat the current model by the margin, or a class regressed.

    `comparison` is the full side-by-side result (`PromotionResult.to_dict()`), kept in the JSON error.
    """

    exit_code = 6
    http_status = 409

    def __init__(
        self, what: str, *, expected: str | None = None, fix: str | None = None, comparison: dict | None = None
    ) -> None:
        self.comparison = comparison or {}
        super().__init__(what, expected=expected, fix=fix)

    def to_dict(self) -> dict:  # type: ignore[override]
        return {**super().to_dict(), "comparison": self.comparison}


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a mistyped name, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None
