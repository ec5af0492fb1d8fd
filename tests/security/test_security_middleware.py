"""The hardening middleware (modelyard.server.security): Host check, CORS, headers, body limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from security_helpers import API, app_client, serve, settings_for

from live_app import free_port
from modelyard.server.app import create_app
from modelyard.server.security import HostPolicy

SEARCH = f"{API}/experiments/search?max_results=5"


def _names(client) -> list[str]:
    body = client.get(SEARCH).json()
    return [e["name"] for e in body.get("experiments", [])]


# ------------------------------------------------------------------------------ Host check
@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5000",
        "127.0.0.1:5000",
        "[::1]:5000",
        "10.1.2.3",
        "192.168.0.7:8080",
        "172.20.0.1",
        "mlflow",  # an intranet name: no public DNS name (what a rebinding needs) is dotless
        "testserver",
        "app.localhost:5000",
        "LOCALHOST.",
    ],
)
def test_default_hosts_are_answered(tmp_path, host):
    with app_client(tmp_path) as client:
        response = client.get(SEARCH, headers={"host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "evil.example.com:5000",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "8.8.8.8",
        "[2001:4860:4860::8888]",
        "",
        "bad host",
        "a@b",
    ],
)
def test_other_hosts_get_400_and_reach_no_route(tmp_path, host):
    with app_client(tmp_path) as client:
        response = client.post(
            f"{API}/experiments/create", json={"name": "rebound"}, headers={"host": host}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "BAD_REQUEST"
        assert "allowed_hosts" in response.json()["message"]
        assert "rebound" not in _names(client)


def test_explicit_allowed_hosts_replace_the_defaults(tmp_path):
    with app_client(tmp_path, allowed_hosts="ml.example.com, *.corp.example") as client:
        assert client.get(SEARCH, headers={"host": "ml.example.com"}).status_code == 200
        assert client.get(SEARCH, headers={"host": "a.b.corp.example:443"}).status_code == 200
        assert client.get(SEARCH, headers={"host": "corp.example.evil"}).status_code == 400
        assert client.get(SEARCH, headers={"host": "localhost"}).status_code == 400


def test_a_star_allows_every_host(tmp_path):
    with app_client(tmp_path, allowed_hosts="*") as client:
        assert client.get(SEARCH, headers={"host": "anything.example.com"}).status_code == 200


def test_the_bound_host_and_wildcard_binds():
    assert HostPolicy(None, "ml.internal.example").allows("ml.internal.example:5000")
    assert not HostPolicy(None, "127.0.0.1").allows("93.184.216.34")
    # bound to every interface, every address of the machine is the bound host
    assert HostPolicy(None, "0.0.0.0").allows("93.184.216.34:5000")
    assert not HostPolicy(None, "0.0.0.0").allows("evil.example.com")


def test_a_real_server_refuses_a_rebound_host(tmp_path):
    with serve(create_app(settings_for(tmp_path))) as live:
        status, _, body = live.raw("GET", SEARCH, headers={"Host": "attacker.example:80"})
        assert status == 400 and b"BAD_REQUEST" in body
        status, _, _ = live.raw("GET", SEARCH)
        assert status == 200


# ------------------------------------------------------------------------------ CORS
def test_without_cors_settings_no_cors_header_and_no_cross_origin_write(tmp_path):
    evil = {"origin": "https://evil.example.com"}
    with app_client(tmp_path) as client:
        read = client.get(SEARCH, headers=evil)
        assert read.status_code == 200
        assert not [h for h in read.headers if h.startswith("access-control-")]
        write = client.post(f"{API}/experiments/create", json={"name": "csrf"}, headers=evil)
        assert write.status_code == 403 and write.json()["error_code"] == "PERMISSION_DENIED"
        preflight = client.options(
            f"{API}/experiments/create",
            headers={**evil, "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers
        # a form post from another site to the UI is refused before the CSRF check is needed
        form = client.post("/ui/experiments/create", data={"name": "csrf"}, headers=evil)
        assert form.status_code == 403
        null_origin = client.delete(
            "/api/2.0/mlflow-artifacts/artifacts/x.txt", headers={"origin": "null"}
        )
        assert null_origin.status_code == 403
        assert "csrf" not in _names(client)


def test_same_origin_writes_pass(tmp_path):
    with app_client(tmp_path) as client:
        response = client.post(
            f"{API}/experiments/create",
            json={"name": "same"},
            headers={"origin": "http://testserver"},
        )
        assert response.status_code == 200, response.text
        assert "access-control-allow-origin" not in response.headers


def test_listed_origins_get_preflight_and_credentials(tmp_path):
    app_origin = "https://notebook.example.com"
    with app_client(tmp_path, cors_allowed_origins=f"{app_origin}, https://b.example") as client:
        preflight = client.options(
            f"{API}/experiments/create",
            headers={
                "origin": app_origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == app_origin
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "content-type, authorization"
        write = client.post(
            f"{API}/experiments/create", json={"name": "cors"}, headers={"origin": app_origin}
        )
        assert write.status_code == 200
        assert write.headers["access-control-allow-origin"] == app_origin
        assert write.headers["vary"] == "Origin"
        other = client.post(
            f"{API}/experiments/create",
            json={"name": "other"},
            headers={"origin": "https://c.example"},
        )
        assert other.status_code == 403
        assert _names(client).count("cors") == 1 and "other" not in _names(client)


def test_any_origin_never_gets_credentials(tmp_path):
    with app_client(tmp_path, cors_allowed_origins="*") as client:
        response = client.get(SEARCH, headers={"origin": "https://x.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


# ------------------------------------------------------------------------------ headers
def test_ui_pages_static_files_and_errors_carry_security_headers(tmp_path):
    with app_client(tmp_path) as client:
        for path in ("/", "/experiments", "/static/ui/app.js", "/no-such-page", "/health"):
            response = client.get(path)
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "same-origin", path
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            script_src = csp.split("script-src")[1].split(";")[0]
            assert "unsafe" not in script_src, csp  # no inline scripts, no eval
        api = client.get(SEARCH)
        assert "content-security-policy" not in api.headers  # the JSON hot path stays bare


# ------------------------------------------------------------------------------ body limits
def test_json_bodies_over_the_limit_get_413(tmp_path):
    with app_client(tmp_path, max_request_bytes=1000) as client:
        big = {"name": "x" * 2000}
        declared = client.post(f"{API}/experiments/create", json=big)
        assert declared.status_code == 413
        assert declared.json() == {
            "error_code": "BAD_REQUEST",
            "message": "The request body is larger than the limit of 1000 bytes.",
        }

        def chunks():
            yield b'{"name": "'
            yield b"y" * 2000
            yield b'"}'

        streamed = client.post(
            f"{API}/experiments/create",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413, streamed.text
        assert client.post(f"{API}/experiments/create", json={"name": "small"}).status_code == 200
        # the JSON limit does not apply to artifact uploads
        upload = client.put("/api/2.0/mlflow-artifacts/artifacts/big.bin", content=b"z" * 5000)
        assert upload.status_code == 200
    assert (tmp_path / "mlartifacts" / "big.bin").stat().st_size == 5000


def test_artifact_uploads_over_their_own_limit_get_413_and_leave_no_file(tmp_path):
    with app_client(tmp_path, max_upload_bytes=3 << 20) as client:
        declared = client.put("/api/2.0/mlflow-artifacts/artifacts/a.bin", content=b"a" * (4 << 20))
        assert declared.status_code == 413, declared.text
        assert declared.json()["error_code"] == "BAD_REQUEST"

        def chunks():
            for _ in range(8):
                yield b"b" * (1 << 20)

        streamed = client.put("/api/2.0/mlflow-artifacts/artifacts/b.bin", content=chunks())
        assert streamed.status_code == 413, streamed.text
        assert client.put("/api/2.0/mlflow-artifacts/artifacts/c.bin", content=b"c").is_success
    files = sorted(p.name for p in (tmp_path / "mlartifacts").rglob("*") if p.is_file())
    assert files == ["c.bin"]


# ------------------------------------------------------------------------------ the CLI flags
@pytest.mark.slow
def test_server_flags_set_hosts_and_origins(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    argv = [
        sys.executable, "-m", "modelyard.cli", "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'cli.db'}",
        "--artifacts-destination", str(tmp_path / "dest"),
        "--port", str(port), "--workers", "1",
        "--allowed-hosts", "127.0.0.1,ml.example.com",
        "--cors-allowed-origins", "https://nb.example.com",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert httpx.get(url + SEARCH, headers={"host": "ml.example.com"}).status_code == 200
        assert httpx.get(url + SEARCH, headers={"host": "localhost"}).status_code == 400
        answer = httpx.get(url + SEARCH, headers={"origin": "https://nb.example.com"})
        assert answer.headers["access-control-allow-origin"] == "https://nb.example.com"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cookies_are_secure_behind_a_tls_proxy(tmp_path):
    """uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (FORWARDED_ALLOW_IPS); the page is then
    https and its CSRF cookie gets ``Secure``; over plain HTTP it does not (it would be dropped)."""
    with serve(create_app(settings_for(tmp_path))) as live:
        _, plain, _ = live.raw("GET", "/experiments")
        _, proxied, _ = live.raw("GET", "/experiments", headers={"X-Forwarded-Proto": "https"})
    assert "modelyard_csrf=" in plain["set-cookie"] and "Secure" not in plain["set-cookie"]
    assert proxied["set-cookie"].endswith("; Secure"), proxied["set-cookie"]
