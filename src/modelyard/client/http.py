"""The HTTP backend: MLflow's REST API (``/api/2.0/mlflow/...``) over one kept-alive httpx client.

The only module of modelyard that imports httpx. It

* keeps connections alive and sets ``TCP_NODELAY`` on its sockets (small requests are not held back
  by Nagle's algorithm waiting for delayed ACKs);
* turns error JSON back into the same :mod:`modelyard.errors` classes the in-process backend
  raises (:func:`modelyard.errors.from_error_code`), and non-JSON errors into the class of their
  HTTP status; no httpx exception reaches the caller;
* retries refused or dropped connections and 429/502/503/504 answers with exponential backoff
  (settings ``http_max_retries`` and ``http_backoff_s``, honouring ``Retry-After``), and never
  retries a deterministic 4xx. Requests that are not idempotent (creating a run or an experiment)
  are only retried when the server cannot have acted on them;
* sends HTTP Basic credentials (``*_TRACKING_USERNAME``/``PASSWORD``) or a bearer token
  (``*_TRACKING_TOKEN``);
* takes an optional httpx transport, so tests run it against the real app in-process.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

import modelyard
from modelyard.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from modelyard.errors import (
    BadRequest,
    Conflict,
    EndpointNotFound,
    ModelyardError,
    NotFound,
    PermissionDenied,
    TemporarilyUnavailable,
    Unauthenticated,
    from_error_code,
)
from modelyard.schemas.tracking import (
    dataset_input_to_dict,
    experiment_from_dict,
    metric_from_dict,
    metric_to_dict,
    run_from_dict,
    run_info_from_dict,
)

if TYPE_CHECKING:
    from modelyard.settings import Settings

API_PREFIX = "/api/2.0/mlflow/"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses after which the server certainly did not act, so even a create may be sent again.
_REFUSED_STATUSES = frozenset({429, 503})
#: Transport failures raised before the request left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_RETRY_AFTER_S = 60.0

_STATUS_ERRORS: dict[int, type[ModelyardError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: EndpointNotFound,
    409: Conflict,
    503: TemporarilyUnavailable,
}
_STATUS_CODES: dict[int, str] = {
    429: "REQUEST_LIMIT_EXCEEDED",
    499: "CANCELLED",
    501: "NOT_IMPLEMENTED",
    504: "DEADLINE_EXCEEDED",
}


def default_transport() -> httpx.HTTPTransport:
    """A pooled transport whose sockets have ``TCP_NODELAY`` set."""
    return httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30.0),
    )


class HttpBackend:
    """:class:`~modelyard.client.backend.TrackingBackend` over the REST API of a server."""

    def __init__(
        self, uri: str, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.uri = uri.rstrip("/")
        self._max_retries = max(0, int(settings.http_max_retries))
        self._backoff_s = max(0.0, float(settings.http_backoff_s))
        headers = {"User-Agent": f"modelyard/{modelyard.__version__}"}
        auth: httpx.Auth | None = None
        if settings.tracking_username:
            auth = httpx.BasicAuth(settings.tracking_username, settings.tracking_password or "")
        elif settings.tracking_token:
            headers["Authorization"] = f"Bearer {settings.tracking_token}"
        self._auth_headers = dict(headers)
        if settings.tracking_username:
            pair = f"{settings.tracking_username}:{settings.tracking_password or ''}"
            self._auth_headers["Authorization"] = "Basic " + base64.b64encode(
                pair.encode("utf-8")
            ).decode("ascii")
        self._http = httpx.Client(
            base_url=self.uri,
            transport=transport if transport is not None else default_transport(),
            headers=headers,
            auth=auth,
            timeout=float(settings.http_timeout_s),
            follow_redirects=False,
        )

    @property
    def auth_headers(self) -> dict[str, str]:
        """The user agent and credentials every request carries, for other HTTP clients of the same
        server (the artifact proxy's store)."""
        return dict(self._auth_headers)

    # ---------------------------------------------------------------- transport
    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        url = API_PREFIX + path
        content = None
        headers = None
        if body is not None:
            content = orjson.dumps(body)
            headers = {"Content-Type": "application/json"}
        params = {k: v for k, v in query.items() if v is not None} if query else None
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, url, content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, _NOT_SENT)
                if not retryable or attempt >= self._max_retries:
                    raise TemporarilyUnavailable(
                        f"Could not reach the tracking server at {self.uri} ({method} {url}, "
                        f"{attempt + 1} attempt(s)): {type(exc).__name__}: {exc}",
                        uri=self.uri,
                    ) from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            status = response.status_code
            if status < 400:
                return self._decode(response, method, url)
            if (
                status in RETRY_STATUSES
                and attempt < self._max_retries
                and (idempotent or status in _REFUSED_STATUSES)
            ):
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            raise self._error(response, method, url)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self._backoff_s * (2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own backoff
                delay = max(delay, min(float(retry_after), _MAX_RETRY_AFTER_S))
        time.sleep(delay)

    def _decode(self, response: httpx.Response, method: str, url: str) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ModelyardError(
                f"The server at {self.uri} answered {method} {url} with a body that is not a JSON "
                f"object (status {response.status_code}, content type "
                f"{response.headers.get('content-type', 'unknown')!r}). Is this a modelyard or "
                "MLflow tracking server?",
                uri=self.uri,
            )
        return data

    def _field(self, data: dict[str, Any], name: str) -> Any:
        """``data[name]``, or a clear error when the server's answer lacks it."""
        value = data.get(name)
        if value is None:
            raise ModelyardError(
                f"The server at {self.uri} sent an answer without '{name}'. Is this a modelyard "
                "or MLflow tracking server?",
                uri=self.uri,
            )
        return value

    def _error(self, response: httpx.Response, method: str, url: str) -> ModelyardError:
        status = response.status_code
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error_code"), str):
            message = data.get("message")
            return from_error_code(data["error_code"], message if isinstance(message, str) else "")
        text = response.text.strip()
        if len(text) > 300:
            text = text[:300] + "..."
        message = f"{method} {url} failed with HTTP {status} {response.reason_phrase}"
        if text:
            message += f": {text}"
        cls = _STATUS_ERRORS.get(status)
        if cls is not None:
            return cls(message, status=status)
        return ModelyardError(message, error_code=_STATUS_CODES.get(status), status=status)

    # ---------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[ExperimentTag]
    ) -> str:
        body: dict[str, Any] = {"name": name}
        if artifact_location:
            body["artifact_location"] = artifact_location
        if tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in tags]
        data = self._call("POST", "experiments/create", body, idempotent=False)
        return str(self._field(data, "experiment_id"))

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._call("GET", "experiments/get", query={"experiment_id": experiment_id})
        return experiment_from_dict(self._field(data, "experiment"))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._call("GET", "experiments/get-by-name", query={"experiment_name": name})
        except NotFound:
            return None
        return experiment_from_dict(self._field(data, "experiment"))

    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Experiment]:
        body: dict[str, Any] = {"view_type": ViewType(view_type).value, "max_results": max_results}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "experiments/search", body)
        return PagedList(
            [experiment_from_dict(e) for e in data.get("experiments") or ()],
            data.get("next_page_token") or None,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/restore", {"experiment_id": experiment_id})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call(
            "POST", "experiments/update", {"experiment_id": experiment_id, "new_name": new_name}
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": experiment_id, "key": key, "value": value},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call(
            "POST",
            "experiments/delete-experiment-tag",
            {"experiment_id": experiment_id, "key": key},
        )

    # ---------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body: dict[str, Any] = {"experiment_id": experiment_id}
        if user_id:
            body["user_id"] = user_id
        if start_time is not None:
            body["start_time"] = start_time
        if run_name:
            body["run_name"] = run_name
        if tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in tags]
        data = self._call("POST", "runs/create", body, idempotent=False)
        return run_from_dict(self._field(data, "run"))

    def get_run(self, run_id: str) -> Run:
        data = self._call("GET", "runs/get", query={"run_id": run_id})
        return run_from_dict(self._field(data, "run"))

    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name is not None:
            body["run_name"] = run_name
        data = self._call("POST", "runs/update", body)
        return run_info_from_dict(self._field(data, "run_info"))

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "runs/restore", {"run_id": run_id})

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Run]:
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": ViewType(run_view_type).value,
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "runs/search", body)
        return PagedList(
            [run_from_dict(r) for r in data.get("runs") or ()], data.get("next_page_token") or None
        )

    # ---------------------------------------------------------------- run data
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if metrics:
            body["metrics"] = [metric_to_dict(m) for m in metrics]
        if params:
            body["params"] = [{"key": p.key, "value": p.value} for p in params]
        if tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in tags]
        self._call("POST", "runs/log-batch", body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._call(
            "POST",
            "runs/log-inputs",
            {"run_id": run_id, "datasets": [dataset_input_to_dict(d) for d in datasets]},
        )

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[Metric]:
        data = self._call(
            "GET",
            "metrics/get-history",
            query={
                "run_id": run_id,
                "metric_key": key,
                "max_results": max_results,
                "page_token": page_token,
            },
        )
        return PagedList(
            [metric_from_dict(m) for m in data.get("metrics") or ()],
            data.get("next_page_token") or None,
        )

    def close(self) -> None:
        self._http.close()
