"""The composition root of the server: :func:`create_app` builds store, services and routes.

No module-level app or store exists. ``modelyard server`` runs several uvicorn workers with
``uvicorn.run("modelyard.server.app:create_app_from_env", factory=True, workers=N)``; each worker
builds its own app (and engine) from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import modelyard
from modelyard.server.errors import install_error_handlers
from modelyard.server.routes import TRACKING_TABLES, meta
from modelyard.server.rpc import add_rpc_routes
from modelyard.service.tracking import TrackingService
from modelyard.settings import Settings, load_settings
from modelyard.store.base import TrackingStore


def create_app(settings: Settings | None = None, *, store: TrackingStore | None = None) -> FastAPI:
    """Build the REST app.

    Without ``store``, the app opens one from ``settings.backend_store_uri`` (creating the schema on an
    empty database) and closes it on shutdown. A ``store`` passed in stays owned by the caller.
    """
    settings = settings if settings is not None else load_settings()
    owns_store = store is None
    if store is None:
        from modelyard.store.sql import open_tracking_store

        store = open_tracking_store(
            settings.backend_store_uri,
            pool_size=settings.db_pool_size,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            default_artifact_root=settings.default_artifact_root,
        )
    opened: TrackingStore = store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_store:
                opened.close()

    app = FastAPI(
        title="modelyard",
        version=modelyard.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.tracking = TrackingService(opened, truncate_long_values=settings.truncate_long_values)
    install_error_handlers(app)
    app.include_router(meta.router)
    for table in TRACKING_TABLES:
        add_rpc_routes(app, table)
    return app


def create_app_from_env() -> FastAPI:
    """The app factory uvicorn workers call: settings from the environment (``MODELYARD_*``)."""
    return create_app(load_settings())
