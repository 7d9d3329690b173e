"""`headstart models`: the backbones installed here."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli.lazy import api
from headstart.cli.options import Json
from headstart.cli.output import command_errors, console, print_json


def models(
    as_json: Json = False,
    test: Annotated[bool, typer.Option("--test", help="Also list the tiny test backbones.")] = False,
    all_forms: Annotated[
        bool, typer.Option("--all", help="Also list the hf: forms supported and the hub models cached here.")
    ] = False,
) -> None:
    """List installed backbones: name, modality, parameters, feature size, input size, licence."""
    from headstart.data.modalities import get_modality  # on use: --help stays light

    with command_errors(as_json):
        infos = api.list_backbones(include_test=test)
        if as_json:
            extra = _hf_forms_json() if all_forms else {}
            print_json({"backbones": [i.to_dict() for i in infos], **extra})
            return
        table = Table(title="installed backbones")
        for column in ("name", "modality", "params", "feature dim", "input size", "license"):
            table.add_column(column)
        for i in infos:
            size = f"{i.input_size} {get_modality(i.modality).size_unit}"
            table.add_row(i.name, i.modality, f"{i.params / 1e6:.1f}M", str(i.feature_dim), size, i.license)
        console.print(table)
        if all_forms:
            _print_hf_forms()
            return
        console.print(
            "Any local transformers folder (text or vision) also works as [bold]hf:PATH[/]; "
            "[bold]headstart models --all[/] lists the forms."
        )


def _hf_forms_json() -> dict[str, Any]:
    from headstart.backbones.hf_source import SUPPORTED_FORMS, cached_hub_models

    return {
        "hf_forms": [asdict(form) for form in SUPPORTED_FORMS],
        "hf_cached": [{"name": f"hf:{repo}", "kind": kind} for repo, kind in cached_hub_models()],
    }


def _print_hf_forms() -> None:
    from headstart.backbones.hf_source import ALLOW_DOWNLOAD, SUPPORTED_FORMS, cached_hub_models

    table = Table(title="hf:PATH_OR_ID forms (a folder saved with save_pretrained, or a hub id)")
    for column in ("kind", "modality", "families", "pooling", "also"):
        table.add_column(column)
    for form in SUPPORTED_FORMS:
        table.add_row(form.kind, form.modality, form.families, form.pooling, form.extra)
    console.print(table)
    cached = cached_hub_models()
    if cached:
        listed = Table(title="hub models in the local Hugging Face cache (usable offline)")
        listed.add_column("name")
        listed.add_column("kind")
        for repo, kind in cached:
            listed.add_row(f"hf:{repo}", kind)
        console.print(listed)
    console.print(f"Hub ids not in the cache are downloaded only with {ALLOW_DOWNLOAD}=1.")
