"""The one small protocol both client backends implement, and the factory that picks one by URI.

* a SQL URI (``sqlite://``, ``postgresql://``, ``mysql+pymysql://`` ...) means in-process:
  :class:`~modelyard.client.local.LocalBackend`, a :class:`~modelyard.service.tracking.TrackingService`
  over the SQL store, no server;
* ``http://`` or ``https://`` means :class:`~modelyard.client.http.HttpBackend`, the MLflow REST API.

Both raise the same :mod:`modelyard.errors` classes, and each retries the failures that are worth
retrying (a busy database, a refused or dropped connection, 429/502/503/504) before raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

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
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.settings import Settings

#: URI schemes (the part before ``+driver``) served in-process by the SQL store.
SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")
HTTP_SCHEMES = ("http", "https")


class TrackingBackend(Protocol):
    """What the client needs from a tracking backend. Arguments are already typed entities."""

    uri: str

    # experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[ExperimentTag]
    ) -> str: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Experiment]: ...
    def delete_experiment(self, experiment_id: str) -> None: ...
    def restore_experiment(self, experiment_id: str) -> None: ...
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo: ...
    def delete_run(self, run_id: str) -> None: ...
    def restore_run(self, run_id: str) -> None: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Run]: ...

    # run data
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...
    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[Metric]: ...

    def close(self) -> None: ...


def uri_scheme(uri: str) -> str:
    """The scheme of ``uri`` without its ``+driver`` suffix, lower-cased (``""`` when there is none)."""
    head, sep, _ = uri.partition("://")
    if not sep:
        head, sep, _ = uri.partition(":")
        if not sep:
            return ""
    return head.split("+", 1)[0].lower()


def check_tracking_uri(uri: object) -> str:
    """``uri`` if modelyard can track there, else :class:`InvalidInput` naming the accepted forms."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(f"Invalid tracking URI {uri!r}: a non-empty string is required.")
    uri = uri.strip()
    scheme = uri_scheme(uri)
    if scheme in SQL_SCHEMES or scheme in HTTP_SCHEMES:
        return uri
    raise InvalidInput(
        f"Unsupported tracking URI {uri!r}. Use a database URI (sqlite:///path/to/modelyard.db, "
        "postgresql://user@host/db, mysql+pymysql://user@host/db) to log in-process, or the "
        "http(s):// address of a modelyard or MLflow server."
    )


def open_backend(uri: str, settings: Settings, *, transport: Any = None) -> TrackingBackend:
    """The backend for ``uri``. ``transport`` (an httpx transport) is only used for http(s) URIs."""
    uri = check_tracking_uri(uri)
    if uri_scheme(uri) in HTTP_SCHEMES:
        from modelyard.client.http import HttpBackend

        return HttpBackend(uri, settings, transport=transport)
    if transport is not None:
        raise InvalidInput(
            f"A transport can only be used with an http(s) tracking URI, not {uri!r}."
        )
    from modelyard.client.local import LocalBackend

    return LocalBackend(uri, settings)
