"""The policy covers every route of the app, and a route without a rule is refused (fail closed)."""

from __future__ import annotations

import httpx
from authz_world import ADMIN, ADMIN_PASSWORD, auth_settings, serve_in_thread
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from modelyard.schemas.fields import STRING, Field, Message
from modelyard.server.app import create_app
from modelyard.server.auth import rpc_of, unmapped_routes, walk_routes
from modelyard.server.auth.policy import ROUTE_RULES, RPC_RULES
from modelyard.server.rpc import RpcTable, add_rpc_routes


def test_every_route_of_the_app_has_a_rule(tmp_path):
    app = create_app(auth_settings(tmp_path))
    routes = list(walk_routes(app.router.routes))
    assert len(routes) > 150  # RPCs under /api and /ajax-api, the proxy, the UI: all were walked
    assert unmapped_routes(app) == []


def test_every_route_of_an_artifacts_only_server_has_a_rule(tmp_path):
    app = create_app(auth_settings(tmp_path, artifacts_only=True))
    assert unmapped_routes(app) == []


def test_no_rule_names_a_route_that_does_not_exist(tmp_path):
    app = create_app(auth_settings(tmp_path))
    served_rpcs = set()
    served_routes = set()
    for route in walk_routes(app.router.routes):
        rpc = rpc_of(route)
        for method in getattr(route, "methods", None) or ():
            if rpc is not None:
                served_rpcs.add((rpc.path, method))
            else:
                served_routes.add((route.path, method))
    assert set(RPC_RULES) - served_rpcs == set()
    only_artifacts = {key for key in ROUTE_RULES if key[1] == "*"}  # an artifacts-only server's
    assert set(ROUTE_RULES) - served_routes - only_artifacts == set()


def test_a_route_without_a_rule_is_refused_even_for_the_admin(tmp_path):
    app = create_app(auth_settings(tmp_path))
    guard = app.state.auth_guard

    async def probe(request):
        return PlainTextResponse("reached")

    route = Route("/probe/unmapped", probe, methods=["GET"])
    route.app = guard.wrap(route.app, route.path, {"GET"})
    app.router.routes.insert(0, route)
    table = RpcTable()

    @table("probe/unmapped-rpc", "GET", request=Message("Probe", [Field("x", STRING)]))
    def unmapped_rpc(svc, req):
        return {"reached": True}

    add_rpc_routes(app, table)
    assert "GET /probe/unmapped" in unmapped_routes(app)
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, auth=(ADMIN, ADMIN_PASSWORD)) as admin,
    ):
        plain = admin.get("/probe/unmapped")
        assert plain.status_code == 403
        assert "has no authorization rule" in plain.text
        rpc = admin.get("/api/2.0/mlflow/probe/unmapped-rpc")
        assert rpc.status_code == 403
        assert rpc.json()["error_code"] == "PERMISSION_DENIED"
        assert admin.get("/health").text == "OK"  # a mapped route still answers


def test_without_auth_nothing_is_guarded(tmp_path):
    settings = auth_settings(tmp_path, auth=False)
    app = create_app(settings)
    assert not hasattr(app.state, "auth_guard")
    assert all(r.path != "/login" for r in walk_routes(app.router.routes) if hasattr(r, "path"))


def test_guarding_one_app_leaves_other_apps_alone(tmp_path):
    """UI and meta routes are shared objects: an app made with --auth must not guard another app."""
    for name in ("guarded", "open", "other"):
        (tmp_path / name).mkdir()
    create_app(auth_settings(tmp_path / "guarded"))
    open_app = create_app(auth_settings(tmp_path / "open", auth=False))
    other = create_app(auth_settings(tmp_path / "other"))
    with serve_in_thread(open_app) as url, httpx.Client(base_url=url) as anonymous:
        assert anonymous.get("/experiments").status_code == 200
        assert anonymous.get("/health").text == "OK"
    with serve_in_thread(other) as url, httpx.Client(base_url=url) as anonymous:
        assert anonymous.get("/experiments").status_code == 303
        with httpx.Client(base_url=url, auth=(ADMIN, ADMIN_PASSWORD)) as admin:
            assert admin.get("/experiments").status_code == 200
