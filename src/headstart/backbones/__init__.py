"""Pretrained networks behind one protocol, a name registry, and tiny test backbones."""

from headstart.backbones.base import Backbone, BackboneInfo, SourceHead, State
from headstart.backbones.registry import (
    backbone_info,
    check_modality,
    get_backbone,
    list_backbones,
    register_backbone,
    registered_names,
)

__all__ = [
    "Backbone",
    "BackboneInfo",
    "SourceHead",
    "State",
    "backbone_info",
    "check_modality",
    "get_backbone",
    "list_backbones",
    "register_backbone",
    "registered_names",
]
