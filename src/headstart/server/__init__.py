"""The HTTP service: a FastAPI app over a loaded bundle, with micro-batching, limits and a try-it page."""

from headstart.server.app import create_app
from headstart.server.schemas import ServeConfig, ServeOptions

__all__ = ["ServeConfig", "ServeOptions", "create_app"]
