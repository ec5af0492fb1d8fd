"""The model registry: registered models, their versions, stages, aliases, transition requests,
comments, the activity log and webhooks.

A registered model is a name; each version points at the files of a model (``source``, from a run or
a logged model) and sits in one stage (``None``, ``Staging``, ``Production``, ``Archived``). Aliases
(``champion``) name one version each. Transition requests, approvals, comments and the activity log
are a modelyard superset of MLflow's open-source registry, with Databricks' field names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stage(str, enum.Enum):
    """Stages as stored and sent (capitalized); input is matched case-insensitively."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class ModelVersionStatus(str, enum.Enum):
    """Wire names, in proto number order (``PENDING_REGISTRATION`` = 1 ...)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class RequestStatus(str, enum.Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class ActivityType(str, enum.Enum):
    """What an activity-log entry records (Databricks' names where it has them, ours otherwise)."""

    REGISTERED_MODEL_CREATED = "REGISTERED_MODEL_CREATED"
    REGISTERED_MODEL_RENAMED = "REGISTERED_MODEL_RENAMED"
    REGISTERED_MODEL_DESCRIPTION_UPDATED = "REGISTERED_MODEL_DESCRIPTION_UPDATED"
    REGISTERED_MODEL_TAG_SET = "REGISTERED_MODEL_TAG_SET"
    REGISTERED_MODEL_TAG_DELETED = "REGISTERED_MODEL_TAG_DELETED"
    REGISTERED_MODEL_DELETED = "REGISTERED_MODEL_DELETED"
    ALIAS_SET = "ALIAS_SET"
    ALIAS_DELETED = "ALIAS_DELETED"
    MODEL_VERSION_CREATED = "MODEL_VERSION_CREATED"
    MODEL_VERSION_DESCRIPTION_UPDATED = "MODEL_VERSION_DESCRIPTION_UPDATED"
    MODEL_VERSION_TAG_SET = "MODEL_VERSION_TAG_SET"
    MODEL_VERSION_TAG_DELETED = "MODEL_VERSION_TAG_DELETED"
    MODEL_VERSION_DELETED = "MODEL_VERSION_DELETED"
    REQUESTED_TRANSITION = "REQUESTED_TRANSITION"
    APPROVED_REQUEST = "APPROVED_REQUEST"
    REJECTED_REQUEST = "REJECTED_REQUEST"
    CANCELLED_REQUEST = "CANCELLED_REQUEST"
    APPLIED_TRANSITION = "APPLIED_TRANSITION"
    SYSTEM_TRANSITION = "SYSTEM_TRANSITION"
    NEW_COMMENT = "NEW_COMMENT"
    COMMENT_UPDATED = "COMMENT_UPDATED"
    COMMENT_DELETED = "COMMENT_DELETED"


@dataclass(frozen=True, slots=True)
class RegistryTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ModelAlias:
    alias: str
    version: str


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    current_stage: str = Stage.NONE.value
    status: str = ModelVersionStatus.READY.value
    user_id: str | None = None
    description: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    status_message: str | None = None
    model_id: str | None = None
    storage_location: str | None = None
    tags: tuple[RegistryTag, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str | None = None
    description: str | None = None
    latest_versions: tuple[ModelVersion, ...] = ()
    tags: tuple[RegistryTag, ...] = ()
    aliases: tuple[ModelAlias, ...] = ()

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}

    @property
    def alias_dict(self) -> dict[str, str]:
        return {a.alias: a.version for a in self.aliases}


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    """A request to move a version to ``to_stage``; ``status`` says what became of it."""

    id: str
    name: str
    version: str
    to_stage: str
    user_id: str
    creation_timestamp: int
    status: str = RequestStatus.PENDING.value
    comment: str | None = None
    archive_existing_versions: bool = False
    resolved_by: str | None = None
    resolved_timestamp: int | None = None
    resolution_comment: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    name: str
    version: str
    user_id: str
    comment: str
    creation_timestamp: int
    last_updated_timestamp: int


@dataclass(frozen=True, slots=True)
class Activity:
    """One entry of the append-only activity log (``version`` None: about the model itself)."""

    id: str
    name: str
    activity_type: str
    user_id: str
    creation_timestamp: int
    version: str | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    comment: str | None = None
    system_comment: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    entity: str
    action: str


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription. The secret is held by the store and never part of this entity."""

    webhook_id: str
    name: str
    url: str
    events: tuple[WebhookEvent, ...]
    status: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    pinned_address: str = ""
    has_secret: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempt: int
    timestamp: int
    duration_ms: int
    success: bool
    response_status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    delivery_id: str
    webhook_id: str
    entity: str
    action: str
    status: str
    attempts: int
    creation_timestamp: int
    next_attempt_at: int
    completed_timestamp: int | None = None
    history: tuple[DeliveryAttempt, ...] = ()
