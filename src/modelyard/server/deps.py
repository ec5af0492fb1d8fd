"""Services handed to routes by dependency injection.

``create_app`` puts the services on ``app.state``; routes ask for them with the typed aliases below.
Tests may swap one with ``app.dependency_overrides[get_tracking]``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from modelyard.entities.auth import Principal
from modelyard.errors import EndpointNotFound, Unauthenticated
from modelyard.service.auth import AuthService
from modelyard.service.logged_models import LoggedModelService
from modelyard.service.registry import RegistryService
from modelyard.service.tracking import TrackingService
from modelyard.service.webhooks import WebhookService


async def get_tracking(request: Request) -> TrackingService:
    """The app's :class:`TrackingService` (async, so FastAPI does not hop to a thread for it)."""
    service: TrackingService = request.app.state.tracking
    return service


TrackingDep = Annotated[TrackingService, Depends(get_tracking)]


async def get_logged_models(request: Request) -> LoggedModelService:
    """The app's :class:`LoggedModelService`."""
    service: LoggedModelService = request.app.state.logged_models
    return service


LoggedModelsDep = Annotated[LoggedModelService, Depends(get_logged_models)]


def request_user(request: Request) -> str:
    """Who the request acts as. With ``--auth``: the authenticated principal (never a header the client
    chooses). Without: the name the client gives itself, the HTTP Basic username, else
    ``X-Modelyard-User``, else ``unknown`` (what the client says, not who it is)."""
    if getattr(request.app.state, "auth_guard", None) is not None:
        principal = request.scope.get("state", {}).get("principal")
        return str(principal.username) if principal is not None else "unknown"
    auth = request.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "basic" and credentials:
        import base64
        import binascii

        try:
            user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        user = user.partition(":")[0]
        if user:
            return user
    return request.headers.get("x-modelyard-user", "").strip() or "unknown"


async def get_registry(request: Request) -> RegistryService:
    """The app's :class:`RegistryService`, acting as the user the request names."""
    service: RegistryService = request.app.state.registry
    guard = getattr(request.app.state, "auth_guard", None)
    if guard is not None:  # dependencies run before the RPC's guard: authenticate now (kept for it)
        await guard.principal(request)
    return service.for_user(request_user(request))


RegistryDep = Annotated[RegistryService, Depends(get_registry)]


async def get_webhooks(request: Request) -> WebhookService:
    """The app's :class:`WebhookService`."""
    service: WebhookService = request.app.state.webhooks
    return service


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]


class AuthCall:
    """The identity service with the request it serves. Handlers read :attr:`caller` when they run,
    after the guard has authenticated the request (dependencies are resolved before that)."""

    __slots__ = ("request", "service")

    def __init__(self, service: AuthService, request: Request) -> None:
        self.service = service
        self.request = request

    @property
    def caller(self) -> Principal:
        principal: Principal | None = self.request.scope.get("state", {}).get("principal")
        if principal is None:
            raise Unauthenticated("Authentication required.")
        return principal

    @property
    def remote_addr(self) -> str:
        client = self.request.client
        return client.host if client else ""


async def get_auth(request: Request) -> AuthCall:
    """The app's :class:`AuthService` for the identity endpoints. They exist only with ``--auth``:
    without it, users and grants are managed with the ``modelyard users`` commands, and an open
    server cannot be used to plant accounts that would outlive the day authentication is enabled."""
    service: AuthService | None = getattr(request.app.state, "auth", None)
    if service is None or getattr(request.app.state, "auth_guard", None) is None:
        raise EndpointNotFound(
            "Users, tokens and permissions are served only by a server started with --auth."
        )
    return AuthCall(service, request)
