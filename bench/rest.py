"""A plain HTTP/1.1 JSON client for the benchmark (``http.client``, 127.0.0.1 only).

The same client talks to both servers, so neither gets a faster client than the other. By default it
keeps one connection alive; ``fresh=True`` opens a new TCP connection for every call, as a client
without keep-alive does. ``http.client`` sends headers and body in one write with TCP_NODELAY set, so
any delayed-ACK stall it sees comes from the server side.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
import uuid
from typing import Any

import orjson

API = "/api/2.0/mlflow/"
_IDLE_RECONNECT_S = 2.0  # servers close idle keep-alive connections after a few seconds


class RestError(RuntimeError):
    """The server answered with a non-200 status; carries the status and the start of the body."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.status = status
        text = body[:600].decode("utf-8", errors="replace")
        super().__init__(f"{method} {path} -> HTTP {status}: {text}")


class Rest:
    def __init__(self, port: int, *, fresh: bool = False, timeout: float = 600.0) -> None:
        self.port = port
        self.fresh = fresh
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def connect(self) -> None:
        """Open the kept-alive connection now, so the first timed call does not pay for it."""
        self._connection().connect()

    def _connection(self) -> http.client.HTTPConnection:
        now = time.monotonic()
        if self._conn is not None and (self.fresh or now - self._last_used > _IDLE_RECONNECT_S):
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, endpoint: str, body: Any = None, params: Any = None) -> Any:
        path = API + endpoint
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        self._last_used = time.monotonic()
        if self.fresh or response.will_close:
            self.close()
        if response.status != 200:
            raise RestError(method, path, response.status, data)
        return orjson.loads(data) if data else {}

    def post(self, endpoint: str, body: Any) -> Any:
        return self.call("POST", endpoint, body=body)

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.call("GET", endpoint, params=params)

    def __enter__(self) -> Rest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def create_experiment(rest: Rest, name: str) -> str:
    """A new experiment named ``name`` plus a random suffix, so a scenario can run twice."""
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    return str(rest.post("experiments/create", {"name": unique})["experiment_id"])


def create_run(rest: Rest, experiment_id: str, name: str, tags: list[dict[str, str]]) -> str:
    body = {"experiment_id": experiment_id, "run_name": name, "start_time": now_ms(), "tags": tags}
    return str(rest.post("runs/create", body)["run"]["info"]["run_id"])


def history_len(rest: Rest, run_id: str, key: str) -> int:
    """How many points the server holds for (run, key), read in one get-history call."""
    return len(rest.get("metrics/get-history", run_id=run_id, metric_key=key).get("metrics", []))


def count_runs(rest: Rest, experiment_id: str, *, max_pages: int = 100) -> int:
    """Count the active runs of an experiment through paged runs/search (bounded in pages)."""
    total, token = 0, None
    for _ in range(max_pages):
        body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = rest.post("runs/search", body)
        total += len(page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            return total
    raise RuntimeError(f"more than {max_pages} pages of runs in experiment {experiment_id}")
