"""Shapes of the service: its options (`ServeConfig`) and the JSON bodies of every endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from headstart.config import OcrOptions
from headstart.data.audio import MAX_SECONDS


class ServeConfig(OcrOptions):
    """Options of `headstart serve` (CLI flags and `create_app(**options)` validate here); a documents model reads
    uploads with the OCR options (`OcrOptions`; None: as the bundle was fitted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch: int = Field(default=32, ge=1, le=4096, description="inputs per forward pass at most")
    max_wait_ms: float = Field(default=5.0, ge=0, le=10_000, description="how long a batch waits to fill")
    max_body_mb: float = Field(default=20.0, gt=0, le=1024, description="request body size limit")
    max_inputs: int = Field(default=64, ge=1, le=10_000, description="texts or files per request")
    max_text_chars: int = Field(default=10_000, ge=1, description="characters per text")
    max_image_pixels: int = Field(default=16_000_000, ge=1, description="width x height per image")
    max_audio_seconds: float = Field(default=MAX_SECONDS, gt=0, description="seconds per recording")
    top_k: int = Field(default=3, ge=1, description="labels returned per input unless the request asks")
    threads: int | None = Field(default=None, ge=1, le=256, description="CPU threads for the network")
    precision: Literal["fp32", "int8"] = Field(
        default="fp32", description="int8: the backbone dynamically quantized (faster, approximate; opt-in)"
    )
    cors_origins: tuple[str, ...] = Field(
        default=(), description="web origins allowed to call the API from a browser (CORS), e.g. https://app.example"
    )

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


class ServeOptions(TypedDict, total=False):
    """`ServeConfig`'s fields as keywords of `headstart.serve` / `create_app` (a test keeps the two equal)."""

    max_batch: int
    max_wait_ms: float
    max_body_mb: float
    max_inputs: int
    max_text_chars: int
    max_image_pixels: int
    max_audio_seconds: float
    top_k: int
    threads: int | None
    precision: str
    cors_origins: Sequence[str]
    ocr_max_side: int | None
    ocr_max_pages: int | None
    ocr_orientation: bool | None


class PredictRequest(BaseModel):
    """JSON body of `POST /v1/predict` for text models (strict: `"top_k": "3"` or `true` is refused, as documented)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: list[str] = Field(
        min_length=1,
        description='texts to predict for; one text may be sent as a bare string ({"inputs": "a text"})',
        examples=[["my card was charged twice"]],
    )
    top_k: int | None = Field(default=None, ge=1, description="labels per input (default: the server's --top-k)")

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_text(cls, value: Any) -> Any:
        """`{"inputs": "a text"}`, as Hugging Face clients send it, is one input."""
        return [value] if isinstance(value, str) else value

    @field_validator("top_k", mode="before")
    @classmethod
    def _integral_number(cls, value: Any) -> Any:
        """`3.0` is the integer 3 in JSON (and JSON Schema); `3.5`, `"3"` and `true` stay refused."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class LabelProbability(BaseModel):
    label: str
    probability: float


class InputPrediction(BaseModel):
    """One input's answer: its position in the request, the top label and the top-k labels.

    Multi-label models answer `labels` (every tag above its threshold) and `top`; regression models `value`;
    field extraction `fields`.
    """

    index: int
    id: str = Field(description="`inputs[i]` for texts, `files[i]` for uploads")
    filename: str | None = Field(
        default=None, description="uploads: the file name the client sent (its last path part only)"
    )
    label: str | None = Field(default=None, description="classification: the most probable label")
    probability: float | None = Field(default=None, description="classification: its probability")
    top: list[LabelProbability] = Field(default_factory=list, description="top-k labels or tags by probability")
    labels: list[str] | None = Field(default=None, description="multi-label: every tag above its threshold")
    value: float | None = Field(default=None, description="regression: the predicted number")
    fields: dict[str, dict[str, Any]] | None = Field(
        default=None, description="documents: each found field's value, confidence, lines, page and box"
    )


class SkippedInput(BaseModel):
    """An input left out with `?on_bad=skip`, and why."""

    index: int
    id: str
    filename: str | None = None
    reason: str


class PredictResponse(BaseModel):
    task: str = Field(default="classification", description="classification, multilabel or regression")
    predictions: list[InputPrediction]
    skipped: list[SkippedInput] | None = Field(
        default=None, description="with ?on_bad=skip: the unusable inputs (the others are predicted)"
    )
    model: str = Field(description="backbone and strategy of the served bundle")
    batch_ms: float = Field(description="time from queueing to the answer of the forward pass")


class ModelCard(BaseModel):
    """The public part of the bundle manifest: nothing that names a file on the server."""

    task: str
    modality: str
    input: str = Field(
        default="text", description="what the try-it page asks for: text (a text box) or file (an upload)"
    )
    labels: list[str]
    strategy: dict[str, Any]
    head: dict[str, Any]
    backbone: dict[str, Any] | None
    metrics: dict[str, Any]
    data: dict[str, Any]
    created: str | None
    seed: int | None
    versions: dict[str, str]
    limits: dict[str, Any]
    manifest_sha256: str | None = Field(
        default=None, description="sha256 of the served bundle's manifest.json: which bundle this is"
    )
    run_id: str | None = Field(default=None, description="the tracked run that wrote the bundle, if recorded")


class Health(BaseModel):
    """Liveness and counters. With `--workers N` each process answers for itself: `worker_pid` says which."""

    status: str
    model: str
    modality: str
    uptime_seconds: float
    requests: int = Field(description="client requests answered by this process (the warm-up is not counted)")
    batches: int
    items: int
    queued: int
    worker_pid: int = Field(description="the server process that answered; the counters are its own")


class ErrorBody(BaseModel):
    """Every error answer: the same fields as `headstart ... --json` prints."""

    error: str
    message: str
    expected: str | None = None
    fix: str | None = None
