"""Adaptation strategies: how a pretrained backbone becomes a model for the user's labels."""

from headstart.strategies.heads import Head, load_head
from headstart.strategies.linear import HEAD_KINDS, LinearHead

STRATEGIES: tuple[str, ...] = ("linear",)

__all__ = ["HEAD_KINDS", "STRATEGIES", "Head", "LinearHead", "load_head"]
