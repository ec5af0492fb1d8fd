"""Regression tests for the 500s that fuzzing the API found (each was a bug; each now is a 4xx)."""

from __future__ import annotations

import pytest
from security_helpers import API, app_client, settings_for

from modelyard.server.app import create_app

BEYOND_INT64 = "9" * 30


def test_ids_no_bigint_column_can_hold_name_nothing(db_uri, tmp_path):
    """``experiment_id`` and the ids of transition requests and comments larger than 2**63-1 reached
    the driver ("Python int too large to convert to SQLite INTEGER": 500)."""
    from starlette.testclient import TestClient

    with TestClient(create_app(settings_for(tmp_path, backend_store_uri=db_uri))) as client:
        calls = [
            ("GET", "experiments/get", {"params": {"experiment_id": BEYOND_INT64}}, 404),
            ("POST", "experiments/delete", {"json": {"experiment_id": BEYOND_INT64}}, 404),
            ("POST", "experiments/restore", {"json": {"experiment_id": BEYOND_INT64}}, 404),
            (
                "POST",
                "experiments/set-experiment-tag",
                {"json": {"experiment_id": BEYOND_INT64, "key": "k", "value": "v"}},
                404,
            ),
            ("POST", "runs/create", {"json": {"experiment_id": BEYOND_INT64}}, 404),
            ("PATCH", "comments/update", {"json": {"id": BEYOND_INT64, "comment": "c"}}, 400),
            ("DELETE", "comments/delete", {"json": {"id": BEYOND_INT64}}, 400),
            (
                "POST",
                "transition-requests/approve",
                {"json": {"id": BEYOND_INT64, "name": "m", "version": "1"}},
                400,
            ),
            (
                "POST",
                "transition-requests/reject",
                {"json": {"id": BEYOND_INT64, "name": "m", "version": "1"}},
                400,
            ),
            ("DELETE", "transition-requests/delete", {"json": {"id": BEYOND_INT64}}, 400),
        ]
        for method, path, kw, status in calls:
            response = client.request(method, f"{API}/{path}", **kw)
            assert response.status_code == status, (path, response.text)
            assert BEYOND_INT64 in response.json()["message"], path


@pytest.mark.parametrize("name", ["x" * 9000, "a/" + "b" * 300, "d" * 256 + "/f.txt"])
def test_artifact_names_the_file_system_cannot_hold_are_400(tmp_path, name):
    """ENAMETOOLONG from the local store was an INTERNAL_ERROR (500) echoing the whole name."""
    proxy = "/api/2.0/mlflow-artifacts"
    with app_client(tmp_path) as client:
        upload = client.put(f"{proxy}/artifacts/{name}", content=b"x")
        assert upload.status_code == 400, upload.text[:300]
        assert upload.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        for response in (  # nothing there: an empty listing, 404, or a no-op delete; never 500
            upload,
            client.get(f"{proxy}/artifacts", params={"path": name}),
            client.get(f"{proxy}/artifacts/{name}"),
            client.delete(f"{proxy}/artifacts/{name}"),
        ):
            assert response.status_code in (200, 400, 404), response.text[:300]
            assert len(response.text) < 1000  # the name is not echoed whole
    destination = tmp_path / "mlartifacts"
    assert [p for p in destination.rglob("*") if p.is_file()] == []  # nothing half-written


@pytest.mark.parametrize("days", [1e308, "Infinity", "NaN", 36501, 0, -1])
def test_token_lifetimes_that_fit_no_expiry_are_400(tmp_path, days):
    """``access-tokens/create`` with ``expires_in_days: 1e308`` overflowed the BIGINT expiry (500)."""
    import base64

    password = "regression-admin-password"
    with app_client(tmp_path, auth=True, auth_admin_password=password) as client:
        basic = base64.b64encode(f"admin:{password}".encode()).decode()
        response = client.post(
            f"{API}/access-tokens/create",
            json={"name": "ci", "expires_in_days": days},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 400, response.text
        assert "expires_in_days" in response.json()["message"]
