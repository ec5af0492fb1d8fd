"""Rendering of UI pages: the Jinja2 environment (built on the first page), security headers, the CSRF
token, URL helpers and the HTML error pages.

* Jinja2 is imported when the first page renders, so neither ``import modelyard`` nor the REST API's
  start-up pays for it.
* Every UI response carries a Content-Security-Policy that allows scripts from this server only (no
  inline scripts: page data travels in ``<script type="application/json">`` blocks read by our
  static JavaScript), ``X-Frame-Options: DENY`` and ``nosniff``.
* CSRF: a random token in the ``modelyard_csrf`` cookie (per browser session, ``SameSite=Strict``);
  every form carries it in a hidden ``csrf_token`` field and every form post is checked against the
  cookie (:func:`check_csrf`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import modelyard
from modelyard.errors import BadRequest, ModelyardError, PermissionDenied, status_for

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
Handler = Callable[..., Any]
CSRF_COOKIE = "modelyard_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 1 << 20

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env: Any = None


class Routes:
    """Plain Starlette routes declared with ``@routes.get(path)`` / ``@routes.post(path)``.

    A handler is ``handler(request, **path_params)``; a synchronous one runs in the thread pool.
    (Plain routes, not FastAPI's, so adding the UI costs the server's start-up next to nothing.)
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def _add(self, path: str, methods: list[str]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if inspect.iscoroutinefunction(handler):

                async def endpoint(request: Request) -> Response:
                    return await handler(request, **request.path_params)  # type: ignore[no-any-return]

            else:

                async def endpoint(request: Request) -> Response:
                    return await run_in_threadpool(handler, request, **request.path_params)  # type: ignore[no-any-return]

            endpoint.__name__ = handler.__name__
            self.routes.append(Route(path, endpoint, methods=methods, name=f"ui:{path}"))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add(path, ["GET", "HEAD"])

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add(path, ["POST"])


def environment() -> Any:
    """The Jinja2 environment (autoescape on), made on first use."""
    global _env
    if _env is None:
        try:
            import jinja2
        except ImportError:  # pragma: no cover - the server extra installs it
            raise ModelyardError(
                "The web UI needs Jinja2: pip install 'modelyard[server]'"
            ) from None
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters.update(
            time=format_time, duration=format_duration, value=format_value, short=short_id
        )
        from modelyard.server.ui.assets import static_url

        env.globals.update(
            version=modelyard.__version__, url=url_with, csrf_field=CSRF_FIELD, static=static_url
        )
        _env = env
    return _env


# ------------------------------------------------------------------------------ formatting
def format_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(ms: int | None) -> str:
    if ms is None or ms < 0:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return "" if value is None else str(value)


def short_id(value: str) -> str:
    return value[:8]


def url_with(request: Request, path: str | None = None, **changes: Any) -> str:
    """This page's URL (or ``path``) with query parameters changed; ``None`` removes one."""
    params = dict(request.query_params.multi_items()) if path is None else {}
    for key, value in changes.items():
        key = key.rstrip("_")
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    base = request.url.path if path is None else path
    return f"{base}?{urlencode(params)}" if params else base


def query_list(request: Request, name: str) -> list[str]:
    """A list parameter given as ``name=a,b`` and/or repeated ``name=a&name=b``, in order."""
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out += [p.strip() for p in raw.split(",") if p.strip()]
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------ responses
def csrf_token(request: Request) -> tuple[str, bool]:
    """The session's token and whether it is new (to be set as the cookie)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32:
        return token, False
    return secrets.token_urlsafe(32), True


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    token, new = csrf_token(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            csrf_token=token,
            nav=context.pop("nav", ""),
            registry_enabled=hasattr(request.app.state, "registry"),
            principal=request.scope.get("state", {}).get("principal"),  # --auth: who is logged in
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    if new:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return secure(response)


def redirect(url: str) -> Response:
    # Only paths on this server: a form's ``next`` field cannot send the browser elsewhere.
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        url = "/"
    return secure(RedirectResponse(url, status_code=303))


def error_page(request: Request, exc: ModelyardError, *, title: str | None = None) -> Response:
    status = status_for(exc.error_code)
    return render(
        request,
        "error.html",
        status_code=status,
        title=title or ("Not found" if status == 404 else "Something went wrong"),
        message=exc.message,
        status=status,
    )


def not_found_page(request: Request) -> Response:
    return render(
        request,
        "error.html",
        status_code=404,
        title="Page not found",
        message=f"There is no page at {request.url.path}.",
        status=404,
    )


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded form of a POST, after checking its CSRF token against the cookie."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("The form is larger than 1 MiB.")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, []).append(value)
    check_csrf(request, form.get(CSRF_FIELD, [""])[0])
    return form


def check_csrf(request: Request, sent: str) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not sent or not secrets.compare_digest(cookie, sent):
        raise PermissionDenied(
            "The form's security token is missing or does not match this browser session; "
            "reload the page and submit the form again."
        )
