"""The login page and logout of a server run with ``--auth``.

* ``GET /login`` shows the form (with the CSRF field of :mod:`modelyard.server.ui.pages`);
* ``POST /login`` checks the CSRF token, then the user name and password with
  ``AuthService.authenticate_password`` (failures are counted and lock the account for a while: 429),
  and sets the session cookie (signed, HttpOnly, ``SameSite=Lax``, ``Secure`` over https or with
  ``auth_session_cookie_secure``; it expires after ``auth_session_max_age_s``);
* ``POST /logout`` (CSRF-checked too) deletes the cookie.

``next`` (where to go after logging in) is a path on this server only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import RateLimited
from modelyard.server.auth.credentials import SESSION_COOKIE, make_session
from modelyard.server.ui.pages import Routes, read_form, redirect, render

router = Routes()
FAILED_MESSAGE = "Wrong user name or password."


def _next(value: str) -> str:
    """A path on this server (anything else, and the login page itself, becomes ``/``)."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return "/" if value.startswith(("/login", "/logout")) else value


def _page(request: Request, status: int = 200, **context: object) -> Response:
    context.setdefault("username", "")
    context.setdefault("next", _next(request.query_params.get("next", "/")))
    return render(request, "login.html", status_code=status, title="Log in", **context)


@router.get("/login")
def login_page(request: Request) -> Response:
    return _page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)  # refuses a post without this browser's CSRF token
    username = form.get("username", [""])[0].strip()
    password = form.get("password", [""])[0]
    target = _next(form.get("next", ["/"])[0])
    guard = request.app.state.auth_guard
    remote = request.client.host if request.client else ""
    try:
        principal = await run_in_threadpool(
            guard.auth.authenticate_password, username, password, remote
        )
    except RateLimited as exc:
        return _page(request, 429, form_error=exc.message, username=username, next=target)
    if principal is None:
        return _page(request, 401, form_error=FAILED_MESSAGE, username=username, next=target)
    secret = await run_in_threadpool(lambda: guard.session_secret)
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        make_session(secret, principal.username, guard.session_max_age_s),
        max_age=guard.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=guard.secure_cookie(request),
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
