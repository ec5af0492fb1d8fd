"""Wire shapes of the identity endpoints: request field tables and entity -> JSON.

MLflow's basic-auth app (reference §1.11) names things differently from modelyard: its *roles* are our
groups (a role id is a group id), a *role permission* is a group's grant (its id is the grant's id),
an *assignment* is a group membership, and ``user_id`` is the user's integer id. A user's own grants
appear in MLflow 3.13's permission listings under the synthetic role ``__user_<id>__`` (role id 0:
there is no such group row).
"""

from __future__ import annotations

from typing import Any

from modelyard.entities.auth import AccessToken, AuditEvent, Grant, Group, ResourceType, User
from modelyard.schemas.fields import BOOL, DOUBLE, ID, INT64, STRING, Field, Message

Json = dict[str, Any]
#: modelyard has one workspace; MLflow 3's clients name it ``default``.
WORKSPACE = "default"


def _username(required: bool = True) -> Field:
    return Field("username", STRING, required=required)


def _resource_fields(id_name: str = "resource_id") -> list[Field]:
    return [
        Field("resource_type", STRING, required=True),
        Field(id_name, STRING, required=True),
    ]


_PERMISSION = Field("permission", STRING, required=True)
_ROLE_ID = Field("role_id", INT64, required=True)

# ------------------------------------------------------------------------------------ users
CREATE_USER = Message(
    "CreateUser",
    [_username(), Field("password", STRING, required=True), Field("is_admin", BOOL, default=False)],
)
USERNAME = Message("Username", [_username()])
NOTHING = Message("Empty", [])
UPDATE_PASSWORD = Message(
    "UpdateUserPassword",
    [
        _username(),
        Field("password", STRING, required=True),
        Field("current_password", STRING),
    ],
)
UPDATE_ADMIN = Message("UpdateUserAdmin", [_username(), Field("is_admin", BOOL, required=True)])

# ------------------------------------------------------------------------------------ legacy per-resource
EXPERIMENT_PERMISSION = Message(
    "ExperimentPermission",
    [Field("experiment_id", ID, required=True), _username(), _PERMISSION],
)
EXPERIMENT_USER = Message(
    "ExperimentUser", [Field("experiment_id", ID, required=True), _username()]
)
MODEL_PERMISSION = Message(
    "RegisteredModelPermission", [Field("name", STRING, required=True), _username(), _PERMISSION]
)
MODEL_USER = Message("RegisteredModelUser", [Field("name", STRING, required=True), _username()])

# ------------------------------------------------------------------------------------ 3.13 grants and roles
USER_GRANT = Message("GrantUserPermission", [_username(), *_resource_fields(), _PERMISSION])
USER_RESOURCE = Message("UserResource", [_username(), *_resource_fields()])
CREATE_ROLE = Message(
    "CreateRole",
    [
        Field("workspace", STRING, default=WORKSPACE),
        Field("name", STRING, required=True),
        Field("description", STRING, default=""),
    ],
)
ROLE_ID = Message("RoleId", [_ROLE_ID])
LIST_ROLES = Message("ListRoles", [Field("workspace", STRING)])
UPDATE_ROLE = Message(
    "UpdateRole", [_ROLE_ID, Field("name", STRING), Field("description", STRING, allow_empty=True)]
)
ADD_ROLE_PERMISSION = Message(
    "AddRolePermission", [_ROLE_ID, *_resource_fields("resource_pattern"), _PERMISSION]
)
ROLE_PERMISSION_ID = Message(
    "RolePermissionId", [Field("role_permission_id", INT64, required=True)]
)
UPDATE_ROLE_PERMISSION = Message(
    "UpdateRolePermission", [Field("role_permission_id", INT64, required=True), _PERMISSION]
)
ROLE_ASSIGNMENT = Message("RoleAssignment", [_username(), _ROLE_ID])

# ------------------------------------------------------------------------------------ modelyard's own
CREATE_TOKEN = Message(
    "CreateAccessToken",
    [
        Field("name", STRING, required=True),
        Field("expires_in_days", DOUBLE),
        _username(required=False),
    ],
)
LIST_TOKENS = Message("ListAccessTokens", [_username(required=False)])
TOKEN_ID = Message("AccessTokenId", [Field("token_id", STRING, required=True)])
CREATE_GROUP = Message(
    "CreateGroup", [Field("name", STRING, required=True), Field("description", STRING, default="")]
)
GROUP_NAME = Message("GroupName", [Field("name", STRING, required=True)])
GROUP_MEMBER = Message("GroupMember", [Field("name", STRING, required=True), _username()])
GROUP_GRANT = Message(
    "GrantGroupPermission", [Field("name", STRING, required=True), *_resource_fields(), _PERMISSION]
)
GROUP_RESOURCE = Message(
    "GroupResource", [Field("name", STRING, required=True), *_resource_fields()]
)
RESOURCE = Message("Resource", _resource_fields())
LIST_AUDIT = Message(
    "ListAuditEvents",
    [
        Field("max_results", INT64, default=100),
        Field("page_token", STRING),
        Field("event", STRING, repeated=True),
        Field("actor", STRING),
    ],
)


# ------------------------------------------------------------------------------------ responses
def user_to_dict(user: User, grants: list[Grant] | None = None) -> Json:
    out: Json = {"id": user.id, "username": user.username, "is_admin": user.is_admin}
    if grants is not None:
        out["experiment_permissions"] = [
            legacy_permission_to_dict(g, user.id)
            for g in grants
            if g.resource_type == ResourceType.EXPERIMENT
        ]
        out["registered_model_permissions"] = [
            legacy_permission_to_dict(g, user.id)
            for g in grants
            if g.resource_type == ResourceType.REGISTERED_MODEL
        ]
    if user.groups:
        out["groups"] = list(user.groups)
    return out


def legacy_permission_to_dict(grant: Grant, user_id: int) -> Json:
    key = "experiment_id" if grant.resource_type == ResourceType.EXPERIMENT else "name"
    return {key: grant.resource_id, "user_id": user_id, "permission": grant.permission.value}


def role_permission_to_dict(grant: Grant, role_id: int) -> Json:
    return {
        "id": grant.id,
        "role_id": role_id,
        "resource_type": grant.resource_type.value,
        "resource_pattern": grant.resource_id,
        "permission": grant.permission.value,
    }


def role_to_dict(group: Group, grants: list[Grant]) -> Json:
    out: Json = {
        "id": group.id,
        "name": group.name,
        "workspace": WORKSPACE,
        "permissions": [role_permission_to_dict(g, group.id) for g in grants],
    }
    if group.description:
        out["description"] = group.description
    return out


def assignment_to_dict(member_id: int, user_id: int, role_id: int) -> Json:
    return {"id": member_id, "user_id": user_id, "role_id": role_id}


def permission_row(grant: Grant, role_id: int, role_name: str) -> Json:
    """One row of MLflow 3.13's ``users/permissions/list``."""
    return {
        "role_id": role_id,
        "role_name": role_name,
        "workspace": WORKSPACE,
        "resource_type": grant.resource_type.value,
        "resource_pattern": grant.resource_id,
        "permission": grant.permission.value,
    }


def group_to_dict(group: Group, grants: list[Grant] | None = None) -> Json:
    out: Json = {
        "id": group.id,
        "name": group.name,
        "members": list(group.members),
        "created_at": group.created_at,
    }
    if group.description:
        out["description"] = group.description
    if grants is not None:
        out["permissions"] = [grant_to_dict(g) for g in grants]
    return out


def grant_to_dict(grant: Grant) -> Json:
    out: Json = {
        "id": grant.id,
        "resource_type": grant.resource_type.value,
        "resource_id": grant.resource_id,
        "permission": grant.permission.value,
    }
    if grant.username is not None:
        out["username"] = grant.username
    if grant.group is not None:
        out["group"] = grant.group
    return out


def token_to_dict(token: AccessToken) -> Json:
    out: Json = {
        "id": token.id,
        "username": token.username,
        "name": token.name,
        "created_at": token.created_at,
        "revoked": token.revoked,
    }
    if token.expires_at is not None:
        out["expires_at"] = token.expires_at
    if token.last_used_at is not None:
        out["last_used_at"] = token.last_used_at
    return out


def audit_event_to_dict(event: AuditEvent) -> Json:
    out: Json = {
        "id": event.id,
        "timestamp": event.timestamp,
        "event": event.event,
        "actor": event.actor,
    }
    if event.subject:
        out["subject"] = event.subject
    if event.remote_addr:
        out["remote_addr"] = event.remote_addr
    if event.details:
        out["details"] = dict(event.details)
    return out
