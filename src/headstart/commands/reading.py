"""How a command reads labelled data: `load_dataset` keywords from its config, and for a bundle as its data was read."""

from __future__ import annotations

from typing import Any

from headstart.bundle import Predictor
from headstart.config import DataOptions
from headstart.data import Dataset
from headstart.errors import ModalityMismatchError, UsageError
from headstart.manifest import TargetsSection


def data_options(config: DataOptions, predictor: Predictor | None = None) -> dict[str, Any]:
    """`load_dataset` keywords from a config; with a bundle, its task kind, separator, target, text and label
    columns (as its data was last read: by `expand`, else by `fit`), each unless given."""
    options = config.reading()
    if predictor is not None:
        recorded = predictor.manifest.targets or TargetsSection()
        if config.task not in ("auto", predictor.task):
            raise UsageError(
                f"--task {config.task} does not match the bundle, a {predictor.task} model",
                expected=f"--task {predictor.task} or auto",
                fix="leave --task out when evaluating a bundle",
            )
        options["task"] = predictor.task
        if "separator" not in config.model_fields_set:  # the bundle's, unless given
            options["separator"] = recorded.separator or config.separator
        read = [section or {} for section in (predictor.manifest.expand_config, predictor.manifest.config)]
        for name in ("text_column", "label_column"):  # the columns the bundle's data was read with, unless given
            if options[name] is None and (name == "text_column" or config.target is None):
                options[name] = next((r[name] for r in read if r.get(name) is not None), None)
        if config.target is None and options["label_column"] is None:  # the regressed column, if any
            options["target"] = recorded.column
    return options


def check_bundle_modality(predictor: Predictor, dataset: Dataset) -> None:
    """A bundle reads one modality: refuse data of the other before any work."""
    if predictor.modality != dataset.modality:
        name = predictor.backbone.name if predictor.backbone else predictor.manifest.strategy.name
        raise ModalityMismatchError(name, predictor.modality, dataset.modality, model=True)
