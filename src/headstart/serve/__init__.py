"""The HTTP service: a FastAPI app over a loaded bundle, with micro-batching, limits and a try-it page."""

from headstart.serve.app import create_app
from headstart.serve.schemas import ServeConfig

__all__ = ["ServeConfig", "create_app"]
