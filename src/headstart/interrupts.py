"""`Interrupted`: Ctrl-C that says what was kept and how to continue (no dependencies: the CLI imports it)."""

from __future__ import annotations

from typing import Any


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt carrying what was interrupted, what was kept and how to continue.

    It stays a KeyboardInterrupt, so every `except KeyboardInterrupt` still catches it; the CLI prints
    `message` and `fix` (exit 130) and, with --json, `to_dict()` as its one document.
    """

    def __init__(self, message: str, *, fix: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix  # callbacks may complete it on the way out (e.g. where the checkpoint is)
        self.details = details

    def __str__(self) -> str:
        return self.message + (f"; {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, Any]:
        return {"error": "Interrupted", "message": self.message, "expected": None, "fix": self.fix, **self.details}


def as_interrupted(error: BaseException) -> Interrupted:
    """`error` itself when it already says more than "interrupted", else a plain `Interrupted`."""
    return error if isinstance(error, Interrupted) else Interrupted("interrupted")
