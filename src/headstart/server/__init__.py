"""The HTTP service: a FastAPI app over a loaded bundle, with micro-batching, limits and a try-it page."""

from headstart.server.app import create_app
from headstart.server.schemas import ServeConfig

__all__ = ["ServeConfig", "create_app"]
