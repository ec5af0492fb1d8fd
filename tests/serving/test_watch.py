"""``--watch`` end to end: a real modelyard tracking server (SQLite) holds versions 1 and 2 of a
registered model; the scoring server serves ``models:/name@champion`` (or the Production stage)
while a client thread sends requests throughout; moving the alias swaps the answers to version 2
and no request fails."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from serving_support import free_port, server_env

import modelyard
import modelyard.pyfunc
from modelyard.client.tracking import ModelyardClient

VERSION_MODEL = """
from modelyard.pyfunc import PythonModel, set_model


class Constant(PythonModel):
    def predict(self, model_input, params=None):
        return [{answer}] * len(model_input)


set_model(Constant())
"""


@contextmanager
def tracking_server(root: Path) -> Iterator[str]:
    port = free_port()
    argv = [
        sys.executable, "-m", "modelyard.cli", "server",
        "--backend-store-uri", f"sqlite:///{root / 'tracking.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    log_path = root / "tracking.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=server_env(), stdout=log, stderr=log, cwd=root)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the tracking server exited: {log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("the tracking server did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """The URL of a tracking server holding versions 1 and 2 of the registered model 'watched'."""
    with tracking_server(tmp_path) as url:
        modelyard.set_tracking_uri(url)
        try:
            for answer in (1, 2):
                code = tmp_path / f"constant_{answer}.py"
                code.write_text(VERSION_MODEL.format(answer=answer))
                with modelyard.start_run():
                    modelyard.pyfunc.log_model(
                        name="model", python_model=str(code), registered_model_name="watched"
                    )
        finally:
            modelyard.set_tracking_uri(f"sqlite:///{tmp_path / 'unused.db'}")
        yield url


class Traffic:
    """A client thread posting one request after another until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        body = {"dataframe_split": {"columns": ["x"], "data": [[1], [2]]}}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(f"{self.url}/invocations", json=body)
                except httpx.TransportError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                    continue
                predictions = response.json()["predictions"]
                assert len(set(predictions)) == 1
                self.answers.append(predictions[0])

    def wait_for(self, answer: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.answers or self.answers[-1] != answer:
            assert time.monotonic() < deadline, f"still answering {self.answers[-1:]}"
            assert not self.failures, self.failures
            time.sleep(0.05)


def _check_switch(traffic: Traffic) -> None:
    assert not traffic.failures, traffic.failures
    answers = traffic.answers
    switch = answers.index(2)
    assert switch > 0 and set(answers[:switch]) == {1} and set(answers[switch:]) == {2}


@pytest.mark.slow
def test_moving_the_alias_swaps_the_model_without_failing_a_request(
    start_scoring_server, registry, tmp_path
):
    client = ModelyardClient(registry)
    client.set_registered_model_alias("watched", "champion", "1")
    downloads = tmp_path / "server-tmp"
    downloads.mkdir()
    with start_scoring_server(
        "models:/watched@champion",
        "--watch",
        "--watch-interval",
        "0.2",
        "--timeout",
        "1",
        "--tracking-uri",
        registry,
        env={"TMPDIR": str(downloads)},
    ) as server:
        assert httpx.get(f"{server.url}/metadata").json()["model_version"] == "1"
        with Traffic(server.url) as traffic:
            traffic.wait_for(1)
            time.sleep(0.5)
            client.set_registered_model_alias("watched", "champion", "2")
            traffic.wait_for(2)
            time.sleep(0.5)  # and it stays on version 2
        _check_switch(traffic)
        assert httpx.get(f"{server.url}/metadata").json()["model_version"] == "2"
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "modelyard_scoring_model_swaps_total" in metrics
        assert any(
            line.startswith("modelyard_scoring_model_version{") and line.endswith(" 2")
            for line in metrics.splitlines()
        )
        # version 1's downloaded files are removed once its requests are surely done
        deadline = time.monotonic() + 30
        while len(list(downloads.glob("modelyard-serve-*"))) != 1:
            assert time.monotonic() < deadline, list(downloads.iterdir())
            time.sleep(0.2)
        assert server.invoke({"inputs": {"x": [1]}}).json() == {"predictions": [2]}
    client.close()


@pytest.mark.slow
def test_a_stage_is_followed_too_with_two_workers(start_scoring_server, registry):
    client = ModelyardClient(registry)
    client.transition_model_version_stage("watched", "1", "Production")
    with start_scoring_server(
        "models:/watched/Production",
        "--watch",
        "--watch-interval",
        "0.2",
        "--workers",
        "2",
        "--tracking-uri",
        registry,
    ) as server:
        with Traffic(server.url) as traffic:
            traffic.wait_for(1)
            client.transition_model_version_stage(
                "watched", "2", "Production", archive_existing_versions=True
            )
            traffic.wait_for(2)
            time.sleep(1.0)  # both workers swapped: every answer is 2 from now on
            settled = len(traffic.answers)
            time.sleep(0.5)
        assert not traffic.failures, traffic.failures
        assert set(traffic.answers[settled:]) == {2}
        assert traffic.answers[0] == 1
    client.close()


def test_watch_needs_a_moving_registry_uri(start_scoring_server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "models", "serve", "-m", str(tmp_path), "--watch"],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=120,
    )
    assert result.returncode == 2
    assert "--watch follows a registry alias or stage" in result.stderr
