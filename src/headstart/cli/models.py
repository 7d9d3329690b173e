"""`headstart models`: the backbones installed here."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import Json
from headstart.cli.output import command_errors, console, print_json


def models(
    as_json: Json = False,
    test: Annotated[bool, typer.Option("--test", help="Also list the tiny test backbones.")] = False,
) -> None:
    """List installed backbones: name, modality, parameters, feature size, input size, licence."""
    from headstart.data.modalities import get_modality  # on use: --help stays light

    with command_errors(as_json):
        infos = api.list_backbones(include_test=test)
        if as_json:
            print_json({"backbones": [i.to_dict() for i in infos]})
            return
        table = Table(title="installed backbones")
        for column in ("name", "modality", "params", "feature dim", "input size", "license"):
            table.add_column(column)
        for i in infos:
            size = f"{i.input_size} {get_modality(i.modality).size_unit}"
            table.add_row(i.name, i.modality, f"{i.params / 1e6:.1f}M", str(i.feature_dim), size, i.license)
        console.print(table)
        console.print("Any local sentence-transformers/transformers folder also works as [bold]hf:PATH[/].")
