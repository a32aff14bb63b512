"""The import target for process managers: ``uvicorn --factory verdict.server.asgi:app_factory``.

``verdict serve --workers N`` uses it, because every worker process builds its own
application (and database engine) from the environment's settings.
"""

from __future__ import annotations

from fastapi import FastAPI

from verdict.server.app import create_app
from verdict.server.config import get_settings

__all__ = ["app_factory"]


def app_factory() -> FastAPI:
    return create_app(get_settings())
