"""`predict`: a bundle's answers for images, a table or text file, or raw texts; optionally written to a file."""

from __future__ import annotations

from pathlib import Path

from headstart.bundle import Inputs, input_list
from headstart.bundle import load as load_bundle
from headstart.commands.prediction_files import check_output_path, write_predictions
from headstart.commands.reading import check_bundle_modality
from headstart.commands.results import Prediction, PredictResult
from headstart.config import PredictConfig
from headstart.data import load_inputs
from headstart.data.loading import all_skipped_error
from headstart.tasks import answer


def predict(bundle: str | Path, inputs: Inputs, config: PredictConfig, out: str | Path | None = None) -> PredictResult:
    """Answers of the bundle at `bundle` for `inputs`, as `config` says; also written to `out` when given."""
    inputs = input_list(inputs)  # one str or Path is one input, not its characters
    if out is not None:
        check_output_path(out, inputs)  # before any work
    predictor = load_bundle(bundle)
    dataset = load_inputs(list(inputs), modality=predictor.modality, text_column=config.text_column)
    check_bundle_modality(predictor, dataset)
    predictor.configure(threads=config.threads, batch_size=config.batch_size)
    scored = predictor.predict_dataset(dataset, on_bad=config.on_bad, progress=config.progress)
    predictions = []
    for row, index in enumerate(scored.kept):
        a = answer(predictor.task, scored.proba[row], predictor.labels, predictor.thresholds, config.top_k)
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
            )
        )
    skipped = [*dataset.skipped, *scored.skipped]
    if not predictions:  # every item passed the loader's header check but none could be decoded
        raise all_skipped_error("no input could be read", skipped)
    result = PredictResult(predictions=predictions, skipped=skipped, task=predictor.task)
    if out is not None:
        result.out = str(write_predictions(result, inputs, out))
    return result
