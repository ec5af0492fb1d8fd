"""The model registry (reference §1.9, §8): validation, policy and events over a registry store.

The REST server and the in-process client both call :class:`RegistryService`. Each call acts as a
user (:meth:`RegistryService.for_user`); the name is recorded in the activity log and on what the user
creates. Until modelyard has users it is the name the client sends, unauthenticated.

Policy: when the ``registry_require_approval_for_production`` setting is on, or the registered model
carries the tag ``modelyard.require_approval_for_production=true``, a version enters Production only
by approving a transition request (not by ``transition-stage``), and not by its own requester.

Every change that webhooks can subscribe to is passed to the ``events`` sink (the webhook service)
after it is committed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from modelyard.entities import (
    Activity,
    Comment,
    LoggedModel,
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryTag,
    RequestStatus,
    RunInfo,
    Stage,
    TransitionRequest,
)
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.search import OrderKey, parse_order_by
from modelyard.service import validation as v
from modelyard.service.model_sources import check_source

MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_VALUE_LENGTH = 100000
MAX_ALIAS_LENGTH = 255
MAX_COMMENT_LENGTH = 100000
MAX_DESCRIPTION_LENGTH = 100000
DEFAULT_MODEL_SEARCH_RESULTS = 100
MAX_MODEL_SEARCH_RESULTS = 1000
DEFAULT_VERSION_SEARCH_RESULTS = 10000
MAX_VERSION_SEARCH_RESULTS = 200000
UNKNOWN_USER = "unknown"
#: The per-model tag that turns the approval policy on for one model.
APPROVAL_TAG = "modelyard.require_approval_for_production"

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_RESERVED_ALIAS_RE = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_STAGES = {s.value.lower(): s.value for s in Stage}

#: The largest id a BIGINT column holds: a larger one names nothing.
_MAX_ID = 2**63 - 1


class RegistryStore(Protocol):
    """What the registry service needs from its store (:class:`~modelyard.store.sql.registry.
    SqlRegistryStore`)."""

    def __getattr__(self, name: str) -> Any: ...


class EventSink(Protocol):
    def emit(self, entity: str, action: str, data: Mapping[str, Any]) -> None: ...


class _NoEvents:
    def emit(self, entity: str, action: str, data: Mapping[str, Any]) -> None:
        return None


# ------------------------------------------------------------------------------ validation
def validate_model_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"Missing value for required parameter '{what}'.", field=what)
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidInput(
            f"Registered model name exceeds the maximum length of {MAX_MODEL_NAME_LENGTH} "
            "characters."
        )
    if "/" in name or ":" in name or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            f"Invalid registered model name {name!r}: names must not contain '/', ':' or "
            "control characters."
        )
    return name


def parse_version(version: object) -> int:
    """A version number as given (``"3"`` or ``3``); positive integers only."""
    text = str(version).strip() if isinstance(version, (str, int)) else ""
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1 or int(text) > 2**31 - 1:
        raise InvalidInput(
            f"Invalid value {version!r} for parameter 'version' supplied: a version number is "
            "a positive integer.",
            field="version",
        )
    return int(text)


def parse_stage(stage: object, *, allow_none: bool = True) -> str:
    """A stage name matched case-insensitively, returned capitalized (``production`` -> ``Production``)."""
    found = _STAGES.get(stage.strip().lower()) if isinstance(stage, str) else None
    if found is None or (found == Stage.NONE.value and not allow_none):
        names = ", ".join(_STAGES.values())
        raise InvalidInput(
            f"Invalid Model Version stage: {stage}. Value must be one of {names}.", field="stage"
        )
    return found


def validate_alias(alias: object) -> str:
    if not isinstance(alias, str) or not alias:
        raise InvalidInput("Missing value for required parameter 'alias'.", field="alias")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"Invalid alias name {alias!r}: an alias is at most {MAX_ALIAS_LENGTH} letters, "
            "digits, underscores and dashes.",
            field="alias",
        )
    if _RESERVED_ALIAS_RE.match(alias):
        raise InvalidInput(
            f"Invalid alias name {alias!r}: 'latest' and 'v<number>' are reserved.", field="alias"
        )
    return alias


def validate_tag(key: object, value: object) -> RegistryTag:
    key = v.validate_key(key, "tag")
    if not isinstance(value, str):
        raise InvalidInput(f"Invalid value {value!r} for tag '{key}': a string is required.")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"Tag '{key}' has a value of {len(value)} characters; the limit is "
            f"{MAX_TAG_VALUE_LENGTH}."
        )
    return RegistryTag(key, value)


def _text(value: str | None, limit: int, what: str) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"The {what} is {len(value)} characters long; the limit is {limit}.")
    return value


def _tags_dict(tags: Sequence[RegistryTag]) -> dict[str, str]:
    return {t.key: t.value for t in tags}


def _version_event(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "source": mv.source,
        "run_id": mv.run_id,
        "tags": _tags_dict(mv.tags),
        "description": mv.description,
    }


def _request_event(r: TransitionRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "to_stage": r.to_stage,
        "user_id": r.user_id,
        "comment": r.comment,
        "status": r.status,
        "resolved_by": r.resolved_by,
        "resolution_comment": r.resolution_comment,
    }


class RegistryService:
    """The registry, validated, as one user. Holds stores and settings; no other state."""

    def __init__(
        self,
        store: RegistryStore,
        *,
        get_run: Callable[[str], RunInfo],
        get_logged_model: Callable[[str], LoggedModel],
        require_approval_for_production: bool = False,
        allow_private_source_hosts: bool = False,
        events: EventSink | None = None,
        user: str = UNKNOWN_USER,
    ) -> None:
        self.store = store
        self.get_run = get_run
        self.get_logged_model = get_logged_model
        self.require_approval_for_production = require_approval_for_production
        self.allow_private_source_hosts = allow_private_source_hosts
        self.events: EventSink = events if events is not None else _NoEvents()
        self.user = user

    def for_user(self, user: str | None) -> RegistryService:
        """The same service acting as ``user`` (``unknown`` when empty)."""
        bound = copy.copy(self)
        bound.user = (user or "").strip()[:256] or UNKNOWN_USER
        return bound

    # ============================================================== registered models
    def create_registered_model(
        self, name: str, tags: Sequence[RegistryTag] = (), description: str | None = None
    ) -> RegisteredModel:
        checked = [validate_tag(t.key, t.value) for t in tags]
        model = self.store.create_registered_model(
            validate_model_name(name),
            checked,
            _text(description, MAX_DESCRIPTION_LENGTH, "description"),
            self.user,
        )
        self.events.emit(
            "registered_model",
            "created",
            {"name": model.name, "tags": _tags_dict(model.tags), "description": model.description},
        )
        return model

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        model: RegisteredModel = self.store.rename_registered_model(
            validate_model_name(name), validate_model_name(new_name, "new_name"), self.user
        )
        return model

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        model: RegisteredModel = self.store.update_registered_model(
            validate_model_name(name),
            _text(description, MAX_DESCRIPTION_LENGTH, "description"),
            self.user,
        )
        return model

    def delete_registered_model(self, name: str) -> None:
        self.store.delete_registered_model(validate_model_name(name), self.user)

    def get_registered_model(self, name: str) -> RegisteredModel:
        model: RegisteredModel = self.store.get_registered_model(validate_model_name(name))
        return model

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        limit = v.validate_max_results(
            DEFAULT_MODEL_SEARCH_RESULTS if max_results is None else max_results,
            MAX_MODEL_SEARCH_RESULTS,
        )
        keys: list[OrderKey] = parse_order_by(list(order_by), "registered_models")
        page: PagedList[RegisteredModel] = self.store.search_registered_models(
            filter_string or None, keys, limit, page_token
        )
        return page

    def get_latest_versions(self, name: str, stages: Sequence[str] = ()) -> list[ModelVersion]:
        wanted = [parse_stage(s) for s in stages]
        versions: list[ModelVersion] = self.store.get_latest_versions(
            validate_model_name(name), wanted
        )
        return versions

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.store.set_registered_model_tag(
            validate_model_name(name), validate_tag(key, value), self.user
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(
            validate_model_name(name), v.validate_key(key, "tag"), self.user
        )

    # ============================================================== aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        name, alias, number = (
            validate_model_name(name),
            validate_alias(alias),
            parse_version(version),
        )
        self.store.set_alias(name, alias, number, self.user)
        self.events.emit(
            "model_version_alias", "created", {"name": name, "alias": alias, "version": str(number)}
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        name = validate_model_name(name)
        if not isinstance(alias, str) or not alias:
            raise InvalidInput("Missing value for required parameter 'alias'.", field="alias")
        self.store.delete_alias(name, alias, self.user)
        self.events.emit("model_version_alias", "deleted", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        if not isinstance(alias, str) or not alias:
            raise InvalidInput("Missing value for required parameter 'alias'.", field="alias")
        mv: ModelVersion = self.store.get_model_version_by_alias(validate_model_name(name), alias)
        return mv

    # ============================================================== model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[RegistryTag] = (),
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        name = validate_model_name(name)
        if run_id:
            v.validate_run_id(run_id)
        checked_tags = [validate_tag(t.key, t.value) for t in tags]
        checked = check_source(
            source,
            run_id or None,
            model_id or None,
            get_run=self.get_run,
            get_logged_model=self.get_logged_model,
            allow_private_hosts=self.allow_private_source_hosts,
        )
        mv: ModelVersion = self.store.create_model_version(
            name,
            checked.source,
            run_id=checked.run_id,
            tags=checked_tags,
            run_link=_text(run_link or None, 10000, "run link"),
            description=_text(description, MAX_DESCRIPTION_LENGTH, "description"),
            user_id=self.user,
            model_id=checked.model_id,
            storage_location=checked.storage_location,
        )
        self.events.emit("model_version", "created", _version_event(mv))
        return mv

    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        mv: ModelVersion = self.store.update_model_version(
            validate_model_name(name),
            parse_version(version),
            _text(description, MAX_DESCRIPTION_LENGTH, "description"),
            self.user,
        )
        return mv

    def requires_approval(self, name: str, stage: str) -> bool:
        if stage != Stage.PRODUCTION.value:
            return False
        if self.require_approval_for_production:
            return True
        tags = self.get_registered_model(name).tag_dict
        return tags.get(APPROVAL_TAG, "").strip().lower() == "true"

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
        comment: str | None = None,
    ) -> ModelVersion:
        name, number, stage = validate_model_name(name), parse_version(version), parse_stage(stage)
        if self.requires_approval(name, stage) and not self.store.has_approved_request(
            name, number, stage
        ):
            raise PermissionDenied(
                f"Registered model '{name}' requires an approved transition request before a "
                f"version enters {stage}: create one with transition-requests/create and have "
                "another user approve it with transition-requests/approve.",
                name=name,
            )
        before = self.store.get_model_version(name, number).current_stage
        mv, archived = self.store.transition_model_version_stage(
            name,
            number,
            stage,
            bool(archive_existing_versions),
            self.user,
            _text(comment, MAX_COMMENT_LENGTH, "comment"),
        )
        self._emit_transitions(mv, before, archived)
        return mv  # type: ignore[no-any-return]

    def _emit_transitions(
        self, mv: ModelVersion, before: str, archived: Sequence[ModelVersion]
    ) -> None:
        for other in archived:
            self.events.emit(
                "model_version_stage",
                "transitioned",
                {
                    "name": other.name,
                    "version": other.version,
                    "from_stage": mv.current_stage,
                    "to_stage": other.current_stage,
                    "user_id": self.user,
                },
            )
        self.events.emit(
            "model_version_stage",
            "transitioned",
            {
                "name": mv.name,
                "version": mv.version,
                "from_stage": before,
                "to_stage": mv.current_stage,
                "user_id": self.user,
            },
        )

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.store.delete_model_version(
            validate_model_name(name), parse_version(version), self.user
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        mv: ModelVersion = self.store.get_model_version(
            validate_model_name(name), parse_version(version)
        )
        return mv

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        mv = self.get_model_version(name, version)
        return mv.storage_location or mv.source

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        limit = v.validate_max_results(
            DEFAULT_VERSION_SEARCH_RESULTS if max_results is None else max_results,
            MAX_VERSION_SEARCH_RESULTS,
        )
        keys: list[OrderKey] = parse_order_by(list(order_by), "model_versions")
        page: PagedList[ModelVersion] = self.store.search_model_versions(
            filter_string or None, keys, limit, page_token
        )
        return page

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        name, number, tag = (
            validate_model_name(name),
            parse_version(version),
            validate_tag(key, value),
        )
        self.store.set_model_version_tag(name, number, tag, self.user)
        self.events.emit(
            "model_version_tag",
            "set",
            {"name": name, "version": str(number), "key": tag.key, "value": tag.value},
        )

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        name, number, key = validate_model_name(name), parse_version(version), v.validate_key(key)
        self.store.delete_model_version_tag(name, number, key, self.user)
        self.events.emit(
            "model_version_tag", "deleted", {"name": name, "version": str(number), "key": key}
        )

    # ============================================================== models:/ URIs
    def resolve_model_uri(self, uri: str) -> str:
        """The artifact URI behind ``models:/name/<version|stage|latest>``, ``models:/name@alias``
        or ``models:/m-<id>`` (a logged model)."""
        if not isinstance(uri, str) or not uri.startswith("models:"):
            raise InvalidInput(f"Not a models:/ URI: {uri!r}.")
        rest = uri[len("models:") :]
        if rest.startswith("//"):
            raise InvalidInput(f"Invalid model URI {uri!r}: a models:/ URI has no host.")
        rest = rest.strip("/")
        if re.match(r"^m-[0-9a-zA-Z][\w\-]{0,61}$", rest):
            return self.get_logged_model(rest).artifact_uri
        return self.get_model_version_download_uri_for(self.resolve_model_version(uri))

    def get_model_version_download_uri_for(self, mv: ModelVersion) -> str:
        return mv.storage_location or mv.source

    def resolve_model_version(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names (see :meth:`resolve_model_uri`)."""
        rest = uri[len("models:") :].strip("/") if uri.startswith("models:") else ""
        if "@" in rest and "/" not in rest:
            name, _, alias = rest.partition("@")
            return self.get_model_version_by_alias(name, alias)
        name, sep, selector = rest.rpartition("/")
        if not sep or not name or not selector or "/" in name:
            raise InvalidInput(
                f"Invalid model URI {uri!r}: expected models:/<name>/<version|stage|latest> or "
                "models:/<name>@<alias>."
            )
        if selector.isdigit():
            return self.get_model_version(name, selector)
        if selector.lower() == "latest":
            versions = self.get_latest_versions(name)
            if not versions:
                raise NotFound(f"Registered model '{name}' has no versions.", name=name)
            return max(versions, key=lambda m: int(m.version))
        stage = parse_stage(selector)
        versions = self.get_latest_versions(name, [stage])
        if not versions:
            raise NotFound(f"No version of registered model '{name}' is in stage {stage}.")
        return versions[0]

    # ============================================================== transition requests
    def create_transition_request(
        self,
        name: str,
        version: str | int,
        stage: str,
        comment: str | None = None,
        archive_existing_versions: bool = False,
    ) -> TransitionRequest:
        request: TransitionRequest = self.store.create_transition_request(
            validate_model_name(name),
            parse_version(version),
            parse_stage(stage, allow_none=True),
            self.user,
            _text(comment, MAX_COMMENT_LENGTH, "comment"),
            bool(archive_existing_versions),
        )
        self.events.emit("transition_request", "created", _request_event(request))
        return request

    def list_transition_requests(
        self, name: str, version: str | int | None = None, status: str | None = None
    ) -> list[TransitionRequest]:
        if status is not None and status.upper() not in {s.value for s in RequestStatus}:
            raise InvalidInput(
                f"Invalid value {status!r} for parameter 'status' supplied: one of "
                f"{', '.join(s.value for s in RequestStatus)}."
            )
        requests: list[TransitionRequest] = self.store.list_transition_requests(
            validate_model_name(name),
            None if version in (None, "") else parse_version(version),
            status.upper() if status else None,
        )
        return requests

    def _find_request(
        self, request_id: str | int | None, name: str | None, version: Any, stage: str | None
    ) -> TransitionRequest:
        """A request by id, or the pending one for (name, version, stage)."""
        if request_id not in (None, ""):
            text = str(request_id)
            if not text.isdigit() or int(text) > _MAX_ID:  # no database id is larger
                raise InvalidInput(f"Invalid value {request_id!r} for parameter 'id' supplied.")
            found: TransitionRequest = self.store.get_transition_request(int(text))
            return found
        if not name or version in (None, "") or not stage:
            raise InvalidInput(
                "A transition request is named by 'id', or by 'name', 'version' and 'stage'."
            )
        to_stage = parse_stage(stage)
        pending = [
            r
            for r in self.list_transition_requests(name, version, RequestStatus.PENDING.value)
            if r.to_stage == to_stage
        ]
        if not pending:
            raise NotFound(
                f"No pending request to move model version (name={name}, version={version}) to "
                f"'{to_stage}'.",
                name=name,
            )
        return pending[-1]

    def approve_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        archive_existing_versions: bool | None = None,
        comment: str | None = None,
        request_id: str | int | None = None,
    ) -> tuple[TransitionRequest, ModelVersion]:
        request = self._find_request(request_id, name, version, stage)
        if self.requires_approval(request.name, request.to_stage) and request.user_id == self.user:
            raise PermissionDenied(
                f"User '{self.user}' requested this transition and cannot approve it; another "
                "user must.",
                name=request.name,
            )
        before = self.store.get_model_version(request.name, int(request.version)).current_stage
        if archive_existing_versions is not None and (
            bool(archive_existing_versions) != request.archive_existing_versions
        ):
            request = self._with_archive(request, bool(archive_existing_versions))
        resolved, mv, archived = self.store.resolve_transition_request(
            int(request.id),
            RequestStatus.APPROVED.value,
            self.user,
            _text(comment, MAX_COMMENT_LENGTH, "comment"),
        )
        self.events.emit("transition_request", "approved", _request_event(resolved))
        self._emit_transitions(mv, before, archived)
        return resolved, mv

    def _with_archive(self, request: TransitionRequest, archive: bool) -> TransitionRequest:
        self.store.set_request_archive(int(request.id), archive)
        found: TransitionRequest = self.store.get_transition_request(int(request.id))
        return found

    def reject_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        comment: str | None = None,
        request_id: str | int | None = None,
    ) -> TransitionRequest:
        request = self._find_request(request_id, name, version, stage)
        resolved, _, _ = self.store.resolve_transition_request(
            int(request.id),
            RequestStatus.REJECTED.value,
            self.user,
            _text(comment, MAX_COMMENT_LENGTH, "comment"),
        )
        self.events.emit("transition_request", "rejected", _request_event(resolved))
        return resolved  # type: ignore[no-any-return]

    def cancel_transition_request(
        self,
        name: str | None = None,
        version: str | int | None = None,
        stage: str | None = None,
        comment: str | None = None,
        request_id: str | int | None = None,
    ) -> TransitionRequest:
        """Withdraw a pending request; only its requester may."""
        request = self._find_request(request_id, name, version, stage)
        if request.user_id != self.user:
            raise PermissionDenied(
                f"Only the requester ('{request.user_id}') may cancel transition request "
                f"{request.id}; reject it instead.",
                name=request.name,
            )
        resolved, _, _ = self.store.resolve_transition_request(
            int(request.id),
            RequestStatus.CANCELLED.value,
            self.user,
            _text(comment, MAX_COMMENT_LENGTH, "comment"),
        )
        self.events.emit("transition_request", "cancelled", _request_event(resolved))
        return resolved  # type: ignore[no-any-return]

    # ============================================================== comments
    def _comment_text(self, comment: object) -> str:
        if not isinstance(comment, str) or not comment.strip():
            raise InvalidInput("Missing value for required parameter 'comment'.", field="comment")
        return _text(comment, MAX_COMMENT_LENGTH, "comment") or ""

    def _comment_id(self, comment_id: object) -> int:
        text = str(comment_id) if isinstance(comment_id, (str, int)) else ""
        if not text.isdigit() or int(text) > _MAX_ID:  # no database id is larger
            raise InvalidInput(f"Invalid value {comment_id!r} for parameter 'id' supplied.")
        return int(text)

    def create_comment(self, name: str, version: str | int, comment: str) -> Comment:
        created: Comment = self.store.create_comment(
            validate_model_name(name),
            parse_version(version),
            self._comment_text(comment),
            self.user,
        )
        self.events.emit(
            "comment",
            "created",
            {
                "id": created.id,
                "name": created.name,
                "version": created.version,
                "user_id": created.user_id,
                "comment": created.comment,
            },
        )
        return created

    def update_comment(self, comment_id: str | int, comment: str) -> Comment:
        number = self._comment_id(comment_id)
        existing: Comment = self.store.get_comment(number)
        if existing.user_id != self.user:
            raise PermissionDenied(
                f"Only the author ('{existing.user_id}') may edit comment {number}."
            )
        updated: Comment = self.store.update_comment(number, self._comment_text(comment), self.user)
        return updated

    def delete_comment(self, comment_id: str | int) -> None:
        number = self._comment_id(comment_id)
        existing: Comment = self.store.get_comment(number)
        if existing.user_id != self.user:
            raise PermissionDenied(
                f"Only the author ('{existing.user_id}') may delete comment {number}."
            )
        self.store.delete_comment(number, self.user)

    def list_comments(self, name: str, version: str | int) -> list[Comment]:
        comments: list[Comment] = self.store.list_comments(
            validate_model_name(name), parse_version(version)
        )
        return comments

    # ============================================================== activity log
    def list_activities(self, name: str, version: str | int | None = None) -> list[Activity]:
        activities: list[Activity] = self.store.list_activities(
            validate_model_name(name), None if version in (None, "") else parse_version(version)
        )
        return activities
