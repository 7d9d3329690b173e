"""Adaptation strategies: how a pretrained backbone becomes a model for the user's labels.

Each strategy declares the options it reads, whether it checkpoints and how `expand` grows its bundles
(`strategies.base.Strategy`); `strategies.registry` holds them by name.
"""

from __future__ import annotations

from headstart.strategies.base import DatasetPrediction, FitInputs, Model, Strategy, TrainReport
from headstart.strategies.linear import HEAD_KINDS, LinearHead, LinearStrategy
from headstart.strategies.registry import (
    SPEC_FORMS,
    STRATEGIES,
    all_strategies,
    check_strategy_task,
    default_study_strategies,
    for_task,
    get_strategy,
    resolve_strategy,
)

__all__ = [
    "HEAD_KINDS",
    "SPEC_FORMS",
    "STRATEGIES",
    "DatasetPrediction",
    "FitInputs",
    "LinearHead",
    "LinearStrategy",
    "Model",
    "Strategy",
    "TrainReport",
    "all_strategies",
    "check_strategy_task",
    "default_study_strategies",
    "for_task",
    "get_strategy",
    "resolve_strategy",
]
