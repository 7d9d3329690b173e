"""`headstart export BUNDLE --format onnx --out model.onnx`: the whole model as one file, checked against the bundle."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.lazy import api
from headstart.cli.options import Json
from headstart.cli.output import command_errors, console, print_json


def export(
    bundle: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle folder written by `headstart fit`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="Export format (onnx).")] = "onnx",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Output .onnx file or folder (default: BUNDLE/model.onnx); a JSON sidecar beside it. "
            "A fields (documents) bundle exports a folder (default: BUNDLE/export): OCR models, ONNX parts, a card.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing file that is not an earlier headstart export.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Export the whole model (frozen backbone + head) as one ONNX file plus a JSON sidecar.

    A fields bundle (documents) is exported as a folder: the OCR models, the text encoder and the line tagger as
    ONNX, the extractor's arrays, a sidecar and a README.md card saying how to chain them.
    """
    with command_errors(as_json):
        result = api.export(bundle, out=out, format=format, force=force)
        if as_json:
            print_json(result.to_dict())
            return
        if result.folder is not None:
            size = result.size_bytes / 1e6
            console.print(f"wrote [bold]{result.folder}[/] ({len(result.files)} files, {size:.1f} MB)")
            console.print(f"card {result.folder / 'README.md'} (how to chain OCR, features, encoder, tagger, decoding)")
            for part, check in result.checks.items():
                diff, limit = check["max_abs_diff"], check["atol"]
                console.print(f"parity of the {part}: max abs diff {diff:.2e} (limit {limit:g})")
            return
        console.print(f"wrote [bold]{result.onnx}[/] ({result.size_bytes / 1e6:.1f} MB, {result.exporter} exporter)")
        console.print(f"sidecar {result.sidecar} (labels, preprocessing, input names)")
        console.print(
            f"parity vs the bundle on {result.n_checked} items: max abs diff {result.max_abs_diff:.2e} (limit 1e-3)"
        )
