"""headstart: adapt a pretrained network to a small labelled dataset, and prove what transfer gained."""

from headstart.api import evaluate, fit, inspect, list_backbones, load, predict

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "fit", "inspect", "list_backbones", "load", "predict"]
