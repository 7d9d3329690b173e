"""How commands print: Rich tables for people, one JSON document for machines, errors without tracebacks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from headstart.config import CLI_CALLER
from headstart.errors import HeadstartError
from headstart.interrupts import as_interrupted

# Exceptions Click's standalone mode reports as a bare "Aborted!" (Ctrl-C's exit 130 with --json), not as a bug.
CLICK_ABORTS = (EOFError, typer.Abort)
PIPED_WIDTH = 160  # piped output has no terminal width; Rich's 80 columns would cut backbone names and run ids


def _width(stream: Any) -> int | None:
    """None (Rich measures the terminal) on a terminal or when COLUMNS is set; else PIPED_WIDTH."""
    return None if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)() else PIPED_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def print_json(document: Any, indent: int | None = 2) -> None:
    """Print one JSON document on stdout (`indent=None`: on one line)."""
    sys.stdout.write(json.dumps(document, indent=indent, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def command_errors(as_json: bool) -> Iterator[None]:
    """Turn a HeadstartError into its message (or a JSON error document) and its exit code; Ctrl-C into what was
    kept and how to continue (an `Interrupted` document with --json), exit 130.

    Any other exception is a bug: with --json, stdout still gets one error document (`InternalError`, exit 1)
    before the traceback goes to stderr, so scripts parsing stdout never read nothing. An EOFError or Abort is
    re-raised as a RuntimeError: Click would turn it into a bare "Aborted!" (exit 130 with --json), as if Ctrl-C.
    """
    caller = CLI_CALLER.set(True)  # option errors name --flags, not Python keywords
    try:
        yield
    except HeadstartError as err:
        if as_json:
            print_json(err.to_dict())
        err_console.print(f"[bold red]error:[/] {err.message}", highlight=False, markup=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt as err:
        interrupted = as_interrupted(err)
        if as_json:
            print_json(interrupted.to_dict())
        fix = f"\n  fix: {escape(interrupted.fix)}" if interrupted.fix else ""
        err_console.print(f"[yellow]{escape(interrupted.message)}[/]{fix}", highlight=False, markup=True)
        raise typer.Exit(130) from None
    except Exception as err:
        if as_json:
            print_json(
                {
                    "error": "InternalError",
                    "message": f"{type(err).__name__}: {err}",
                    "expected": None,
                    "fix": "this is a bug in headstart: please report the command and the traceback (on stderr)",
                }
            )
        if isinstance(err, CLICK_ABORTS):
            raise RuntimeError(f"{type(err).__name__}: {err}") from err
        raise
    finally:
        CLI_CALLER.reset(caller)


def print_notes(notes: Iterable[str]) -> None:
    """Print each note on its own yellow `note:` line."""
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")


def fmt(value: float | None) -> str:
    """A probability or score with three decimals ("" when there is none)."""
    return "" if value is None else f"{value:.3f}"


def metrics_line(m: dict[str, float]) -> str:
    """The headline metrics of any task kind's summary, on one line."""
    if "entity_f1" in m:
        return (
            f"entity F1 {fmt(m['entity_f1'])}  precision {fmt(m['entity_precision'])}  "
            f"recall {fmt(m['entity_recall'])}  (ignoring spaces: F1 {fmt(m['entity_f1_ignoring_spaces'])})"
        )
    if "r2" in m:
        return f"MAE {fmt(m['mae'])}  RMSE {fmt(m['rmse'])}  R² {fmt(m['r2'])}"
    if "micro_f1" in m:
        return f"micro-F1 {fmt(m['micro_f1'])}  macro-F1 {fmt(m['macro_f1'])}  mAP {fmt(m['map'])}"
    return f"accuracy {fmt(m['accuracy'])}  macro-F1 {fmt(m['macro_f1'])}  ECE {fmt(m['ece'])}"
