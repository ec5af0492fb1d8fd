"""Enforcement of the policy: who a request is (authentication) and whether it may (authorization).

:class:`Guard` is made by :func:`modelyard.server.auth.install_auth` and kept on
``app.state.auth_guard``. It meets requests at two places:

* RPCs (:mod:`modelyard.server.rpc`): :meth:`Guard.admit` before the body is read (401 without valid
  credentials, so an unknown client cannot make the server read a large body), then
  :meth:`Guard.authorize` wraps the handler: the rule's resolvers, its ``prepare`` and ``after`` run
  in the same worker thread as the handler, on the request it parsed (the body is read once);
* every other route: its ASGI app is wrapped at start-up (:meth:`Guard.wrap`) with the rule of its
  template and method; a route without a rule is wrapped with a refusal.

The principal of a request is kept in ``scope["state"]["principal"]``; ``server/deps.py`` reads it,
so the registry's "who" is the authenticated user, never a header the client chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.entities.auth import Principal
from modelyard.errors import ModelyardError, PermissionDenied
from modelyard.server.auth import credentials as c
from modelyard.server.auth.policy import Access, Rule, route_rule, rpc_rule
from modelyard.server.auth.targets import Ctx, Resolver
from modelyard.server.errors import error_response, render_error

REALM = 'Basic realm="modelyard"'
UNAUTHENTICATED_MESSAGE = (
    "Authentication required: send HTTP Basic credentials (MLFLOW_TRACKING_USERNAME and "
    "MLFLOW_TRACKING_PASSWORD) or a bearer token (MLFLOW_TRACKING_TOKEN)."
)
BAD_CREDENTIALS_MESSAGE = (
    "The credentials are not valid (wrong user name or password, or a revoked token)."
)


#: Downloads outside ``/api`` whose errors are JSON (data, not pages), as their routes answer.
DATA_PATHS = frozenset({"/get-artifact", "/model-versions/get-artifact"})


def is_page_path(path: str) -> bool:
    """Whether refusals of ``path`` are pages (a login redirect, an HTML 403) rather than JSON."""
    from modelyard.server.ui import is_page

    return is_page(path) and path not in DATA_PATHS


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def current_principal(request: Request) -> Principal | None:
    """The authenticated principal of ``request`` (None before authentication or without one)."""
    principal: Principal | None = _state(request.scope).get("principal")
    return principal


class Guard:
    """Authenticates requests against an ``AuthService`` and checks the policy's rules."""

    def __init__(self, app: Any, auth: Any, settings: Any) -> None:
        self.app = app
        self.auth = auth
        self.settings = settings
        self.session_max_age_s = int(getattr(settings, "auth_session_max_age_s", 12 * 3600))
        self.cookie_secure = bool(getattr(settings, "auth_session_cookie_secure", False))
        self._secret: bytes | None = None

    # ---------------------------------------------------------------- authentication
    @property
    def session_secret(self) -> bytes:
        if self._secret is None:
            self._secret = bytes(self.auth.session_secret())
        return self._secret

    def secure_cookie(self, request: Request) -> bool:
        return self.cookie_secure or request.url.scheme == "https"

    async def principal(self, request: Request) -> Principal | None:
        """Who the request is, verified once per request; None when it proves nothing (or fails)."""
        state = _state(request.scope)
        if "principal" in state:
            found: Principal | None = state["principal"]
            return found
        header = request.headers.get("authorization", "")
        creds = c.from_headers(header) if header else None
        if creds is None:
            cookie = request.cookies.get(c.SESSION_COOKIE, "")
            username = c.read_session(self.session_secret, cookie) if cookie else None
            creds = c.Credentials("session", username) if username else None
            state["bad_credentials"] = bool(cookie) and username is None
        principal = None
        if creds is not None:
            remote = request.client.host if request.client else ""
            principal = await run_in_threadpool(self.verify, creds, remote)
            state["bad_credentials"] = principal is None
        state["principal"] = principal
        return principal

    def verify(self, creds: c.Credentials, remote_addr: str = "") -> Principal | None:
        """The principal of ``creds`` (in a worker thread: it reads the store, and the service hashes
        a password it has not verified lately). A locked account raises ``RateLimited`` (429)."""
        found: Principal | None
        if creds.kind == "token":
            found = self.auth.authenticate_token(creds.secret)
        elif creds.kind == "session":
            found = self.auth.principal_for(creds.username, via="session")
        else:
            found = self.auth.authenticate_password(creds.username, creds.secret, remote_addr)
        return found

    def unauthenticated(self, request: Request) -> Response:
        """401 with ``WWW-Authenticate`` for the API; a redirect to the login page for UI pages."""
        path = request.url.path
        if is_page_path(path):
            target = path if request.method == "GET" else "/"
            if request.method == "GET" and request.url.query:
                target += "?" + request.url.query
            response: Response = RedirectResponse(
                f"/login?next={quote(target, safe='')}", status_code=303
            )
            if _state(request.scope).get("bad_credentials"):
                response.delete_cookie(c.SESSION_COOKIE, path="/")
            return response
        bad = _state(request.scope).get("bad_credentials")
        response = error_response(
            "UNAUTHENTICATED", BAD_CREDENTIALS_MESSAGE if bad else UNAUTHENTICATED_MESSAGE, 401
        )
        response.headers["WWW-Authenticate"] = REALM
        return response

    # ---------------------------------------------------------------- authorization
    def require(self, ctx: Ctx, rule: Rule, what: str) -> None:
        """Raise :class:`PermissionDenied` unless ``ctx.principal`` may do what ``rule`` guards."""
        principal = ctx.principal
        if principal.is_admin or rule.access in (Access.PUBLIC, Access.AUTHENTICATED):
            return
        if rule.access is Access.ADMIN:
            raise PermissionDenied(f"Only an admin may use {what}.")
        resolver: Resolver | None = rule.targets
        assert resolver is not None
        for target in resolver(ctx):
            have = ctx.permission(target.resource_type, target.resource_id)
            if not have.allows(target.permission):
                kind = target.resource_type.value.replace("_", " ")
                raise PermissionDenied(
                    f"User '{principal.username}' needs {target.permission.value} permission on "
                    f"{kind} '{target.resource_id}' (has {have.value})."
                )

    # ---------------------------------------------------------------- RPCs
    async def admit(self, request: Request, rpc: Any) -> Response | None:
        """Before an RPC's body is read: 401 (or 403 for an RPC without a rule), else None."""
        rule = rpc_rule(rpc.path, request.method)
        if rule is None:
            raise PermissionDenied(_unmapped(request))
        if rule.access is Access.PUBLIC:
            return None
        if await self.principal(request) is None:
            return self.unauthenticated(request)
        return None

    def authorize(self, request: Request, rpc: Any) -> Callable[[Any, dict[str, Any]], Any]:
        """The RPC's handler, wrapped with its rule (run in the handler's worker thread)."""
        rule = rpc_rule(rpc.path, request.method)
        handler = rpc.handler
        if rule is None:  # pragma: no cover - admit refused it already
            raise PermissionDenied(_unmapped(request))
        if rule.access is Access.PUBLIC:
            return handler  # type: ignore[no-any-return]
        principal = current_principal(request)
        assert principal is not None  # admit made sure
        what = f"{request.method} {request.url.path}"

        def call(service: Any, req: dict[str, Any]) -> Any:
            ctx = Ctx(self.app, principal, req, auth=self.auth)
            self.require(ctx, rule, what)
            if rule.prepare is not None and not principal.is_admin:
                answer = rule.prepare(ctx)
                if answer is not None:
                    return answer
            result = handler(service, ctx.values)
            if rule.page is not None and not principal.is_admin:
                return rule.page(ctx, result, lambda values: handler(service, values))
            return rule.after(ctx, result) if rule.after is not None else result

        return call

    # ---------------------------------------------------------------- other routes
    def wrap(self, inner: ASGIApp, template: str, methods: set[str]) -> ASGIApp:
        """``inner`` behind the rules of ``template`` for ``methods`` (refused where none)."""
        rules = {m: route_rule(template, m) for m in methods}
        guard = self

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            request = Request(scope, receive)
            rule = rules.get(request.method) or route_rule(template, request.method)
            if rule is None:
                raise PermissionDenied(_unmapped(request))
            if rule.access is Access.PUBLIC:
                await inner(scope, receive, send)
                return
            principal = await guard.principal(request)
            if principal is None:
                await guard.unauthenticated(request)(scope, receive, send)
                return
            values, lists = _route_values(request)
            if rule.form:
                body = await request.body()
                _add_form(body, values, lists, request.path_params)
                receive = _replay(body, receive)
            ctx = Ctx(guard.app, principal, values, lists, auth=guard.auth)
            what = f"{request.method} {request.url.path}"
            try:
                await run_in_threadpool(guard.require, ctx, rule, what)
            except ModelyardError as exc:
                if is_page_path(request.url.path):
                    raise  # the UI's error page
                await render_error(exc)(scope, receive, send)
                return
            if rule.created is not None:
                send = _on_redirect(send, ctx, rule.created)
            await inner(scope, receive, send)

        return guarded


def _unmapped(request: Request) -> str:
    return (
        f"{request.method} {request.url.path} has no authorization rule on this server; "
        "it is refused."
    )


def _route_values(request: Request) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A route's values (the last of each query parameter, then the path parameters) and its lists
    (repeated and comma-separated query values, as the UI reads them)."""
    values: dict[str, Any] = {}
    lists: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        values[key] = value
        lists.setdefault(key, []).extend(p.strip() for p in value.split(",") if p.strip())
    values.update(request.path_params)
    for key, value in request.path_params.items():
        lists[key] = [str(value)]
    return values, lists


def _add_form(
    body: bytes,
    values: dict[str, Any],
    lists: dict[str, list[str]],
    path_params: Mapping[str, Any],
) -> None:
    """A UI form's fields, parsed as :func:`modelyard.server.ui.pages.read_form` does (the first
    value of each field is the one handlers use; path parameters win)."""
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, []).append(value)
    for key, items in form.items():
        if key in path_params:
            continue
        values[key] = items[0]
        lists[key] = items


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the route again, then defers."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _on_redirect(send: Send, ctx: Ctx, created: Callable[[Ctx, str], None]) -> Send:
    """Calls ``created`` with the ``Location`` of a successful form post's redirect."""

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in (302, 303):
            headers = dict(message.get("headers", []))
            location = headers.get(b"location", b"").decode("latin-1")
            if location and "error=" not in location:
                await run_in_threadpool(created, ctx, location)
        await send(message)

    return watched
