"""Validated options for every command (CLI flags, Python keywords and, later, HTTP bodies)."""

from __future__ import annotations

import difflib
import os
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from headstart.errors import UsageError

OnBad = Literal["skip", "fail"]


# Every FitConfig field says whether it enters the resume fingerprint (`fingerprint_fields`): a checkpoint resumes
# only a run whose fingerprinted options and data are the same. A field without the decision is refused.
LEARNS: dict[str, Any] = {"fingerprint": True}  # can change what a gradient fit learns
RUNS: dict[str, Any] = {"fingerprint": False}  # how, where or whether a fit runs or is recorded, or another
# strategy's option: a resume ignores it (the bit-identical guarantee holds across it)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataOptions(_Options):
    """How to read a dataset."""

    text_column: str | None = Field(default=None, json_schema_extra=LEARNS)
    label_column: str | None = Field(default=None, json_schema_extra=LEARNS)
    on_bad: OnBad = Field(default="skip", json_schema_extra=RUNS)
    # task kind: detected (auto), or forced; see headstart.tasks
    task: str = Field(  # auto or a registered kind (checked when data is read)
        default="auto", json_schema_extra=LEARNS
    )
    target: str | None = Field(default=None, json_schema_extra=LEARNS)  # a numeric column to regress on
    # between the tags of a multi-label cell
    separator: str = Field(default=";", min_length=1, json_schema_extra=LEARNS)

    def reading(self) -> dict[str, Any]:
        """These options as `load_dataset` keywords (of any config that reads data)."""
        return {name: getattr(self, name) for name in DataOptions.model_fields}


class RunOptions(_Options):
    """How to run the frozen network."""

    threads: int | None = Field(default=None, ge=1, le=256, json_schema_extra=RUNS)
    batch_size: int = Field(default=32, ge=1, le=4096, json_schema_extra=LEARNS)
    progress: bool = Field(default=True, json_schema_extra=RUNS)


class TrackOptions(_Options):
    """Whether the command is recorded as an MLflow run (see headstart.tracking; $HEADSTART_NO_TRACK=1 also
    turns it off)."""

    track: bool = Field(default=True, json_schema_extra=RUNS)


class EngineOptions(_Options):
    """Where the work runs: this process (`local`) or a Ray cluster (`ray`; None address = a local Ray)."""

    engine: Literal["local", "ray"] = Field(default="local", json_schema_extra=RUNS)
    ray_address: str | None = Field(default=None, json_schema_extra=RUNS)


class StrategyOptions(_Options):
    """What `fit` and every cell of a `study` pass to the strategy: one declaration, one set of defaults."""

    backbone: str | None = Field(default=None, json_schema_extra=LEARNS)
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0, json_schema_extra=LEARNS)
    head: Literal["logreg", "svm"] = Field(default="logreg", json_schema_extra=RUNS)  # linear, baseline
    # zero-shot: the text backbone that matches label names to an image backbone's source classes
    text_backbone: str | None = Field(default=None, json_schema_extra=RUNS)
    # zero-shot: YAML/JSON file {label: description} used instead of the bare label names
    label_descriptions: str | None = Field(default=None, json_schema_extra=RUNS)
    # zero-shot and linear's text prior with an image-text backbone (CLIP, SigLIP): the templates each label name is
    # put into, "{}" once where the name goes; their embeddings are averaged. None: hf_clip.PROMPT_TEMPLATES
    prompt_templates: list[str] | None = Field(default=None, min_length=1, max_length=100, json_schema_extra=RUNS)
    # gradient strategies (partial:K, full, scratch, contrastive); None = the strategy's default
    max_epochs: int | None = Field(default=None, ge=1, le=10_000, json_schema_extra=LEARNS)
    lr: float | None = Field(default=None, gt=0, lt=1, json_schema_extra=LEARNS)
    patience: int | None = Field(default=None, ge=0, json_schema_extra=LEARNS)
    augment: bool = Field(default=True, json_schema_extra=LEARNS)
    views: int = Field(default=4, ge=1, le=64, json_schema_extra=LEARNS)
    # stop training gracefully after this long (per fit); a resumed run may be given another budget
    time_budget: float | None = Field(default=None, gt=0, json_schema_extra=RUNS)

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration_value(value)

    @field_validator("prompt_templates", mode="before")
    @classmethod
    def _one_template(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # one template given as a plain string

    @field_validator("prompt_templates")
    @classmethod
    def _templates(cls, value: list[str] | None) -> list[str] | None:
        for template in value or []:
            check_prompt_template(template)
        return value


class OcrOptions(_Options):
    """How documents are read by OCR (`headstart.ocr.OcrSettings`): they change the lines a fields model learns
    from and reads. None: the default setting (`fit`, `inspect`), or the one a bundle was fitted with (`predict`)."""

    ocr_max_side: int | None = Field(default=None, ge=32, le=100_000, json_schema_extra=LEARNS)  # px
    ocr_max_pages: int | None = Field(default=None, ge=1, le=100_000, json_schema_extra=LEARNS)
    ocr_orientation: bool | None = Field(default=None, json_schema_extra=LEARNS)  # turn pages upright

    def ocr_settings(self) -> dict[str, Any]:
        """These options as `OcrSettings.from_options` keywords (None: not given)."""
        return {"max_side": self.ocr_max_side, "max_pages": self.ocr_max_pages, "orientation": self.ocr_orientation}


class FitConfig(DataOptions, RunOptions, EngineOptions, TrackOptions, StrategyOptions, OcrOptions):
    """Everything `fit` needs; recorded in the bundle manifest so a run can be repeated."""

    strategy: str = Field(default="linear", json_schema_extra=LEARNS)
    C: float | None = Field(default=None, gt=0, json_schema_extra=RUNS)  # linear, baseline
    labels_per_class: int | None = Field(default=None, ge=1, json_schema_extra=LEARNS)
    seed: int = Field(default=0, ge=0, json_schema_extra=LEARNS)
    out: str = Field(default="model", json_schema_extra=RUNS)
    lr_ratio: float = Field(default=10.0, ge=1.0, json_schema_extra=LEARNS)
    resume: bool = Field(default=False, json_schema_extra=RUNS)
    # auto: candidate backbones to rank (default: --backbone, else every installed one of the data's modality)
    candidates: list[str] | None = Field(default=None, json_schema_extra=RUNS)
    # exemplars kept per class in the bundle for `headstart expand` (herding; 0 disables); chosen after training
    memory: int | None = Field(default=None, ge=0, le=100_000, json_schema_extra=RUNS)  # None: the strategy's default
    # the memory's size cap in MiB (None: 32)
    memory_mb: float | None = Field(default=None, gt=0, le=1_000_000, json_schema_extra=RUNS)
    # regression with gradient strategies: mean squared error or Huber loss (on the standardised target)
    loss: Literal["mse", "huber"] = Field(default="mse", json_schema_extra=LEARNS)


def fingerprint_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of `model` that enter the resume fingerprint (declared `LEARNS`).

    Raises TypeError naming any field declared neither `LEARNS` nor `RUNS`, so a new option cannot silently
    break `--resume` (resuming a run trained with another value) or make it refuse (a cosmetic option)."""
    undecided = [
        name
        for name, info in model.model_fields.items()
        if not isinstance(info.json_schema_extra, dict)
        or not isinstance(info.json_schema_extra.get("fingerprint"), bool)
    ]
    if undecided:
        raise TypeError(
            f"{model.__name__} field(s) {', '.join(undecided)} do not say whether they enter the resume fingerprint: "
            "declare Field(..., json_schema_extra=LEARNS) or RUNS (see headstart.config)"
        )
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra["fingerprint"]
    )


class ExpandConfig(DataOptions, RunOptions, TrackOptions):
    """Options of `expand`: add classes (and, with `update`, examples of existing ones) to a bundle."""

    out: str
    update: bool = False
    memory: int | None = Field(default=None, ge=0, le=100_000)  # None: the parent's per-class count
    memory_mb: float | None = Field(default=None, gt=0, le=1_000_000)  # None: the parent's size cap
    allow_forgetting: bool = False
    test_size: float = Field(default=0.2, ge=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0)
    max_epochs: int | None = Field(default=None, ge=1, le=10_000)
    lr: float | None = Field(default=None, gt=0, lt=1)
    patience: int | None = Field(default=None, ge=0)
    distill_weight: float = Field(default=1.0, ge=0.0)
    temperature: float = Field(default=2.0, gt=0.0)
    head_refit: bool = True  # fine-tuned bundles: refit the head as balanced logistic regression after training
    head_only: bool | None = None  # fine-tuned: only refit the head (None: yes with stored activations and no
    # training option set; False: train the last stages first)


class EvaluateConfig(DataOptions, RunOptions):
    """Options of `evaluate`."""

    split: Literal["test", "all"] | None = None  # None: the test split when DATA marks one, else every item


class PromoteGate(_Options):
    """The gate of `promote`: what the candidate must beat, by how much, and where the decision is recorded."""

    metric: str = "macro_f1"  # checked by the promotion service: macro_f1, accuracy or ece
    margin: float = 0.01  # the candidate's metric must be better by at least this
    class_tolerance: float = 0.05  # no class's F1 may drop by more than this
    model_name: str = "headstart"  # the MLflow registered model whose `production` alias moves
    allow_missing_classes: bool = False  # promote although `on` lacks examples of some class
    allow_training_data: bool = False  # compare on the candidate's own training data


class PredictConfig(RunOptions, OcrOptions):
    """Options of `predict`."""

    text_column: str | None = None
    top_k: int = Field(default=3, ge=1)
    on_bad: OnBad = "skip"


class RankConfig(DataOptions, RunOptions, EngineOptions, TrackOptions):
    """Options of `rank`: which backbones and cuts to score, by which metric, on how many labels."""

    backbones: list[str] | None = None  # default: every installed backbone of the data's modality
    cuts: str | list[int | str] = "last"  # "last", "all", or stage indices / names
    metric: Literal["logme", "knn", "hscore", "transrate", "nce", "leep"] = "logme"
    labels_per_class: int | None = Field(default=None, ge=1)
    max_items: int | None = Field(default=2000, ge=2)
    seed: int = Field(default=0, ge=0)


class StudyConfig(DataOptions, RunOptions, EngineOptions, TrackOptions, StrategyOptions):
    """Options of `study`: the grid (strategies × label budgets × seeds), its limits and the verdict's targets.

    The `StrategyOptions` fields reach every cell's fit as they are (`time_budget` is per fit)."""

    # None: linear and baseline, and contrastive on texts (`strategies.default_study_strategies`)
    strategies: list[str] | None = Field(default=None, min_length=1)
    budgets: list[int | None] = Field(default_factory=lambda: [5, 20, None], min_length=1)  # None = all labels
    seeds: int = Field(default=3, ge=1, le=1000)
    out: str = "study"
    max_time: float | None = Field(default=None, gt=0)
    country: str | None = None  # ISO alpha-3; None: $HEADSTART_COUNTRY, else the world average
    energy: bool = True
    target_accuracy: float | None = Field(default=None, gt=0, le=1)
    time_limit_per_fit: float | None = Field(default=None, gt=0)
    split_seed: int = Field(default=0, ge=0)  # the one fixed test split of every cell

    @field_validator("max_time", "time_limit_per_fit", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration_value(value)


CLI_CALLER: ContextVar[bool] = ContextVar("headstart_cli_caller", default=False)  # set while a CLI command runs


def validated(model: type[BaseModel], **values: Any) -> Any:
    """Build `model` from keyword values, turning validation errors into a UsageError.

    The error names the CLI flag (`--test-size`) inside a `headstart` command (`CLI_CALLER`), else the keyword
    (`test_size=`).
    """
    try:
        return model(**values)
    except ValidationError as err:
        raise _option_error(model, err.errors()[0], cli=CLI_CALLER.get()) from err


def _option_error(model: type[BaseModel], first: Any, *, cli: bool) -> UsageError:
    """The UsageError for pydantic's first complaint about `model`'s options, in the caller's vocabulary."""
    name = ".".join(str(p) for p in first["loc"]) or "options"
    option, value = str(first["loc"][0]) if first["loc"] else name, first.get("input")
    command = model.__name__.removesuffix("Config").lower()
    flag = f"--{option.replace('_', '-')}"
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(option, list(model.model_fields), n=1, cutoff=0.6)
        guess = close[0] if close else None
        return UsageError(
            f"unknown option {option!r}" + (f"; did you mean {guess!r}?" if guess else ""),
            expected=f"one of the fields of {model.__module__}.{model.__name__}",
            fix=f"pass {guess}= instead" if guess else f"remove it (see help(headstart.{command}) for the options)",
        )
    fix = f"correct {flag} (see --help)" if cli else f"correct {option}= (see help(headstart.{command}))"
    bound = first.get("ctx") or {}
    if 1 in (bound.get("le"), bound.get("lt")) and isinstance(value, int | float) and 1 < value <= 100:
        fraction = f"{flag} {value / 100:g}" if cli else f"{option}={value / 100:g}"
        fix = f"pass {fraction} for {value:g}% (a fraction from 0 to 1)"  # a percentage, surely
    expected = str(first["msg"]).removeprefix("Value error, ")
    return UsageError(f"invalid value for {name}: {value!r}", expected=expected, fix=fix)


def duration_value(value: Any) -> Any:
    """A duration option's value: strings like "90s", "10m", "1h" become seconds; anything else is left to pydantic."""
    if not isinstance(value, str):
        return value
    try:
        return parse_duration(value)
    except UsageError as err:
        raise ValueError(err.expected) from None


def check_prompt_template(template: str) -> None:
    """ValueError unless `template` has exactly one `{}` (where the label goes) and no other format field."""
    import string

    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:  # a lone brace
        fields = ["?"]
    if fields != [""]:
        raise ValueError(
            f'a prompt template with "{{}}" exactly once, where the label goes, e.g. "a photo of a {{}}." '
            f"(write a literal brace as {{{{ or }}}}); got {template!r}"
        )


def kind_of(value: object) -> str:
    """`value`'s kind in words, for errors about inputs that are not paths: "a pandas DataFrame", "a PIL image"."""
    if value is None:
        return "None"
    module, name = type(value).__module__.split(".")[0], type(value).__name__
    if module == "PIL":
        return "a PIL image"
    if module in ("pandas", "numpy", "torch", "polars"):
        return f"a {module} {'array' if name == 'ndarray' else name}"
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def data_path(data: object, command: str) -> str:
    """`data` as a path string; anything else (a DataFrame, a list, None) is refused with how to make a file of it."""
    if isinstance(data, str | os.PathLike):
        return os.fspath(data)
    kind = kind_of(data)
    if kind.startswith(("a pandas", "a polars")):
        fix = f"save it first, e.g. df.to_csv('data.csv', index=False), and pass 'data.csv' to headstart.{command}()"
    elif isinstance(data, list | tuple):
        fix = "write the items and their labels to a CSV (text,label or path,label) and pass its path"
    else:
        fix = "pass the path of the file or folder that holds the data"
    raise UsageError(
        f"headstart.{command}() got {kind} as data, not a path",
        expected="a path: a table (.csv, .tsv, .jsonl, .parquet) or an image folder (<root>/<class>/<file>)",
        fix=fix,
    )


def parse_duration(text: str | float | None) -> float | None:
    """Seconds from `90`, `90s`, `10m` or `1.5h` (None stays None)."""
    if text is None or isinstance(text, int | float):
        return None if text is None else float(text)
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    value = text.strip().lower()
    factor = units.get(value[-1:], None)
    number = value[:-1] if factor else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise UsageError(
            f"invalid duration {text!r}",
            expected="a positive number of seconds, or a number followed by s, m or h (e.g. 90s, 10m, 1h)",
            fix="pass e.g. --time-budget 10m",
        )
    return seconds
