"""`headstart serve BUNDLE`: the HTTP service (FastAPI + uvicorn) with micro-batching and a try-it page.

The one command that calls the HTTP face (`headstart.server`) rather than the api: its handlers call the api.
"""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.options import OcrMaxPages, OcrMaxSide, OcrOrientation, Threads, default
from headstart.cli.output import command_errors, err_console, print_json
from headstart.config import OcrOptions


def serve(
    bundle: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle folder written by `headstart fit`.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes (each loads the model).")] = 1,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Inputs per forward pass at most.")] = 32,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, help="How long a batch waits for more requests.")
    ] = 5.0,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001, help="Request body size limit.")] = 20.0,
    max_inputs: Annotated[int, typer.Option("--max-inputs", min=1, help="Texts or files per request.")] = 64,
    max_text_chars: Annotated[int, typer.Option("--max-text-chars", min=1, help="Characters per text.")] = 10_000,
    max_image_pixels: Annotated[
        int, typer.Option("--max-image-pixels", min=1, help="Width x height per image.")
    ] = 16_000_000,
    max_audio_seconds: Annotated[
        float, typer.Option("--max-audio-seconds", min=0.001, help="Duration per recording, in seconds.")
    ] = 120.0,  # headstart.data.audio.MAX_SECONDS (not imported: the CLI starts without numpy)
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per input unless a request asks.")] = 3,
    threads: Threads = None,
    ocr_max_side: OcrMaxSide = default(OcrOptions, "ocr_max_side"),
    ocr_max_pages: OcrMaxPages = default(OcrOptions, "ocr_max_pages"),
    ocr_orientation: OcrOrientation = default(OcrOptions, "ocr_orientation"),
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="fp32, or int8: the backbone quantized (faster on CPUs with int8 dot products; approximate).",
        ),
    ] = "fp32",
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="A web origin allowed to call the API from a browser (repeatable; '*' for any). Default: none.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='When ready, print one JSON line on stdout ({"status": "ready", "url": ...}); errors as JSON.',
        ),
    ] = False,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, GET /v1/model, GET /v1/health, docs at /docs, page at /."""

    def announce(url: str) -> None:
        if as_json:  # one line: a script reads it, then calls the URL
            print_json({"status": "ready", "url": url, "bundle": bundle, "docs": f"{url}docs"}, indent=None)
        else:  # one line however long, for the same reason
            err_console.print(
                f"[bold green]ready[/]: serving {bundle} at {url} (try-it page at /, API docs at /docs); Ctrl+C stops",
                soft_wrap=True,
            )

    with command_errors(as_json):
        from headstart.server.process import serve as serve_http  # the HTTP face, whose handlers call the api

        err_console.print(f"loading {bundle} …", soft_wrap=True)
        serve_http(
            bundle,
            on_ready=announce,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_body_mb=max_body_mb,
            max_inputs=max_inputs,
            max_text_chars=max_text_chars,
            max_image_pixels=max_image_pixels,
            max_audio_seconds=max_audio_seconds,
            top_k=top_k,
            threads=threads,
            precision=precision,
            cors_origins=tuple(cors_origin or ()),
            ocr_max_side=ocr_max_side,
            ocr_max_pages=ocr_max_pages,
            ocr_orientation=ocr_orientation,
        )
