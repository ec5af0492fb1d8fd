"""Webhooks from a server with two worker processes: every event is delivered once, signed, whichever
worker handled the request and whichever worker sent it."""

from __future__ import annotations

import json

import httpx
import pytest
from test_server_webhooks import Receiver

from modelyard.service.webhooks import verify

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow"


def test_two_workers_deliver_each_event_once(tmp_path, spawn_server):
    receiver = Receiver(statuses=[503])  # the first attempt fails, so one delivery is retried
    env = {
        "MODELYARD_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'workers.db'}",
        "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MODELYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "MODELYARD_WEBHOOK_ALLOW_HTTP": "true",
        "MODELYARD_WEBHOOK_RETRY_BACKOFF_S": "0.1",
        "MODELYARD_WEBHOOK_DELIVERY_THREADS": "2",
    }
    try:
        with spawn_server(env, workers=2, log_path=tmp_path / "server.log") as server:
            with httpx.Client(base_url=server.url + API, timeout=30) as http:
                created = http.post(
                    "/webhooks",
                    json={
                        "name": "ci",
                        "url": receiver.url,
                        "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}],
                        "secret": "k",
                    },
                )
                assert created.status_code == 200, created.text
                names = [f"w{i}" for i in range(12)]
                for name in names:
                    response = http.post("/registered-models/create", json={"name": name})
                    assert response.status_code == 200, response.text
                got = receiver.wait(len(names) + 1)
            assert all(verify("k", h, b) for h, b in got)
            ids = [h["X-MLflow-Delivery-Id"] for h, _ in got]
            assert len(set(ids)) == len(names)  # one delivery per event, one retried
            delivered = sorted({json.loads(b)["data"]["name"] for _, b in got})
            assert delivered == sorted(names)
    finally:
        receiver.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
