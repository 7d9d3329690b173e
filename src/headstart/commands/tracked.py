"""What a command records into its tracked run besides its parameters: its JSON result and numeric summary."""

from __future__ import annotations

from typing import Any

from headstart import tracking


def record_outcome(run: tracking.Run, name: str, document: Any, summary: dict[str, Any]) -> None:
    """Log a command's JSON result and its numeric summary into its tracked run (no-op when off)."""
    if run.active:
        run.log_json(name, document)
        numbers = {k: v for k, v in tracking.flatten(summary).items() if isinstance(v, int | float) and v == v}
        run.log_metrics(numbers)
