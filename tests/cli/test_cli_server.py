"""``modelyard server``: refusals before start (in-process) and a real server (subprocess, slow)."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

import modelyard


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_uri_stops_before_any_worker(invoke, one_line_error) -> None:
    result = invoke("server", "--backend-store-uri", "nonsense", "--port", str(_free_port()))
    one_line_error(result, "nonsense")


def test_unreachable_database_is_one_line(invoke, one_line_error) -> None:
    port = _free_port()
    result = invoke(
        "server",
        "--backend-store-uri",
        "postgresql://postgres:pw@127.0.0.1:1/nowhere",
        "--port",
        str(port),
    )
    one_line_error(result, "postgresql://postgres:***@127.0.0.1:1/nowhere")
    assert ":pw@" not in result.output


def test_port_in_use_is_one_line(invoke, one_line_error, sqlite_uri) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("server", "--backend-store-uri", sqlite_uri, "--port", str(port))
    one_line_error(result, f"127.0.0.1:{port}")


def test_unknown_host_is_one_line(invoke, one_line_error, sqlite_uri) -> None:
    result = invoke("server", "--backend-store-uri", sqlite_uri, "--host", "no-such-host.invalid")
    one_line_error(result, "no-such-host.invalid")


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "0"), ("--port", "70000"), ("--workers", "0")]
)
def test_out_of_range_numbers_are_usage_errors(invoke, option, value) -> None:
    result = invoke("server", option, value)
    assert result.exit_code == 2
    assert option in result.stderr


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_real_server_answers_health_version_and_the_cli(server_factory, invoke, tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'served.db'}"
    url = server_factory(db, workers=2)

    status, body = _get(f"{url}/health")
    assert status == 200
    status, body = _get(f"{url}/version")
    assert status == 200
    assert modelyard.__version__ in body.decode()

    # the experiments and runs commands work the same through the server
    created = invoke("experiments", "create", "--name", "served", "--tracking-uri", url)
    assert created.exit_code == 0, created.output
    experiment_id = created.stdout.strip().rstrip(".").rsplit(" ", 1)[-1]
    listed = invoke("experiments", "search", "-o", "json", "--tracking-uri", url)
    assert "served" in {e["name"] for e in json.loads(listed.stdout)}
    missing = invoke("runs", "describe", "--run-id", "f" * 32, "--tracking-uri", url)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: ") and "Traceback" not in missing.output

    # and what the server wrote is in the database it was given
    local = invoke("experiments", "search", "-o", "json", "--tracking-uri", db)
    assert experiment_id in {e["experiment_id"] for e in json.loads(local.stdout)}
