"""Modalities: the `Modality` objects (image, text, and any registered) and their registry."""

from headstart.data.modalities.base import (
    Modality,
    all_modalities,
    claiming,
    get_modality,
    is_modality,
    item_digests,
    modality_names,
    register_modality,
    unregister_modality,
)
from headstart.data.modalities.builtin import IMAGE, TEXT

__all__ = [
    "IMAGE",
    "TEXT",
    "Modality",
    "all_modalities",
    "claiming",
    "get_modality",
    "is_modality",
    "item_digests",
    "modality_names",
    "register_modality",
    "unregister_modality",
]
