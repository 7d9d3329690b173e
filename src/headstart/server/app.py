"""The FastAPI app over one loaded bundle: `/v1/predict`, `/v1/model`, `/v1/health` and the try-it page at `/`.

Handlers only parse and check requests; predictions go through a `MicroBatcher` whose worker thread calls
`headstart.api.predict_batch` on the loaded bundle. Every `HeadstartError` becomes its HTTP status with `to_dict()`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Unpack

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from headstart import api
from headstart.bundle import MANIFEST, Predictor
from headstart.bundle import load as load_bundle
from headstart.config import validated
from headstart.data.modalities import get_modality
from headstart.errors import HeadstartError
from headstart.manifest import Manifest
from headstart.provenance import VERSION as __version__
from headstart.server.batching import BatchStats, MicroBatcher
from headstart.server.forms import read_form
from headstart.server.inputs import check_count, check_texts, display_name, save_uploads, scrub, upload_filename
from headstart.server.limits import (
    BodySizeLimit,
    InvalidInputError,
    TooLargeError,
    UnsupportedMediaTypeError,
)
from headstart.server.openapi import ERRORS as OPENAPI_ERRORS
from headstart.server.openapi import predict_operation
from headstart.server.schemas import (
    ErrorBody,
    Health,
    InputPrediction,
    LabelProbability,
    ModelCard,
    PredictRequest,
    PredictResponse,
    ServeConfig,
    ServeOptions,
    SkippedInput,
)
from headstart.server.tempdirs import clean_stale_upload_folders, upload_folder
from headstart.tasks import Answer

STATIC = Path(__file__).parent / "static"
SWAGGER_MOUNT = "/swagger-ui"
ENV_SPEC = "HEADSTART_SERVE_SPEC"  # JSON {"bundle": ..., "options": {...}} for worker processes
log = logging.getLogger("headstart.serve")

# An item's outcome from a batch: its answer, or why it could not be used.
Outcome = Answer | str


class PredictionService:
    """A predictor behind a micro-batcher, plus what the endpoints report about it.

    The batcher queues (item, top_k) pairs from every request and answers a batch with one `api.predict_batch`.
    """

    def __init__(self, predictor: Predictor, config: ServeConfig) -> None:
        self.predictor = predictor
        self.config = config
        self.labels = predictor.labels
        self.modality = predictor.modality
        self.task = predictor.task
        self.notes = predictor.configure(
            threads=config.threads, batch_size=config.max_batch, precision=config.precision, ocr=config.ocr_settings()
        )  # a documents model read with other OCR settings than at fit time
        for note in self.notes:
            log.warning("%s", note)
        self.batcher: MicroBatcher[tuple[str, int], Outcome] = MicroBatcher(
            self._predict_items, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms
        )
        self.started = time.time()
        backbone = predictor.manifest.backbone
        self.base_name = f"{backbone.name if backbone else 'no backbone'} + {predictor.manifest.strategy.name}"
        self.precision: str = config.precision  # what runs: fp32 when int8 disagreed on this CPU (after warm-up)
        self.precision_note: str | None = None
        self.manifest_sha256 = manifest_digest(predictor.path)

    @property
    def name(self) -> str:
        return self.base_name if self.precision == "fp32" else f"{self.base_name} ({self.precision})"

    def _predict_items(self, batch: Sequence[tuple[str, int]]) -> list[Outcome]:
        """One forward pass for a batch (runs on the batcher's worker thread)."""
        return api.predict_batch(self.predictor, [item for item, _ in batch], top_k=[k for _, k in batch])

    async def warm_up(self) -> None:
        """Open the frozen network's session before the first request (and fail early if it cannot); the warm-up
        is not counted in /v1/health."""
        if get_modality(self.modality).accepts_texts:
            await self.batcher.submit([("warm up", 1)])
        else:
            with upload_folder() as tmp:
                path = tmp / "warm-up.png"
                Image.new("RGB", (8, 8), (128, 128, 128)).save(path)
                await self.batcher.submit([(str(path), 1)])
        self.batcher.stats = BatchStats()
        runner = getattr(self.predictor.model, "frozen_runner", None)
        if self.config.precision == "int8" and runner is not None and runner.running_precision != "int8":
            self.precision, self.precision_note = runner.running_precision, runner.degraded
            log.warning("--precision int8 is not used: %s", self.precision_note)

    def top(self, top_k: int) -> int:
        """How many labels an answer lists: what the request asks, at most the model's labels."""
        return min(top_k, len(self.labels))

    def respond(
        self,
        outcomes: list[Outcome],
        kind: str,
        started: float,
        tmp: Path | None = None,
        names: list[str | None] | None = None,
        skip_bad: bool = False,
    ) -> PredictResponse:
        predictions = []
        skipped: list[SkippedInput] = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, str):
                reason = scrub(outcome, tmp) if tmp is not None else outcome
                filename = upload_filename(names[i]) if names is not None else None
                if skip_bad:
                    skipped.append(SkippedInput(index=i, id=f"{kind}[{i}]", filename=filename, reason=reason))
                    continue
                named = f" ({display_name(names[i])!r})" if names is not None else ""
                raise InvalidInputError(
                    f"{kind}[{i}]{named} cannot be used: {reason}",
                    expected="a readable image" if kind == "files" else "a non-empty text",
                    fix=f"fix or remove {kind}[{i}] and send the request again, or add ?on_bad=skip",
                )
            top = [LabelProbability(label=label, probability=p) for label, p in outcome.top]
            predictions.append(
                InputPrediction(
                    index=i,
                    id=f"{kind}[{i}]",
                    filename=upload_filename(names[i]) if names is not None else None,
                    label=outcome.label,
                    probability=outcome.probability,
                    top=top,
                    labels=outcome.labels,
                    value=outcome.value,
                    fields=outcome.fields,
                )
            )
        return PredictResponse(
            predictions=predictions,
            skipped=skipped if skip_bad else None,
            model=self.name,
            batch_ms=(time.perf_counter() - started) * 1000,
            task=self.task,
        )

    async def predict_texts(self, texts: list[str], top_k: int, skip_bad: bool = False) -> PredictResponse:
        kind = get_modality(self.modality)
        if not kind.accepts_texts:
            raise InvalidInputError(
                f"this model classifies {kind.noun}s, but the request sent texts",
                expected=f"multipart/form-data with {kind.noun} files in the field 'files'",
                fix=f"upload {kind.noun}s, e.g. curl -F files=@FILE .../v1/predict",
            )
        problems = check_texts(texts, self.config, skip_bad)
        started = time.perf_counter()
        usable = [text for i, text in enumerate(texts) if i not in problems]
        k = self.top(top_k)
        answers = iter(await self.batcher.submit([(text, k) for text in usable]) if usable else [])
        outcomes: list[Outcome] = [problems[i] if i in problems else next(answers) for i in range(len(texts))]
        return self.respond(outcomes, "inputs", started, None, skip_bad=skip_bad)

    async def predict_uploads(
        self, uploads: list[tuple[str | None, bytes]], top_k: int, skip_bad: bool = False
    ) -> PredictResponse:
        if not get_modality(self.modality).accepts_uploads:
            raise InvalidInputError(
                "this model classifies texts, but the request uploaded files",
                expected='application/json like {"inputs": ["a text", ...]}',
                fix="send the texts as JSON; to classify images, serve an image model",
            )
        check_count(len(uploads), "files", self.config)
        with upload_folder() as directory:
            saved = await anyio.to_thread.run_sync(
                save_uploads, uploads, directory, self.config, skip_bad, get_modality(self.modality)
            )
            started = time.perf_counter()
            k = self.top(top_k)
            readable = [(p, k) for p in saved if isinstance(p, str)]
            predicted = iter(await self.batcher.submit(readable) if readable else [])
            outcomes: list[Outcome] = [next(predicted) if isinstance(p, str) else p.reason for p in saved]
            names = [name for name, _ in uploads]
            return self.respond(outcomes, "files", started, directory, names, skip_bad=skip_bad)

    def health(self) -> Health:
        stats = self.batcher.stats
        return Health(
            status="ok",
            model=self.name,
            modality=self.modality,
            uptime_seconds=round(time.time() - self.started, 3),
            requests=stats.requests,
            batches=stats.batches,
            items=stats.items,
            queued=self.batcher.queued,
            worker_pid=os.getpid(),
        )

    def card(self) -> ModelCard:
        card = public_card(self.predictor.manifest, self.config, self.manifest_sha256)
        card.limits["precision"] = self.precision
        if self.precision_note is not None:
            card.limits["precision_note"] = self.precision_note
        return card


def manifest_digest(bundle: Path) -> str | None:
    """sha256 of the bundle's manifest.json as loaded (None for a predictor built without a bundle folder)."""
    try:
        return hashlib.sha256((Path(bundle) / MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def public_card(manifest: Manifest, config: ServeConfig, manifest_sha256: str | None = None) -> ModelCard:
    """The manifest without anything local: no data source path, options, notes, skipped-item ids or tracking URI.

    `manifest_sha256` and the recorded `run_id` identify the served bundle (e.g. to check it after a promote).
    """
    backbone, data = manifest.backbone, manifest.data
    head = {k: v for k, v in manifest.head.to_dict().items() if isinstance(v, str | int | float | bool | None)}
    return ModelCard(
        task=manifest.task,
        modality=manifest.modality,
        input=get_modality(manifest.modality).page_input,
        labels=list(manifest.labels),
        strategy=manifest.strategy.to_dict(),
        head=head,
        backbone=None
        if backbone is None
        else {k: getattr(backbone, k) for k in ("name", "feature_dim", "weights_sha256", "preprocess")},
        metrics=dict(manifest.metrics),
        data={k: getattr(data, k) for k in ("fingerprint", "labels_per_class", "counts", "class_counts_train")},
        created=manifest.created,
        seed=manifest.seed,
        versions={str(k): str(v) for k, v in manifest.versions.items()},
        limits={
            "max_inputs": config.max_inputs,
            "max_body_mb": config.max_body_mb,
            "max_text_chars": config.max_text_chars,
            "max_image_pixels": config.max_image_pixels,
            "max_audio_seconds": config.max_audio_seconds,
            "max_batch": config.max_batch,
            "max_wait_ms": config.max_wait_ms,
            "precision": config.precision,
        },
        manifest_sha256=manifest_sha256,
        run_id=manifest.run_id or None,
    )


def _skip_bad(raw: str | None) -> bool:
    """`?on_bad=skip` answers the usable inputs and lists the others; `fail` (default) refuses the request."""
    if raw in (None, "fail"):
        return False
    if raw == "skip":
        return True
    raise InvalidInputError(
        f"on_bad={raw!r} is not a policy", expected="skip or fail", fix="pass ?on_bad=skip (or leave it out)"
    )


def _top_k(raw: Any, default: int) -> int:
    """`top_k` from the query string or a form field: ASCII digits only, at least 1 (5000 digits are refused too)."""
    if raw is None:
        return default
    value = 0
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        try:
            value = int(raw)
        except ValueError:  # over Python's limit of digits for int(str)
            value = 0
    if value < 1:
        shown = raw if not isinstance(raw, str) or len(raw) <= 20 else f"{raw[:20]}... ({len(raw):,} characters)"
        raise InvalidInputError(
            f"top_k={shown!r} is not a positive integer", expected="an integer >= 1", fix="pass e.g. top_k=3"
        )
    return value


async def _read_json(request: Request) -> PredictRequest:
    body = await request.body()
    try:
        document = json.loads(body)
    except RecursionError:
        raise InvalidInputError(
            "the request body is JSON nested too deeply to read",
            expected='{"inputs": ["a text", ...], "top_k": 3}',
            fix="send a JSON object with an 'inputs' list of strings",
        ) from None
    except ValueError as err:  # not JSON, not UTF-8, or a number too long to convert (JSONDecodeError is one too)
        raise InvalidInputError(
            f"the request body is not valid JSON ({err})",
            expected='{"inputs": ["a text", ...], "top_k": 3}',
            fix="send a JSON object with an 'inputs' list of strings",
        ) from None
    try:
        return PredictRequest.model_validate(document)
    except ValidationError as err:
        raise _validation_error(err.errors()) from None


def _validation_error(errors: Any) -> InvalidInputError:
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return InvalidInputError(
        f"invalid request: {where}: {first.get('msg')}",
        expected='{"inputs": ["a text", ...], "top_k": 3} (JSON) or image files in the multipart field "files"',
        fix=f"correct {where} (see /docs)",
    )


async def _read_uploads(request: Request, config: ServeConfig) -> tuple[list[tuple[str | None, bytes]], Any]:
    try:
        form = await read_form(request, max_files=config.max_inputs, max_fields=32)
    except MultiPartException as err:
        if "Too many files" in err.message:
            raise TooLargeError(
                f"the request has more than {config.max_inputs} files, the limit per request",
                expected=f"at most {config.max_inputs} files",
                fix="split the files over several requests (they are batched together anyway)",
            ) from None
        raise InvalidInputError(
            f"the multipart body cannot be read ({err.message})",
            expected="multipart/form-data with image files in the field 'files'",
            fix="send the files as a browser form or `curl -F files=@photo.jpg` does",
        ) from None
    uploads = []
    try:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads.append((value.filename, await value.read()))
    finally:
        await form.close()
    return uploads, form.get("top_k")


def _add_docs(app: FastAPI, name: str) -> None:
    """`/docs`: Swagger UI from the `swagger-ui-bundle` package's files, so the page works without internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount(SWAGGER_MOUNT, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"headstart: {name} (API)",
            swagger_js_url=f"{SWAGGER_MOUNT}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_MOUNT}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_MOUNT}/favicon-32x32.png",
        )


def create_app(
    bundle: str | Path | Predictor, *, on_ready: Callable[[], None] | None = None, **options: Unpack[ServeOptions]
) -> FastAPI:
    """The HTTP service for `bundle` (a path, or an already loaded Predictor) as a FastAPI app: `headstart.create_app`.

    Options are `headstart.server.ServeConfig` fields (max_batch, max_wait_ms, top_k, threads, precision...).
    `on_ready` is called once the model is warmed up, just before the server accepts requests.
    """
    config: ServeConfig = validated(ServeConfig, **options)
    predictor = bundle if isinstance(bundle, Predictor) else load_bundle(bundle)
    service = PredictionService(predictor, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(clean_stale_upload_folders)  # left by servers killed mid-request
        await service.warm_up()
        # Startup objects (torch, transformers, the model) are long-lived: keep them out of the cyclic GC,
        # whose full passes over them otherwise stall every in-flight request for hundreds of milliseconds.
        gc.collect()
        gc.freeze()
        log.info("serving %s (%d labels)", service.name, len(service.labels))
        if on_ready is not None:
            on_ready()
        yield
        await service.batcher.stop()

    app = FastAPI(
        title="headstart",
        version=__version__,
        description=f"Predictions of the bundle **{service.name}** ({service.modality}: {len(service.labels)} labels).",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(BodySizeLimit, limit_bytes=config.max_body_bytes)
    if config.cors_origins:  # a web front-end on another origin calls the API (off by default)
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app, service.name)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/v1/health", response_model=Health, summary="Liveness and batching counters")
    async def health() -> Health:
        return service.health()

    # load balancers probe with HEAD: answer 200 without a body
    @app.head("/", include_in_schema=False)
    async def page_probe() -> Response:
        return Response(status_code=200, media_type="text/html")

    @app.head("/v1/health", include_in_schema=False)
    async def health_probe() -> Response:
        return Response(status_code=200, media_type="application/json")

    @app.get("/v1/model", response_model=ModelCard, summary="The model card: labels, strategy, backbone, metrics")
    async def model() -> ModelCard:
        return service.card()

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        summary="Top-k labels with probabilities for texts (JSON)"
        if get_modality(service.modality).accepts_texts
        else f"Top-k labels with probabilities for {get_modality(service.modality).noun}s (multipart 'files', or one "
        "file as the body)",
        openapi_extra=predict_operation(service.modality, config),
        responses={status: {"model": ErrorBody, "description": text} for status, text in OPENAPI_ERRORS.items()},
        response_model_exclude_none=True,  # each task kind answers with its own fields
    )
    async def predict(request: Request) -> PredictResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        query_k = _top_k(request.query_params.get("top_k"), config.top_k)  # checked even when the body sets one
        skip_bad = _skip_bad(request.query_params.get("on_bad"))
        if media == "application/json" or media.endswith("+json"):
            body = await _read_json(request)
            top_k = body.top_k if body.top_k is not None else query_k
            return await service.predict_texts(body.inputs, top_k, skip_bad)
        if media == "multipart/form-data":
            uploads, form_k = await _read_uploads(request, config)
            return await service.predict_uploads(uploads, _top_k(form_k, query_k), skip_bad)
        if media.startswith(("image/", "audio/")) or media == "application/octet-stream":  # one raw file as the body
            upload = (request.headers.get("x-filename"), await request.body())
            return await service.predict_uploads([upload], query_k, skip_bad)
        raise UnsupportedMediaTypeError(
            f"content type {media or '(none)'!r} is not accepted",
            expected='application/json {"inputs": [...]} for text models; multipart/form-data files, or one image as '
            "the raw body (Content-Type: image/jpeg, ...), for image models",
            fix="set Content-Type (curl -H 'Content-Type: application/json' -d ..., or curl -F files=@x.jpg)",
        )

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HeadstartError)
    async def headstart_error(request: Request, err: HeadstartError) -> JSONResponse:
        return JSONResponse(err.to_dict(), status_code=err.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        error = _validation_error(err.errors())
        return JSONResponse(error.to_dict(), status_code=error.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        name = {404: "NotFound", 405: "MethodNotAllowed"}.get(err.status_code, "HTTPError")
        body = {"error": name, "message": str(err.detail), "expected": None, "fix": "see /docs for the endpoints"}
        return JSONResponse(body, status_code=err.status_code, headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        body = {
            "error": "InternalError",
            "message": f"the server failed on this request ({type(err).__name__})",
            "expected": None,
            "fix": "this is a bug in headstart: report it with the request that caused it",
        }
        return JSONResponse(body, status_code=500)


def app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes: the bundle and options come from `HEADSTART_SERVE_SPEC`."""
    spec = json.loads(os.environ[ENV_SPEC])
    return create_app(spec["bundle"], **spec.get("options", {}))
