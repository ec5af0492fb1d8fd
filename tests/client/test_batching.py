"""Asynchronous batched logging: everything stored, in order, within limits; failures raised, not lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from modelyard.client.batching import build_batches, split_batch
from modelyard.client.tracking import ModelyardClient
from modelyard.entities import Metric, Param, RunTag
from modelyard.errors import (
    BadRequest,
    DeliveryError,
    InvalidInput,
    ModelyardError,
    TemporarilyUnavailable,
)
from modelyard.service.validation import validate_batch_limits


def _metric_items(run_id: str, n: int) -> list[tuple]:
    return [(run_id, 0, "m", float(i), 1000 + i, i) for i in range(n)]


def test_batches_respect_mlflow_limits_and_keep_everything_in_order():
    items = [
        *_metric_items("run-a", 2500),
        *[("run-a", 1, f"p{i}", str(i)) for i in range(250)],
        *[("run-a", 2, f"t{i % 120}", str(i)) for i in range(300)],
        *_metric_items("run-b", 10),
    ]
    batches = build_batches(items)
    for _, batch in batches:
        tags = list(batch.tags.values())
        validate_batch_limits(batch.metrics, batch.params, tags)  # raises when over a limit
    a = [b for run, b in batches if run == "run-a"]
    assert [m.step for b in a for m in b.metrics] == list(range(2500))
    assert [p.key for b in a for p in b.params] == [f"p{i}" for i in range(250)]
    final_tags = {}
    for b in a:
        final_tags.update({t.key: t.value for t in b.tags.values()})
    assert final_tags == {
        f"t{k}": str(max(i for i in range(300) if i % 120 == k)) for k in range(120)
    }
    assert sum(len(b.metrics) for run, b in batches if run == "run-b") == 10


def test_a_param_logged_twice_goes_out_in_two_requests():
    parts = split_batch(
        "r", params=[Param("a", "1"), Param("a", "2")], metrics=[Metric("m", 1.0, 1)]
    )
    assert [[p.value for p in params] for _, params, _ in parts] == [["1"], ["2"]]


def test_ten_thousand_metrics_all_stored_after_end_run(fluent):
    with fluent.start_run() as run:
        start = time.perf_counter()
        for i in range(10_000):
            fluent.log_metric("loss", 1.0 / (i + 1), step=i)
        enqueue_s = time.perf_counter() - start
    history = fluent.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(10_000))
    assert history[-1].value == 1.0 / 10_000
    assert enqueue_s < 2.0  # about 3-10 µs a call; a synchronous client would need seconds


def test_ten_thousand_metrics_over_http_to_the_real_app(app_client: ModelyardClient):
    run_id = app_client.create_run("0").info.run_id
    for i in range(10_000):
        app_client.log_metric(run_id, "m", float(i), step=i)
    app_client.set_terminated(run_id)
    assert len(app_client.get_metric_history(run_id, "m")) == 10_000


def test_changed_param_raises_at_end_run_and_later_data_is_kept(fluent):
    run = fluent.start_run()
    fluent.log_param("a", 1)
    fluent.log_param("a", 2)
    fluent.log_metric("after", 1.0)
    with pytest.raises(InvalidInput, match="Changing param values is not allowed"):
        fluent.end_run()
    stored = fluent.get_run(run.info.run_id)
    assert stored.data.param_dict == {"a": "1"}
    assert stored.data.metric_dict == {"after": 1.0}
    assert stored.info.status == "FINISHED"
    assert fluent.active_run() is None


def test_changed_param_raises_at_flush_once(fluent):
    with fluent.start_run():
        fluent.log_param("a", "x")
        fluent.log_param("a", "y")
        with pytest.raises(InvalidInput, match="Changing param"):
            fluent.flush()
        fluent.flush()  # the error was reported once


def test_synchronous_logging_when_async_is_switched_off(sqlite_uri, tmp_path, client_settings):
    settings = client_settings(async_logging=False, default_artifact_root=str(tmp_path))
    with ModelyardClient(sqlite_uri, settings=settings) as client:
        run_id = client.create_run("0").info.run_id
        client.log_param(run_id, "a", 1)
        with pytest.raises(InvalidInput, match="Changing param"):
            client.log_param(run_id, "a", 2)
        client.log_metric(run_id, "m", 1.0)
        assert client.backend.get_run(run_id).data.metric_dict == {"m": 1.0}  # no flush needed
        client.log_metric(run_id, "queued", 2.0, synchronous=False)  # one call may still queue
        client.flush()
        assert client.backend.get_run(run_id).data.metric_dict == {"m": 1.0, "queued": 2.0}


def test_failed_requests_are_retried_and_nothing_is_lost(client_settings, scripted_server):
    with scripted_server() as server:
        client = ModelyardClient(server.url, settings=client_settings(http_max_retries=4))
        server.fail_next(3, 503)
        for i in range(3000):
            client.log_metric("0123456789abcdef0123456789abcdef", "m", float(i), step=i)
        client.log_param("0123456789abcdef0123456789abcdef", "p", "v")
        client.flush()
        client.close()
    assert len(server.failed) == 3
    sent = [
        m["step"]
        for path, body in server.accepted
        if path.endswith("runs/log-batch")
        for m in body.get("metrics", [])
    ]
    assert sorted(sent) == list(range(3000))
    params = [p for _, body in server.accepted for p in body.get("params", [])]
    assert params == [{"key": "p", "value": "v"}]
    for _, body in server.accepted:
        assert len(body.get("metrics", [])) <= 1000


def test_lost_answers_are_retried_against_the_real_app_without_duplicates(
    app_transport, client_settings, scripted_server
):
    with scripted_server(upstream=app_transport) as server:
        client = ModelyardClient(server.url, settings=client_settings(http_max_retries=4))
        run_id = client.create_run("0").info.run_id
        server.lose_answers(2)  # the server stores the batch, the client never hears back
        server.fail_next(2, 502)
        for i in range(2000):
            client.log_metric(run_id, "m", float(i), step=i)
        client.log_param(run_id, "p", "v")
        client.set_terminated(run_id)
        history = client.get_metric_history(run_id, "m")
        assert [m.step for m in history] == list(range(2000))
        assert client.get_run(run_id).data.param_dict == {"p": "v"}
        assert len(server.failed) == 4
        client.close()


def test_undeliverable_batch_raises_delivery_error_at_flush_and_later_batches_arrive(
    client_settings, scripted_server
):
    run_id = "0123456789abcdef0123456789abcdef"
    with scripted_server() as server:
        client = ModelyardClient(server.url, settings=client_settings(http_max_retries=2))
        server.always_fail = 503
        for i in range(10):
            client.log_metric(run_id, "m", float(i), step=i)
        with pytest.raises(DeliveryError) as caught:
            client.flush()
        error = caught.value
        assert isinstance(error.__cause__, TemporarilyUnavailable)
        assert run_id in error.message and "503" in error.message
        assert [m.step for m in error.context["metrics"]] == list(
            range(10)
        )  # what was not delivered
        assert len(server.failed) == 3  # the first try and two retries
        server.always_fail = None
        client.log_metric(run_id, "m", 99.0, step=99)
        client.flush()
        client.close()
    delivered = [m["step"] for _, body in server.accepted for m in body.get("metrics", [])]
    assert delivered == [99]


def test_deterministic_refusal_is_not_retried(client_settings, scripted_server):
    with scripted_server() as server:
        client = ModelyardClient(server.url, settings=client_settings(http_max_retries=5))
        server.fail_next(1, 400)
        client.log_metric("0123456789abcdef0123456789abcdef", "m", 1.0)
        with pytest.raises(BadRequest, match="HTTP 400"):
            client.flush()
        client.close()
    assert len(server.failed) == 1 and server.accepted == []


def test_unreachable_server(client_settings, scripted_server):
    with scripted_server() as server:
        url = server.url  # closed on leaving the block: nothing listens there any more
    client = ModelyardClient(url, settings=client_settings(http_max_retries=1))
    with pytest.raises(TemporarilyUnavailable, match="Could not reach"):
        client.create_run("0")
    client.log_metric("0123456789abcdef0123456789abcdef", "m", 1.0)
    with pytest.raises(DeliveryError, match="Could not reach"):
        client.flush()
    client.close()


def test_queued_data_is_sent_at_interpreter_exit(tmp_path):
    db = tmp_path / "atexit.db"
    script = textwrap.dedent(
        f"""
        from modelyard.client.tracking import ModelyardClient
        client = ModelyardClient("sqlite:///{db}")
        run_id = client.create_run("0").info.run_id
        print(run_id, flush=True)
        for i in range(2000):
            client.log_metric(run_id, "m", float(i), step=i)
        """
    )
    env = {**os.environ, "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    with ModelyardClient(f"sqlite:///{db}") as client:
        assert len(client.get_metric_history(out.stdout.strip(), "m")) == 2000


def test_undeliverable_data_at_exit_is_reported(tmp_path, scripted_server):
    with scripted_server() as server:
        url = server.url
    script = textwrap.dedent(
        f"""
        from modelyard.client.tracking import ModelyardClient
        client = ModelyardClient("{url}")
        client.log_metric("0123456789abcdef0123456789abcdef", "m", 1.0)
        """
    )
    env = {**os.environ, "MODELYARD_HTTP_MAX_RETRIES": "0"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert "not delivered" in out.stderr and "Could not deliver 1 metric" in out.stderr


def test_credentials_are_sent(client_settings, scripted_server):
    with scripted_server() as server:
        basic = ModelyardClient(
            server.url, settings=client_settings(tracking_username="ann", tracking_password="pw")
        )
        basic.delete_run("0123456789abcdef0123456789abcdef")
        token = ModelyardClient(server.url, settings=client_settings(tracking_token="tok123"))
        token.delete_run("0123456789abcdef0123456789abcdef")
        basic.close()
        token.close()
    assert server.headers[0]["authorization"] == "Basic YW5uOnB3"
    assert server.headers[1]["authorization"] == "Bearer tok123"
    assert server.headers[0]["user-agent"].startswith("modelyard/")


def test_a_create_is_retried_only_when_the_server_cannot_have_acted(
    app_transport, client_settings, scripted_server
):
    with scripted_server(upstream=app_transport) as server:
        client = ModelyardClient(server.url, settings=client_settings(http_max_retries=3))
        server.fail_next(1, 503)  # refused: safe to send again
        assert client.create_experiment("once")
        server.fail_next(1, 502)  # maybe acted on: not sent again
        with pytest.raises(Exception, match="502"):
            client.create_experiment("twice")
        client.close()


def test_tags_set_twice_in_one_batch_keep_the_last_value(sqlite_client: ModelyardClient):
    run_id = sqlite_client.create_run("0").info.run_id
    for i in range(5):
        sqlite_client.set_tag(run_id, "t", str(i))
    sqlite_client.log_batch(run_id, tags=[RunTag("u", "1"), RunTag("u", "2")])
    tags = sqlite_client.get_run(run_id).data.tag_dict
    assert (tags["t"], tags["u"]) == ("4", "2")


def test_closed_client_refuses_to_log_and_its_thread_ends(sqlite_uri, tmp_path, client_settings):
    client = ModelyardClient(
        sqlite_uri, settings=client_settings(default_artifact_root=str(tmp_path))
    )
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.0)
    sender = client._logger._thread  # the one background thread of this client
    assert sender is not None and sender.is_alive()
    client.close()
    sender.join(timeout=5)
    assert not sender.is_alive()
    with pytest.raises(DeliveryError, match="closed"):
        client.log_metric(run_id, "m", 2.0)


def test_a_server_that_is_not_a_tracking_server_gives_a_clear_error(
    client_settings, scripted_server
):
    with scripted_server() as server:  # answers {} to everything
        client = ModelyardClient(server.url, settings=client_settings())
        with pytest.raises(ModelyardError, match="without 'run'"):
            client.get_run("0123456789abcdef0123456789abcdef")
        with pytest.raises(ModelyardError, match="without 'experiment_id'"):
            client.create_experiment("x")
        client.close()
