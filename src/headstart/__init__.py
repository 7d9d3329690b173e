"""headstart: adapt a pretrained network to a small labelled dataset, and prove what transfer gained."""

# The submodule first: importing it later would rebind `headstart.expand` from the function to the module.
import headstart.expand as _expand_module  # noqa: F401, I001
import headstart.study as _study_module  # noqa: F401, I001
from headstart.api import evaluate, expand, fit, inspect, list_backbones, load, predict, rank, study
from headstart.api import promote, reproduce, run_details, runs

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "expand", "fit", "inspect", "list_backbones", "load", "predict", "rank", "study"]
__all__ += ["promote", "reproduce", "run_details", "runs"]
