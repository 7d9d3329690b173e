"""Datasets: loading image folders and text tables, validation reports, splits and label budgets."""

from headstart.data.audio_loading import AUDIO
from headstart.data.dataset import (
    SPLIT_NAMES,
    Dataset,
    Modality,
    OnBad,
    SkippedItem,
    file_sha256,
    normalize_split,
)
from headstart.data.folders import load_image_folder, load_image_inputs
from headstart.data.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_image_header,
    image_size,
    is_image_file,
    max_pixels,
    read_image,
)
from headstart.data.inspect import InspectReport, inspect_dataset
from headstart.data.loading import load_dataset, load_inputs
from headstart.data.modalities.documents import DOCUMENTS
from headstart.data.splits import Splits, labels_per_class, split_dataset
from headstart.data.tables import TABLE_EXTENSIONS, load_table, load_text_lines

__all__ = [
    "AUDIO",
    "DOCUMENTS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "SPLIT_NAMES",
    "TABLE_EXTENSIONS",
    "Dataset",
    "InspectReport",
    "Modality",
    "OnBad",
    "SkippedItem",
    "Splits",
    "check_image_header",
    "file_sha256",
    "image_size",
    "inspect_dataset",
    "is_image_file",
    "labels_per_class",
    "load_dataset",
    "load_image_folder",
    "load_image_inputs",
    "load_inputs",
    "load_table",
    "load_text_lines",
    "max_pixels",
    "normalize_split",
    "read_image",
    "split_dataset",
]
