"""The composition root of the server: :func:`create_app` builds store, services and routes.

No module-level app or store exists. ``modelyard server`` forks its worker processes from a parent
that has already migrated the database (:mod:`modelyard.server.workers`); each worker calls
:func:`create_app` with the parent's settings after the fork, so it opens its own engine.
:func:`create_app_from_env` is the factory for ``uvicorn --factory`` users: settings from the
environment (``MODELYARD_*``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import modelyard
from modelyard.server.errors import install_error_handlers
from modelyard.server.openapi import install_openapi
from modelyard.server.routes import AUTH_TABLES, REGISTRY_TABLES, TRACKING_TABLES, meta
from modelyard.server.routes.artifacts import (
    artifact_routes,
    artifacts_only_routes,
    tracking_artifact_routes,
)
from modelyard.server.routes.artifacts_fast import install_artifact_fast_path
from modelyard.server.rpc import add_rpc_routes
from modelyard.server.security import install_security
from modelyard.service.artifacts import PROXY_SCHEME, ArtifactService
from modelyard.service.logged_models import LoggedModelService
from modelyard.service.tracking import TrackingService
from modelyard.settings import SETTINGS_BY_NAME, Settings, load_settings
from modelyard.store.base import TrackingStore


def create_app(
    settings: Settings | None = None,
    *,
    store: TrackingStore | None = None,
    artifacts: ArtifactService | None = None,
) -> FastAPI:
    """Build the REST app.

    Without ``store``, the app opens one from ``settings.backend_store_uri`` (creating the schema on an
    empty database) and closes it on shutdown. A ``store`` passed in stays owned by the caller. Without
    ``artifacts``, the artifact proxy is opened on ``settings.artifacts_destination`` (when
    ``serve_artifacts``). With ``artifacts_only``, the app serves only the proxy and answers 503 to
    tracking endpoints (the tracking store is still opened, so the app's services are complete).
    """
    settings = settings if settings is not None else load_settings()
    if settings.artifacts_only and not settings.serve_artifacts:
        raise ValueError("artifacts_only needs serve_artifacts: an artifacts-only server proxies.")
    if artifacts is None:
        artifacts = artifact_service(settings)
    owns_store = store is None
    if store is None:
        from modelyard.store.sql import open_tracking_store

        store = open_tracking_store(
            settings.backend_store_uri,
            pool_size=settings.db_pool_size,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            default_artifact_root=experiment_artifact_root(settings),
        )
    opened: TrackingStore = store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher = getattr(app.state, "webhook_dispatcher", None)
        if dispatcher is not None:
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()
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
    from modelyard.store.sql import logged_model_store_for

    app.state.logged_models = LoggedModelService(
        logged_model_store_for(opened), truncate_long_values=settings.truncate_long_values
    )
    app.state.tracking = TrackingService(
        opened,
        truncate_long_values=settings.truncate_long_values,
        run_outputs=app.state.logged_models.get_run_outputs,
    )
    app.state.artifacts = artifacts
    install_registry(app, settings, opened)
    install_error_handlers(app)
    app.include_router(meta.router)
    app.router.routes.extend(artifact_routes())
    install_openapi(app, (*TRACKING_TABLES, *REGISTRY_TABLES))  # before any catch-all route
    if settings.artifacts_only:  # every tracking endpoint answers 503, as MLflow's does
        app.router.routes.extend(artifacts_only_routes())
        _enable_auth(app, settings, opened)
        install_artifact_fast_path(app, settings)
        install_security(app, settings)
        return app
    for table in (*TRACKING_TABLES, *REGISTRY_TABLES, *AUTH_TABLES):
        add_rpc_routes(app, table)
    app.router.routes.extend(tracking_artifact_routes())
    from modelyard.server.ui import install_ui

    install_ui(app)  # the web UI at /
    _enable_auth(app, settings, opened)  # after every route exists: each one gets its rule
    install_artifact_fast_path(app, settings)  # small proxy files, before FastAPI's routing
    install_security(app, settings)  # last, so it is the outermost middleware: host check, CORS
    return app


def _enable_auth(app: FastAPI, settings: Settings, store: TrackingStore) -> None:
    """``--auth``: users, tokens and grants (:mod:`modelyard.server.auth`); nothing without it."""
    if settings.auth:
        from modelyard.server.auth import enable_auth

        enable_auth(app, store)


def install_registry(app: FastAPI, settings: Settings, store: TrackingStore) -> None:
    """Put the registry and webhook services, and the webhook dispatcher, on ``app.state``."""
    from modelyard.service.registry import RegistryService
    from modelyard.service.webhooks import WebhookDispatcher, WebhookService
    from modelyard.store.sql import logged_model_store_for
    from modelyard.store.sql.registry import SqlRegistryStore
    from modelyard.store.sql.webhooks import SqlWebhookStore

    engine = getattr(store, "engine")  # noqa: B009 - the registry shares the SQL tracking engine
    webhooks = WebhookService(
        SqlWebhookStore(engine),
        allow_http=settings.webhook_allow_http,
        allow_private_addresses=settings.webhook_allow_private_addresses,
        secret_key=settings.webhook_secret_key,
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        retry_backoff_s=settings.webhook_retry_backoff_s,
    )
    logged_models = logged_model_store_for(store)
    app.state.webhooks = webhooks
    app.state.registry = RegistryService(
        SqlRegistryStore(engine),
        get_run=store.get_run_info,
        get_logged_model=logged_models.get_logged_model,
        require_approval_for_production=settings.registry_require_approval_for_production,
        allow_private_source_hosts=settings.registry_allow_private_source_hosts,
        events=webhooks,
    )
    if settings.webhook_delivery_threads > 0 and not settings.artifacts_only:
        app.state.webhook_dispatcher = WebhookDispatcher(
            webhooks, settings.webhook_delivery_threads
        )


def experiment_artifact_root(settings: Settings) -> str:
    """Where new experiments keep artifacts: ``mlflow-artifacts:`` when the server proxies and
    ``default_artifact_root`` was left at its default, else ``default_artifact_root``."""
    root = settings.default_artifact_root
    if settings.serve_artifacts and root == SETTINGS_BY_NAME["default_artifact_root"].default:
        return f"{PROXY_SCHEME}:"
    return str(root)


def artifact_service(settings: Settings) -> ArtifactService:
    """The proxy over ``artifacts_destination`` (when serving) and the local roots the server reads."""
    from modelyard.store.artifacts import open_artifact_store, uri_scheme

    destination = settings.artifacts_destination
    proxy = open_artifact_store(destination) if settings.serve_artifacts else None
    roots = [destination] if settings.serve_artifacts else []
    roots.append(experiment_artifact_root(settings))
    local_roots = tuple(r for r in roots if uri_scheme(r) == "file")
    return ArtifactService(proxy, destination=destination, local_roots=local_roots)


def create_app_from_env() -> FastAPI:
    """The app factory uvicorn workers call: settings from the environment (``MODELYARD_*``)."""
    return create_app(load_settings())
