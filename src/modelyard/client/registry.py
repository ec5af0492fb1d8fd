"""The model registry from Python: :class:`RegistryMixin` gives :class:`ModelyardClient` MLflow's
registry methods (``create_registered_model``, ``register_model``, ``create_model_version``,
``transition_model_version_stage``, ``set_registered_model_alias``, ``get_model_version_by_alias``,
``search_registered_models``, ``search_model_versions``, ``get_latest_versions``, ...) plus
transition requests, approvals, comments and the activity log.

Two backends, picked by the client's tracking URI like the tracking backend:

* :class:`LocalRegistry`: the :class:`~modelyard.service.registry.RegistryService` over the same
  database, in this process (events for webhooks are queued in the database; a server sends them);
* :class:`HttpRegistry`: the REST API, through the tracking backend's own HTTP session
  (:mod:`modelyard.client.http` stays the only door to the HTTP library).

The acting user is ``tracking_username`` when set, else the login name of this process; set
:attr:`RegistryMixin.registry_user` to act as someone else. It is not verified (see docs/registry.md).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.client.context import current_user
from modelyard.entities import (
    Activity,
    Comment,
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryTag,
    TransitionRequest,
)
from modelyard.errors import AlreadyExists, InvalidInput, NotFound

if TYPE_CHECKING:
    from modelyard.client.backend import TrackingBackend
    from modelyard.service.registry import RegistryService
    from modelyard.settings import Settings

_LOGGED_MODEL_URI = re.compile(r"^models:/(m-[0-9a-zA-Z][\w\-]{0,61})/?$")
_RUNS_URI = re.compile(r"^runs:/([^/]+)(?:/.*)?$")
ALL_STAGES = ("None", "Staging", "Production", "Archived")


def _tags(tags: Mapping[str, Any] | None) -> list[RegistryTag]:
    return [RegistryTag(str(k), "" if v is None else str(v)) for k, v in (tags or {}).items()]


class LocalRegistry:
    """Registry calls in this process, over the tracking backend's database."""

    def __init__(self, backend: Any, settings: Settings) -> None:
        from modelyard.service.registry import RegistryService
        from modelyard.service.webhooks import WebhookService
        from modelyard.store.sql import logged_model_store_for
        from modelyard.store.sql.registry import SqlRegistryStore
        from modelyard.store.sql.webhooks import SqlWebhookStore

        store = backend.service.store
        events = WebhookService(
            SqlWebhookStore(store.engine),
            allow_http=settings.webhook_allow_http,
            allow_private_addresses=settings.webhook_allow_private_addresses,
            secret_key=settings.webhook_secret_key,
        )
        self._service = RegistryService(
            SqlRegistryStore(store.engine),
            get_run=store.get_run_info,
            get_logged_model=logged_model_store_for(store).get_logged_model,
            require_approval_for_production=settings.registry_require_approval_for_production,
            allow_private_source_hosts=settings.registry_allow_private_source_hosts,
            events=events,
        )

    def service(self, user: str) -> RegistryService:
        return self._service.for_user(user)

    def call(self, user: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.service(user), method)(*args, **kwargs)


class HttpRegistry:
    """Registry calls over REST, on the tracking backend's HTTP session (retries, errors, auth)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def request(
        self,
        user: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        self._backend._http.headers["X-Modelyard-User"] = user
        result: dict[str, Any] = self._backend._call(
            method, path, body, query=query, idempotent=idempotent
        )
        return result


class RegistryMixin:
    """Registry methods of :class:`~modelyard.client.tracking.ModelyardClient`."""

    _backend: TrackingBackend
    _settings: Settings
    _registry: LocalRegistry | HttpRegistry | None = None
    _registry_user: str | None = None

    # ---------------------------------------------------------------- plumbing
    @property
    def registry_user(self) -> str:
        """The name recorded for this client's registry changes (not verified by the server)."""
        if self._registry_user is None:
            self._registry_user = self._settings.tracking_username or current_user()
        return self._registry_user

    @registry_user.setter
    def registry_user(self, user: str) -> None:
        self._registry_user = user

    def _reg(self) -> LocalRegistry | HttpRegistry:
        if self._registry is None:
            from modelyard.client.local import LocalBackend

            if isinstance(self._backend, LocalBackend):
                self._registry = LocalRegistry(self._backend, self._settings)
            else:
                self._registry = HttpRegistry(self._backend)
        return self._registry

    def _local(self, method: str, *args: Any, **kwargs: Any) -> Any:
        registry = self._reg()
        assert isinstance(registry, LocalRegistry)
        return registry.call(self.registry_user, method, *args, **kwargs)

    def _http(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        registry = self._reg()
        assert isinstance(registry, HttpRegistry)
        return registry.request(
            self.registry_user, method, path, body, query, idempotent=idempotent
        )

    def _is_local(self) -> bool:
        return isinstance(self._reg(), LocalRegistry)

    # ---------------------------------------------------------------- registered models
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        from modelyard.schemas import registry as s

        if self._is_local():
            model: RegisteredModel = self._local(
                "create_registered_model", name, _tags(tags), description
            )
            return model
        body = {"name": name, "tags": [{"key": t.key, "value": t.value} for t in _tags(tags)]}
        if description is not None:
            body["description"] = description
        data = self._http("POST", "registered-models/create", body, idempotent=False)
        return s.registered_model_from_dict(data.get("registered_model") or {})

    def get_registered_model(self, name: str) -> RegisteredModel:
        from modelyard.schemas import registry as s

        if self._is_local():
            model: RegisteredModel = self._local("get_registered_model", name)
            return model
        data = self._http("GET", "registered-models/get", query={"name": name})
        return s.registered_model_from_dict(data.get("registered_model") or {})

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        from modelyard.schemas import registry as s

        if self._is_local():
            model: RegisteredModel = self._local("rename_registered_model", name, new_name)
            return model
        data = self._http("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return s.registered_model_from_dict(data.get("registered_model") or {})

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        from modelyard.schemas import registry as s

        if self._is_local():
            model: RegisteredModel = self._local("update_registered_model", name, description)
            return model
        data = self._http(
            "PATCH", "registered-models/update", {"name": name, "description": description}
        )
        return s.registered_model_from_dict(data.get("registered_model") or {})

    def delete_registered_model(self, name: str) -> None:
        if self._is_local():
            self._local("delete_registered_model", name)
            return
        self._http("DELETE", "registered-models/delete", {"name": name})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        from modelyard.schemas import registry as s

        return self._search(
            "search_registered_models",
            "registered-models/search",
            "registered_models",
            s.registered_model_from_dict,
            filter_string,
            max_results,
            order_by,
            page_token,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        from modelyard.schemas import registry as s

        if self._is_local():
            versions: list[ModelVersion] = self._local("get_latest_versions", name, stages or ())
            return versions
        data = self._http(
            "POST", "registered-models/get-latest-versions", {"name": name, "stages": stages or []}
        )
        return [s.model_version_from_dict(v) for v in data.get("model_versions") or []]

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        if self._is_local():
            self._local("set_registered_model_tag", name, key, str(value))
            return
        self._http(
            "POST", "registered-models/set-tag", {"name": name, "key": key, "value": str(value)}
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if self._is_local():
            self._local("delete_registered_model_tag", name, key)
            return
        self._http("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    # ---------------------------------------------------------------- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        if self._is_local():
            self._local("set_registered_model_alias", name, alias, version)
            return
        self._http(
            "POST",
            "registered-models/alias",
            {"name": name, "alias": alias, "version": str(version)},
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        if self._is_local():
            self._local("delete_registered_model_alias", name, alias)
            return
        self._http("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        from modelyard.schemas import registry as s

        if self._is_local():
            mv: ModelVersion = self._local("get_model_version_by_alias", name, alias)
            return mv
        data = self._http("GET", "registered-models/alias", query={"name": name, "alias": alias})
        return s.model_version_from_dict(data.get("model_version") or {})

    # ---------------------------------------------------------------- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        from modelyard.schemas import registry as s

        if self._is_local():
            mv: ModelVersion = self._local(
                "create_model_version",
                name,
                source,
                run_id,
                _tags(tags),
                run_link,
                description,
                model_id,
            )
            return mv
        body: dict[str, Any] = {
            "name": name,
            "source": source,
            "tags": [{"key": t.key, "value": t.value} for t in _tags(tags)],
        }
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value is not None:
                body[key] = value
        data = self._http("POST", "model-versions/create", body, idempotent=False)
        return s.model_version_from_dict(data.get("model_version") or {})

    def register_model(
        self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None
    ) -> ModelVersion:
        """Register ``model_uri`` (``runs:/<run_id>/path``, ``models:/m-<id>``, or a storage URI)
        as a new version of ``name``, creating the registered model when it does not exist yet."""
        with contextlib.suppress(AlreadyExists):
            self.create_registered_model(name)
        run_id = model_id = None
        if (m := _RUNS_URI.match(model_uri)) is not None:
            run_id = m.group(1)
        elif (m := _LOGGED_MODEL_URI.match(model_uri)) is not None:
            model_id = m.group(1)
        return self.create_model_version(name, model_uri, run_id, tags, model_id=model_id)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        from modelyard.schemas import registry as s

        if self._is_local():
            mv: ModelVersion = self._local("get_model_version", name, version)
            return mv
        data = self._http(
            "GET", "model-versions/get", query={"name": name, "version": str(version)}
        )
        return s.model_version_from_dict(data.get("model_version") or {})

    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        from modelyard.schemas import registry as s

        if self._is_local():
            mv: ModelVersion = self._local("update_model_version", name, version, description)
            return mv
        data = self._http(
            "PATCH",
            "model-versions/update",
            {"name": name, "version": str(version), "description": description},
        )
        return s.model_version_from_dict(data.get("model_version") or {})

    def delete_model_version(self, name: str, version: str | int) -> None:
        if self._is_local():
            self._local("delete_model_version", name, version)
            return
        self._http("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
        comment: str | None = None,
    ) -> ModelVersion:
        from modelyard.schemas import registry as s

        if self._is_local():
            mv: ModelVersion = self._local(
                "transition_model_version_stage",
                name,
                version,
                stage,
                archive_existing_versions,
                comment,
            )
            return mv
        body: dict[str, Any] = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        if comment is not None:
            body["comment"] = comment
        data = self._http("POST", "model-versions/transition-stage", body)
        return s.model_version_from_dict(data.get("model_version") or {})

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        from modelyard.schemas import registry as s

        return self._search(
            "search_model_versions",
            "model-versions/search",
            "model_versions",
            s.model_version_from_dict,
            filter_string,
            max_results,
            order_by,
            page_token,
        )

    def _search(
        self,
        method: str,
        path: str,
        field: str,
        from_dict: Callable[[Any], Any],
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> Any:
        """One page of a registry search: the service's ``method`` in-process, else GET ``path``."""
        if self._is_local():
            return self._local(method, filter_string, max_results, order_by or (), page_token)
        query = {
            "filter": filter_string,
            "max_results": max_results,
            "order_by": list(order_by or []),
            "page_token": page_token,
        }
        data = self._http("GET", path, query=query)
        return PagedList(
            [from_dict(item) for item in data.get(field) or []],
            data.get("next_page_token") or None,
        )

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        if self._is_local():
            uri: str = self._local("get_model_version_download_uri", name, version)
            return uri
        data = self._http(
            "GET",
            "model-versions/get-download-uri",
            query={"name": name, "version": str(version)},
        )
        return str(data.get("artifact_uri", ""))

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        if self._is_local():
            self._local("set_model_version_tag", name, version, key, str(value))
            return
        self._http(
            "POST",
            "model-versions/set-tag",
            {"name": name, "version": str(version), "key": key, "value": str(value)},
        )

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        if self._is_local():
            self._local("delete_model_version_tag", name, version, key)
            return
        self._http(
            "DELETE",
            "model-versions/delete-tag",
            {"name": name, "version": str(version), "key": key},
        )

    # ---------------------------------------------------------------- models:/ URIs
    def resolve_model_version(self, model_uri: str) -> ModelVersion:
        """The version ``models:/name/<version|stage|latest>`` or ``models:/name@alias`` names."""
        rest = model_uri[len("models:") :] if model_uri.startswith("models:") else ""
        if not rest or rest.startswith("//"):
            raise InvalidInput(f"Invalid model URI {model_uri!r}: expected models:/<name>/...")
        rest = rest.strip("/")
        if "@" in rest and "/" not in rest:
            name, _, alias = rest.partition("@")
            return self.get_model_version_by_alias(name, alias)
        name, sep, selector = rest.rpartition("/")
        if not sep or not name or not selector:
            raise InvalidInput(
                f"Invalid model URI {model_uri!r}: expected models:/<name>/<version|stage|latest> "
                "or models:/<name>@<alias>."
            )
        if selector.isdigit():
            return self.get_model_version(name, selector)
        stages = [] if selector.lower() == "latest" else [selector]
        versions = self.get_latest_versions(name, stages)
        if not versions:
            raise NotFound(f"No version of registered model '{name}' matches {model_uri!r}.")
        return max(versions, key=lambda v: int(v.version))

    def get_model_download_uri(self, model_uri: str) -> str:
        """Where the files of a ``models:/`` URI are (a logged model's or a version's)."""
        m = _LOGGED_MODEL_URI.match(model_uri)
        if m is not None:
            if self._is_local():
                return str(self._local("resolve_model_uri", model_uri))
            data = self._http("GET", f"logged-models/{m.group(1)}")
            return str(((data.get("model") or {}).get("info") or {}).get("artifact_uri", ""))
        mv = self.resolve_model_version(model_uri)
        return self.get_model_version_download_uri(mv.name, mv.version)

    # ---------------------------------------------------------------- requests and approvals
    def create_transition_request(
        self,
        name: str,
        version: str | int,
        stage: str,
        comment: str | None = None,
        archive_existing_versions: bool = False,
    ) -> TransitionRequest:
        from modelyard.schemas import registry as s

        if self._is_local():
            request: TransitionRequest = self._local(
                "create_transition_request",
                name,
                version,
                stage,
                comment,
                archive_existing_versions,
            )
            return request
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "comment": comment,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        data = self._http("POST", "transition-requests/create", body, idempotent=False)
        return s.transition_request_from_dict(data.get("request") or {})

    def _resolve(
        self,
        action: str,
        path: str,
        method: str,
        name: str | None,
        version: str | int | None,
        stage: str | None,
        comment: str | None,
        request_id: str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> TransitionRequest:
        from modelyard.schemas import registry as s

        if self._is_local():
            kwargs: dict[str, Any] = {
                "name": name,
                "version": version,
                "stage": stage,
                "comment": comment,
                "request_id": request_id,
                **(extra or {}),
            }
            result = self._local(action, **kwargs)
            request: TransitionRequest = result[0] if isinstance(result, tuple) else result
            return request
        body = {
            "id": request_id,
            "name": name,
            "version": None if version is None else str(version),
            "stage": stage,
            "comment": comment,
            **(extra or {}),
        }
        data = self._http(method, path, {k: v for k, v in body.items() if v is not None})
        return s.transition_request_from_dict(data.get("request") or {})

    def approve_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        archive_existing_versions: bool | None = None,
        comment: str | None = None,
        request_id: str | None = None,
    ) -> TransitionRequest:
        """Approve a pending request (by ``request_id``, or by name, version and stage): the version
        moves to the requested stage."""
        return self._resolve(
            "approve_transition_request",
            "transition-requests/approve",
            "POST",
            name,
            version,
            stage,
            comment,
            request_id,
            {"archive_existing_versions": archive_existing_versions},
        )

    def reject_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        comment: str | None = None,
        request_id: str | None = None,
    ) -> TransitionRequest:
        return self._resolve(
            "reject_transition_request",
            "transition-requests/reject",
            "POST",
            name,
            version,
            stage,
            comment,
            request_id,
        )

    def cancel_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        comment: str | None = None,
        request_id: str | None = None,
    ) -> TransitionRequest:
        return self._resolve(
            "cancel_transition_request",
            "transition-requests/delete",
            "DELETE",
            name,
            version,
            stage,
            comment,
            request_id,
        )

    def list_transition_requests(
        self, name: str, version: str | int | None = None, status: str | None = None
    ) -> list[TransitionRequest]:
        from modelyard.schemas import registry as s

        if self._is_local():
            requests: list[TransitionRequest] = self._local(
                "list_transition_requests", name, version, status
            )
            return requests
        query = {
            "name": name,
            "version": None if version is None else str(version),
            "status": status,
        }
        data = self._http("GET", "transition-requests/list", query=query)
        return [s.transition_request_from_dict(r) for r in data.get("requests") or []]

    # ---------------------------------------------------------------- comments and activities
    def create_comment(self, name: str, version: str | int, comment: str) -> Comment:
        from modelyard.schemas import registry as s

        if self._is_local():
            created: Comment = self._local("create_comment", name, version, comment)
            return created
        data = self._http(
            "POST",
            "comments/create",
            {"name": name, "version": str(version), "comment": comment},
            idempotent=False,
        )
        return s.comment_from_dict(data.get("comment") or {})

    def update_comment(self, comment_id: str, comment: str) -> Comment:
        from modelyard.schemas import registry as s

        if self._is_local():
            updated: Comment = self._local("update_comment", comment_id, comment)
            return updated
        data = self._http("PATCH", "comments/update", {"id": comment_id, "comment": comment})
        return s.comment_from_dict(data.get("comment") or {})

    def delete_comment(self, comment_id: str) -> None:
        if self._is_local():
            self._local("delete_comment", comment_id)
            return
        self._http("DELETE", "comments/delete", {"id": comment_id})

    def list_comments(self, name: str, version: str | int) -> list[Comment]:
        from modelyard.schemas import registry as s

        if self._is_local():
            comments: list[Comment] = self._local("list_comments", name, version)
            return comments
        data = self._http("GET", "comments/list", query={"name": name, "version": str(version)})
        return [s.comment_from_dict(c) for c in data.get("comments") or []]

    def get_registry_activities(
        self, name: str, version: str | int | None = None
    ) -> list[Activity]:
        """The activity log of a registered model (``version`` None) or of one version."""
        from modelyard.schemas import registry as s

        if self._is_local():
            activities: list[Activity] = self._local("list_activities", name, version)
            return activities
        if version is None:
            data = self._http("GET", "registered-models/activities", query={"name": name})
        else:
            data = self._http(
                "GET",
                "model-versions/activities",
                query={"name": name, "version": str(version)},
            )
        return [s.activity_from_dict(a) for a in data.get("activities") or []]
