"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
Threads = Annotated[
    Optional[int], typer.Option("--threads", min=1, help="CPU threads for the network (default: all cores).")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")]
TextColumn = Annotated[
    Optional[str], typer.Option("--text-column", help="Table column holding the text (detected when obvious).")
]
LabelColumn = Annotated[
    Optional[str], typer.Option("--label-column", help="Table column holding the label (detected when obvious).")
]
OnBad = Annotated[
    str,
    typer.Option(
        "--on-bad", help="What to do with an unreadable item: 'skip' (list it and go on) or 'fail' (stop)."
    ),
]
