"""`predict`: a bundle's answers for images, a table or text file, or raw texts; optionally written to a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.bundle import Inputs, Predictor, input_list
from headstart.bundle import load as load_bundle
from headstart.commands.prediction_files import check_output_path, predictions_frame, write_predictions
from headstart.commands.reading import check_bundle_modality
from headstart.commands.summaries import left_out
from headstart.config import PredictConfig
from headstart.data import Dataset, SkippedItem, load_inputs
from headstart.data.loading import all_skipped_error
from headstart.tasks import Answer, answer


@dataclass
class Prediction:
    """One input's prediction: its id, the top label and the top-k labels with probabilities.

    Multi-label predictions carry `labels` (every tag above its threshold) instead of one label,
    regression predictions a `value`, and field extraction `fields` (name -> value, confidence, page, box).
    """

    id: str
    label: str | None
    probability: float | None
    top: list[tuple[str, float]]
    input: str = ""  # the text itself, or the image file's path
    task: str = "classification"
    labels: list[str] | None = None
    value: float | None = None
    fields: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        answer = Answer(self.task, self.label, self.probability, self.top, self.labels, self.value, self.fields)
        return {"id": self.id, "input": self.input, **answer.to_dict()}


@dataclass
class PredictResult:
    predictions: list[Prediction]
    skipped: list[SkippedItem] = field(default_factory=list)
    task: str = "classification"
    out: str | None = None  # the file the predictions were written to (`out=`), if any
    outputs: list[str] = field(default_factory=list)  # the model's output names (classes, tags, fields)
    notes: list[str] = field(default_factory=list)  # how inputs were read (a document's pages cut, turned upright)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "predictions": [p.to_dict() for p in self.predictions],
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": list(self.notes),
            **({"out": self.out} if self.out else {}),
        }

    def to_frame(self, inputs: Sequence[str] = ()) -> Any:
        """The predictions as a pandas DataFrame (with `inputs`, the one predicted table's columns first)."""
        return predictions_frame(self, inputs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.id!r}: {_decision(p)}" for p in self.predictions[:3])
        more = ", …" if len(self.predictions) > 3 else ""
        written = f", written to {self.out!r}" if self.out else ""
        count = f"{len(self.predictions)} prediction{'' if len(self.predictions) == 1 else 's'}"
        head = f"{self.task}, {count} {{{shown}{more}}}"
        return f"PredictResult({head}{left_out(skipped=self.skipped)}{written})"


def _decision(p: Prediction) -> str:
    """One prediction in a few characters: `spam (0.981)`, `[a, b]` (tags), `3.142` (a value) or fields."""
    if p.fields is not None:
        return "{" + ", ".join(f"{name}: {found['value']!r}" for name, found in p.fields.items()) + "}"
    if p.value is not None:
        return f"{p.value:.3f}"
    if p.labels is not None:
        return "[" + ", ".join(p.labels) + "]"
    return f"{p.label} ({p.probability:.3f})" if p.probability is not None else str(p.label)


def predict(bundle: str | Path, inputs: Inputs, config: PredictConfig, out: str | Path | None = None) -> PredictResult:
    """Answers of the bundle at `bundle` for `inputs`, as `config` says; also written to `out` when given."""
    inputs = input_list(inputs)  # one str or Path is one input, not its characters
    if out is not None:
        check_output_path(out, inputs)  # before any work
    predictor = load_bundle(bundle)
    dataset = load_inputs(list(inputs), modality=predictor.modality, text_column=config.text_column)
    check_bundle_modality(predictor, dataset)
    notes = predictor.configure(threads=config.threads, batch_size=config.batch_size, ocr=config.ocr_settings())
    scored = predictor.predict_dataset(dataset, on_bad=config.on_bad, progress=config.progress)
    predictions = []
    for row, index in enumerate(scored.kept):
        record = None if scored.records is None else scored.records[row]
        a = answer(predictor.task, scored.proba[row], predictor.labels, predictor.thresholds, config.top_k, record)
        predictions.append(
            Prediction(
                id=dataset.ids[index],
                label=a.label,
                probability=a.probability,
                top=a.top,
                input=dataset.items[index],
                task=a.task,
                labels=a.labels,
                value=a.value,
                fields=a.fields,
            )
        )
    skipped = [*dataset.skipped, *scored.skipped]
    if not predictions:  # every item passed the loader's header check but none could be decoded
        raise all_skipped_error("no input could be read", skipped)
    result = PredictResult(predictions, skipped, predictor.task, outputs=predictor.labels, notes=notes + scored.notes)
    if out is not None:
        result.out = str(write_predictions(result, inputs, out))
    return result


def predict_batch(predictor: Predictor, items: Sequence[str], top_k: int | Sequence[int]) -> list[Answer | str]:
    """One forward pass of a loaded predictor over `items` (texts, or image files): each item's Answer with its
    `top_k` labels (one k for all, or one per item), or why it could not be used."""
    ks = [top_k] * len(items) if isinstance(top_k, int) else list(top_k)
    dataset = Dataset(modality=predictor.modality, items=tuple(items), ids=tuple(str(i) for i in range(len(items))))
    scored = predictor.predict_dataset(dataset, on_bad="skip")
    outcomes: list[Answer | str] = ["not predicted"] * len(items)
    for row, index in enumerate(scored.kept):
        i = int(index)
        record = None if scored.records is None else scored.records[row]
        outcomes[i] = answer(predictor.task, scored.proba[row], predictor.labels, predictor.thresholds, ks[i], record)
    for skipped in scored.skipped:
        outcomes[int(skipped.id)] = skipped.reason
    return outcomes
