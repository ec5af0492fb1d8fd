"""The web UI served at ``/``: server-rendered pages (Jinja2, imported on the first page) over the same
services as the REST API, small static JavaScript, and Plotly.js from the ``plotly`` package.

:func:`install_ui` adds the pages, their form posts, the chart data endpoint and ``/static/ui/*`` to an
app made by :func:`modelyard.server.app.create_app`, and turns 404s outside the API into a page.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ModelyardError
from modelyard.server.errors import API_PREFIXES
from modelyard.server.ui import pages
from modelyard.server.ui.assets import plotly_path, static_assets


def install_ui(app: FastAPI) -> None:
    from modelyard.server.ui import tracking
    from modelyard.service.charts import ChartService
    from modelyard.store.sql.history import history_store_for

    store = app.state.tracking.store
    app.state.charts = ChartService(history_store_for(store), store)

    async def static(request: Request) -> Response:
        # In the thread pool: the first request of a file reads it from disk.
        return await run_in_threadpool(
            static_assets().respond, request, request.path_params["name"]
        )

    app.add_route("/static/ui/{name}", static, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.routes.extend(tracking.router.routes)
    if hasattr(app.state, "registry"):
        from modelyard.server.ui import registry

        app.router.routes.extend(registry.router.routes)
    if getattr(getattr(app.state, "settings", None), "auth", False):  # the login page of ``--auth``
        from modelyard.server.ui import login

        app.router.routes.extend(login.router.routes)

    previous = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (
            exc.status_code == 404
            and request.method in ("GET", "HEAD")
            and is_page(request.url.path)
        ):
            return pages.not_found_page(request)
        assert previous is not None
        return await previous(request, exc)  # type: ignore[misc]

    app.add_exception_handler(StarletteHTTPException, http_error)

    previous_error = app.exception_handlers.get(ModelyardError)

    async def modelyard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelyardError)
        if is_page(request.url.path):
            return pages.error_page(request, exc)
        assert previous_error is not None
        return await previous_error(request, exc)  # type: ignore[misc]

    app.add_exception_handler(ModelyardError, modelyard_error)


def is_page(path: str) -> bool:
    """Whether ``path`` is a UI page or form post (answered in HTML), not an API or data endpoint."""
    return not path.startswith((*API_PREFIXES, "/ui/data/", "/static/"))


__all__ = ["install_ui", "plotly_path"]
