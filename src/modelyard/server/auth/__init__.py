"""Authentication and authorization of the server's requests (``modelyard server --auth``).

:func:`install_auth` is called by :func:`modelyard.server.app.create_app` after every route exists:
it puts a :class:`~modelyard.server.auth.guard.Guard` on ``app.state.auth_guard`` (the RPC request
path of :mod:`modelyard.server.rpc` asks it) and wraps every other route with the rule of
:mod:`modelyard.server.auth.policy` for its template. Without ``--auth`` none of this is installed
and every request is anonymous, as before.

:func:`readable` lets a page that lists resources (the UI's experiments and models lists) keep only
those the caller may READ.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.entities.auth import Permission, ResourceType
from modelyard.server.auth.guard import Guard, current_principal
from modelyard.server.auth.policy import fill_page, route_rule, rpc_rule
from modelyard.server.auth.targets import Ctx

T = TypeVar("T")


def enable_auth(app: Any, store: Any) -> Guard:
    """``--auth``: an ``AuthService`` over the tracking store's database on ``app.state.auth``, the
    first admin (:func:`~modelyard.service.auth.bootstrap_admin`), and the guard on every route."""
    from modelyard.service.auth import AuthService, bootstrap_admin
    from modelyard.store.sql.auth import SqlAuthStore

    settings = app.state.settings
    engine = getattr(store, "engine")  # noqa: B009 - users and grants share the tracking database
    service = AuthService.from_settings(SqlAuthStore(engine), settings)
    bootstrap_admin(service, settings)
    app.state.auth = service
    return install_auth(app, service)


def install_auth(app: Any, auth: Any) -> Guard:
    """Guard every route of ``app`` with ``auth`` (an ``AuthService``); returns the guard.

    Route objects may be shared between apps (the UI's and the meta routes are module-level), so each
    non-RPC route is replaced in this app's list by a guarded copy, never changed in place; routes of
    included routers are lifted into the list the same way.
    """
    guard = Guard(app, auth, app.state.settings)
    app.state.auth_guard = guard
    app.state.experiment_of = {}  # run / logged model id -> experiment id (see targets.py)
    guarded: list[BaseRoute] = []
    for route in walk_routes(app.router.routes):
        inner = getattr(route, "app", None)
        if rpc_of(route) is not None or inner is None:
            guarded.append(route)  # RPCs are checked in the RPC request path, after parsing
            continue
        methods = set(getattr(route, "methods", None) or {"GET"})
        wrapped = copy.copy(route)
        wrapped.app = guard.wrap(inner, str(getattr(route, "path", "")), methods)  # type: ignore[attr-defined]
        guarded.append(wrapped)
    app.router.routes[:] = guarded
    return guard


def walk_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of routers included with ``include_router``."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None and not hasattr(route, "path"):
            yield from walk_routes(included.routes)
        else:
            yield route


def rpc_of(route: BaseRoute) -> Any:
    """The :class:`~modelyard.server.rpc.Rpc` a route serves, None for other routes."""
    return getattr(getattr(route, "endpoint", None), "rpc", None)


def unmapped_routes(app: Any) -> list[str]:
    """``METHOD path`` of every route of ``app`` that the policy has no rule for (should be none)."""
    missing = []
    for route in walk_routes(app.router.routes):
        rpc = rpc_of(route)
        methods = sorted(getattr(route, "methods", None) or {"*"})
        path = str(getattr(route, "path", route))
        for method in methods:
            rule = rpc_rule(rpc.path, method) if rpc is not None else route_rule(path, method)
            if rule is None:
                missing.append(f"{method} {path}")
    return missing


def readable(
    request: Request, resource_type: ResourceType, items: Iterable[T], id_of: Callable[[T], str]
) -> list[T]:
    """The ``items`` the request's principal may READ (all of them on a server without auth)."""
    guard: Guard | None = getattr(request.app.state, "auth_guard", None)
    kept = list(items)
    principal = current_principal(request)
    if guard is None:
        return kept
    if principal is None:
        return []
    if principal.is_admin:
        return kept
    ctx = Ctx(request.app, principal, {}, auth=guard.auth)
    ctx.prefetch(resource_type, [str(id_of(i)) for i in kept])
    return [i for i in kept if ctx.allows(resource_type, str(id_of(i)), Permission.READ)]


def readable_page(
    request: Request,
    resource_type: ResourceType,
    token: str | None,
    size: int,
    fetch: Callable[[str | None, int], Any],
    id_of: Callable[[T], str],
) -> tuple[list[T], str | None]:
    """The page of a search at ``token`` (``fetch(token, max_results)`` gives a ``PagedList``), cut
    to what the request's principal may READ and refilled from the following pages, ``size`` long
    at most: see :func:`modelyard.server.auth.policy.fill_page`."""

    def more(at: str | None, max_results: int) -> tuple[list[T], str | None]:
        found = fetch(at, max_results)
        return list(found.items), found.next_page_token

    items, next_token = more(token, size)
    return fill_page(
        items,
        next_token,
        size,
        more,
        lambda found: readable(request, resource_type, found, id_of),
    )


__all__ = [
    "Guard",
    "current_principal",
    "enable_auth",
    "install_auth",
    "readable",
    "readable_page",
    "unmapped_routes",
]
