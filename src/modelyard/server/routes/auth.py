"""Identity endpoints: MLflow's basic-auth API (reference §1.11) and modelyard's own.

* MLflow, ``/api/2.0/mlflow/`` (and ``/ajax-api``): ``users/*``, the legacy per-resource
  ``experiments/permissions/*`` and ``registered-models/permissions/*`` (MLflow ≤ 3.12);
* MLflow 3.13+, ``/api/3.0/mlflow/``: ``users/permissions/*``, ``users/current/permissions``, and the
  roles API, where a role is a modelyard group (:mod:`modelyard.schemas.auth`);
* modelyard, ``/api/2.0/mlflow/``: ``access-tokens/*``, ``groups/*``, ``resource-permissions/list``
  and ``audit-events/list``.

They are served only with ``--auth`` (:func:`~modelyard.server.deps.get_auth`). Every handler passes
the authenticated caller to :class:`~modelyard.service.auth.AuthService`, which decides: the policy
only has to require a login (:data:`ACCESS` says which endpoints are admin-only anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.entities.auth import Grant, Permission, ResourceType
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.schemas import auth as s
from modelyard.schemas.fields import Message
from modelyard.server.deps import AuthCall, get_auth
from modelyard.server.rpc import Handler, Rpc, RpcTable
from modelyard.service.auth import parse_permission, parse_resource_type

Json = dict[str, Any]
EXP, RM = ResourceType.EXPERIMENT, ResourceType.REGISTERED_MODEL
rpc = RpcTable(get_auth)


def v3(path: str, method: str, *, request: Message) -> Callable[[Handler], Handler]:
    """Register a ``/api/3.0/mlflow/...`` endpoint (MLflow 3.13's permission and role API)."""

    def register(handler: Handler) -> Handler:
        rpc.rpcs.append(Rpc(path, (method,), request, handler, version="3.0", dependency=get_auth))
        return handler

    return register


# ------------------------------------------------------------------------------------ users
def _user_json(a: AuthCall, username: str) -> Json:
    user = a.service.get_user(a.caller, username)
    return s.user_to_dict(user, a.service.store.list_grants(username=username))


@rpc("users/create", "POST", request=s.CREATE_USER)
def create_user(a: AuthCall, req: Json) -> Json:
    user = a.service.create_user(
        a.caller, req["username"], req["password"], bool(req["is_admin"]), a.remote_addr
    )
    return {"user": s.user_to_dict(user, [])}


@rpc("users/get", "GET", request=s.USERNAME)
def get_user(a: AuthCall, req: Json) -> Json:
    return {"user": _user_json(a, req["username"])}


@rpc("users/list", "GET", request=s.NOTHING)
def list_users(a: AuthCall, req: Json) -> Json:
    groups = {g.name: g for g in a.service.list_groups(a.caller)}
    out = []
    for user in a.service.list_users(a.caller):
        row = s.user_to_dict(user)
        row["roles"] = [s.role_to_dict(groups[name], []) for name in user.groups if name in groups]
        out.append(row)
    return {"users": out}


@rpc("users/current", "GET", request=s.NOTHING)
def current_user(a: AuthCall, req: Json) -> Json:
    caller = a.caller
    user = a.service.get_user(caller, caller.username)
    return {"user": s.user_to_dict(user), "is_basic_auth": caller.via == "basic"}


@rpc("users/update-password", "PATCH", request=s.UPDATE_PASSWORD)
def update_password(a: AuthCall, req: Json) -> Json:
    a.service.update_password(
        a.caller, req["username"], req["password"], req["current_password"], a.remote_addr
    )
    return {}


@rpc("users/update-admin", "PATCH", request=s.UPDATE_ADMIN)
def update_admin(a: AuthCall, req: Json) -> Json:
    a.service.set_admin(a.caller, req["username"], bool(req["is_admin"]), a.remote_addr)
    return {}


@rpc("users/delete", "DELETE", request=s.USERNAME)
def delete_user(a: AuthCall, req: Json) -> Json:
    a.service.delete_user(a.caller, req["username"], a.remote_addr)
    return {}


# ------------------------------------------------------------------------------------ legacy per-resource
def _legacy(resource_type: ResourceType, id_field: str, wrapper: str) -> None:
    """The four endpoints MLflow ≤ 3.12 serves per resource type, on the grants of one user."""
    prefix = "experiments" if resource_type == EXP else "registered-models"
    with_permission = s.EXPERIMENT_PERMISSION if resource_type == EXP else s.MODEL_PERMISSION
    without = s.EXPERIMENT_USER if resource_type == EXP else s.MODEL_USER

    def existing(a: AuthCall, req: Json) -> Grant | None:
        return a.service.get_grant(
            a.caller, resource_type, str(req[id_field]), username=req["username"]
        )

    def answer(a: AuthCall, grant: Grant) -> Json:
        user_id = a.service.store.get_user(grant.username or "").id
        return {wrapper: s.legacy_permission_to_dict(grant, user_id)}

    def not_found(req: Json) -> NotFound:
        return NotFound(
            f"Permission on {resource_type.value} '{req[id_field]}' for user "
            f"'{req['username']}' not found.",
            username=req["username"],
        )

    def create(a: AuthCall, req: Json) -> Json:
        if existing(a, req) is not None:
            raise AlreadyExists(
                f"Permission on {resource_type.value} '{req[id_field]}' for user "
                f"'{req['username']}' already exists.",
                username=req["username"],
            )
        grant = a.service.set_permission(
            a.caller,
            resource_type,
            str(req[id_field]),
            parse_permission(req["permission"]),
            username=req["username"],
            remote_addr=a.remote_addr,
        )
        return answer(a, grant)

    def get(a: AuthCall, req: Json) -> Json:
        grant = existing(a, req)
        if grant is None:
            raise not_found(req)
        return answer(a, grant)

    def update(a: AuthCall, req: Json) -> Json:
        if existing(a, req) is None:
            raise not_found(req)
        a.service.set_permission(
            a.caller,
            resource_type,
            str(req[id_field]),
            parse_permission(req["permission"]),
            username=req["username"],
            remote_addr=a.remote_addr,
        )
        return {}

    def delete(a: AuthCall, req: Json) -> Json:
        a.service.remove_permission(
            a.caller,
            resource_type,
            str(req[id_field]),
            username=req["username"],
            remote_addr=a.remote_addr,
        )
        return {}

    kind = resource_type.value
    for verb, method, message, handler in (
        ("create", "POST", with_permission, create),
        ("get", "GET", without, get),
        ("update", "PATCH", with_permission, update),
        ("delete", "DELETE", without, delete),
    ):
        handler.__name__ = f"{verb}_{kind}_permission"
        handler.__doc__ = f"MLflow's legacy {prefix}/permissions/{verb}."
        rpc(f"{prefix}/permissions/{verb}", method, request=message)(handler)


_legacy(EXP, "experiment_id", "experiment_permission")
_legacy(RM, "name", "registered_model_permission")


# ------------------------------------------------------------------------------------ 3.13 per-user grants
@v3("users/permissions/grant", "POST", request=s.USER_GRANT)
def grant_user_permission(a: AuthCall, req: Json) -> Json:
    a.service.set_permission(
        a.caller,
        parse_resource_type(req["resource_type"]),
        req["resource_id"],
        parse_permission(req["permission"]),
        username=req["username"],
        remote_addr=a.remote_addr,
    )
    return {}


@v3("users/permissions/revoke", "POST", request=s.USER_RESOURCE)
def revoke_user_permission(a: AuthCall, req: Json) -> Json:
    a.service.remove_permission(
        a.caller,
        parse_resource_type(req["resource_type"]),
        req["resource_id"],
        username=req["username"],
        remote_addr=a.remote_addr,
    )
    return {}


@v3("users/permissions/get", "GET", request=s.USER_RESOURCE)
def get_user_permission(a: AuthCall, req: Json) -> Json:
    permission = a.service.permission_of(
        a.caller, req["username"], parse_resource_type(req["resource_type"]), req["resource_id"]
    )
    return {"allowed": permission.allows(Permission.USE), "permission": permission.value}


def _permission_rows(a: AuthCall, username: str) -> Json:
    service = a.service
    user = service.get_user(a.caller, username)
    rows = [
        s.permission_row(g, 0, f"__user_{user.id}__")
        for g in service.store.list_grants(username=username)
    ]
    for name in user.groups:
        group = service.store.get_group(name)
        rows += [s.permission_row(g, group.id, name) for g in service.store.list_grants(group=name)]
    return {"is_admin": user.is_admin, "permissions": rows}


@v3("users/current/permissions", "GET", request=s.NOTHING)
def list_current_user_permissions(a: AuthCall, req: Json) -> Json:
    return _permission_rows(a, a.caller.username)


@v3("users/permissions/list", "GET", request=s.USERNAME)
def list_user_permissions(a: AuthCall, req: Json) -> Json:
    return _permission_rows(a, req["username"])


# ------------------------------------------------------------------------------------ 3.13 roles = groups
def _check_workspace(workspace: str | None) -> None:
    if workspace not in (None, "", s.WORKSPACE):
        raise InvalidInput(f"Unknown workspace {workspace!r}: modelyard has one, '{s.WORKSPACE}'.")


def _role(a: AuthCall, role_id: int) -> Json:
    group = a.service.get_group_by_id(a.caller, role_id)
    return s.role_to_dict(group, a.service.store.list_grants(group=group.name))


@v3("roles/create", "POST", request=s.CREATE_ROLE)
def create_role(a: AuthCall, req: Json) -> Json:
    _check_workspace(req["workspace"])
    group = a.service.create_group(a.caller, req["name"], req["description"], a.remote_addr)
    return {"role": s.role_to_dict(group, [])}


@v3("roles/get", "GET", request=s.ROLE_ID)
def get_role(a: AuthCall, req: Json) -> Json:
    return {"role": _role(a, req["role_id"])}


@v3("roles/list", "GET", request=s.LIST_ROLES)
def list_roles(a: AuthCall, req: Json) -> Json:
    if req["workspace"] not in (None, "", s.WORKSPACE):
        return {"roles": []}
    groups = a.service.list_groups(a.caller)
    return {"roles": [s.role_to_dict(g, a.service.store.list_grants(group=g.name)) for g in groups]}


@v3("roles/update", "PATCH", request=s.UPDATE_ROLE)
def update_role(a: AuthCall, req: Json) -> Json:
    group = a.service.update_group(
        a.caller, req["role_id"], req["name"], req["description"], a.remote_addr
    )
    return {"role": s.role_to_dict(group, a.service.store.list_grants(group=group.name))}


@v3("roles/delete", "DELETE", request=s.ROLE_ID)
def delete_role(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group_by_id(a.caller, req["role_id"])
    a.service.delete_group(a.caller, group.name, a.remote_addr)
    return {}


@v3("roles/permissions/add", "POST", request=s.ADD_ROLE_PERMISSION)
def add_role_permission(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group_by_id(a.caller, req["role_id"])
    grant = a.service.set_permission(
        a.caller,
        parse_resource_type(req["resource_type"]),
        req["resource_pattern"],
        parse_permission(req["permission"]),
        group=group.name,
        remote_addr=a.remote_addr,
    )
    return {"role_permission": s.role_permission_to_dict(grant, group.id)}


@v3("roles/permissions/remove", "DELETE", request=s.ROLE_PERMISSION_ID)
def remove_role_permission(a: AuthCall, req: Json) -> Json:
    _group_grant(a, req["role_permission_id"])
    a.service.delete_grant_by_id(a.caller, req["role_permission_id"], a.remote_addr)
    return {}


@v3("roles/permissions/list", "GET", request=s.ROLE_ID)
def list_role_permissions(a: AuthCall, req: Json) -> Json:
    role = _role(a, req["role_id"])
    return {"role_permissions": role["permissions"]}


@v3("roles/permissions/update", "PATCH", request=s.UPDATE_ROLE_PERMISSION)
def update_role_permission(a: AuthCall, req: Json) -> Json:
    _group_grant(a, req["role_permission_id"])
    grant = a.service.update_grant_by_id(
        a.caller, req["role_permission_id"], parse_permission(req["permission"]), a.remote_addr
    )
    group = a.service.store.get_group(grant.group or "")
    return {"role_permission": s.role_permission_to_dict(grant, group.id)}


def _group_grant(a: AuthCall, grant_id: int) -> Grant:
    grant = a.service.get_grant_by_id(a.caller, grant_id)
    if grant.group is None:  # a user's own grant is not a role permission
        raise NotFound(
            f"Role permission with id={grant_id} not found.", role_permission_id=grant_id
        )
    return grant


@v3("roles/assign", "POST", request=s.ROLE_ASSIGNMENT)
def assign_role(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group_by_id(a.caller, req["role_id"])
    member_id = a.service.add_member(a.caller, group.name, req["username"], a.remote_addr)
    user = a.service.store.get_user(req["username"])
    return {"assignment": s.assignment_to_dict(member_id, user.id, group.id)}


@v3("roles/unassign", "DELETE", request=s.ROLE_ASSIGNMENT)
def unassign_role(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group_by_id(a.caller, req["role_id"])
    a.service.remove_member(a.caller, group.name, req["username"], a.remote_addr)
    return {}


@v3("users/roles/list", "GET", request=s.USERNAME)
def list_user_roles(a: AuthCall, req: Json) -> Json:
    user = a.service.get_user(a.caller, req["username"])
    roles = []
    for name in user.groups:
        group = a.service.store.get_group(name)
        roles.append(s.role_to_dict(group, a.service.store.list_grants(group=name)))
    return {"roles": roles}


@v3("roles/users/list", "GET", request=s.ROLE_ID)
def list_role_users(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group_by_id(a.caller, req["role_id"])
    out = []
    for username in group.members:
        member_id = a.service.store.membership_id(group.name, username)
        if member_id is not None:
            user_id = a.service.store.get_user(username).id
            out.append(s.assignment_to_dict(member_id, user_id, group.id))
    return {"assignments": out}


# ------------------------------------------------------------------------------------ access tokens
@rpc("access-tokens/create", "POST", request=s.CREATE_TOKEN)
def create_access_token(a: AuthCall, req: Json) -> Json:
    secret, record = a.service.create_token(
        a.caller, req["name"], req["expires_in_days"], req["username"], a.remote_addr
    )
    return {"token": secret, "access_token": s.token_to_dict(record)}


@rpc("access-tokens/list", "GET", request=s.LIST_TOKENS)
def list_access_tokens(a: AuthCall, req: Json) -> Json:
    return {
        "access_tokens": [
            s.token_to_dict(t) for t in a.service.list_tokens(a.caller, req["username"])
        ]
    }


@rpc("access-tokens/revoke", "POST", request=s.TOKEN_ID)
def revoke_access_token(a: AuthCall, req: Json) -> Json:
    a.service.revoke_token(a.caller, req["token_id"], a.remote_addr)
    return {}


# ------------------------------------------------------------------------------------ groups
@rpc("groups/create", "POST", request=s.CREATE_GROUP)
def create_group(a: AuthCall, req: Json) -> Json:
    group = a.service.create_group(a.caller, req["name"], req["description"], a.remote_addr)
    return {"group": s.group_to_dict(group, [])}


@rpc("groups/get", "GET", request=s.GROUP_NAME)
def get_group(a: AuthCall, req: Json) -> Json:
    group = a.service.get_group(a.caller, req["name"])
    return {"group": s.group_to_dict(group, a.service.store.list_grants(group=group.name))}


@rpc("groups/list", "GET", request=s.NOTHING)
def list_groups(a: AuthCall, req: Json) -> Json:
    return {"groups": [s.group_to_dict(g) for g in a.service.list_groups(a.caller)]}


@rpc("groups/delete", "DELETE", request=s.GROUP_NAME)
def delete_group(a: AuthCall, req: Json) -> Json:
    a.service.delete_group(a.caller, req["name"], a.remote_addr)
    return {}


@rpc("groups/members/add", "POST", request=s.GROUP_MEMBER)
def add_group_member(a: AuthCall, req: Json) -> Json:
    a.service.add_member(a.caller, req["name"], req["username"], a.remote_addr)
    return {}


@rpc("groups/members/remove", "DELETE", request=s.GROUP_MEMBER)
def remove_group_member(a: AuthCall, req: Json) -> Json:
    a.service.remove_member(a.caller, req["name"], req["username"], a.remote_addr)
    return {}


@rpc("groups/permissions/grant", "POST", request=s.GROUP_GRANT)
def grant_group_permission(a: AuthCall, req: Json) -> Json:
    grant = a.service.set_permission(
        a.caller,
        parse_resource_type(req["resource_type"]),
        req["resource_id"],
        parse_permission(req["permission"]),
        group=req["name"],
        remote_addr=a.remote_addr,
    )
    return {"permission": s.grant_to_dict(grant)}


@rpc("groups/permissions/revoke", "POST", request=s.GROUP_RESOURCE)
def revoke_group_permission(a: AuthCall, req: Json) -> Json:
    a.service.remove_permission(
        a.caller,
        parse_resource_type(req["resource_type"]),
        req["resource_id"],
        group=req["name"],
        remote_addr=a.remote_addr,
    )
    return {}


@rpc("resource-permissions/list", "GET", request=s.RESOURCE)
def list_resource_permissions(a: AuthCall, req: Json) -> Json:
    grants = a.service.resource_grants(
        a.caller, parse_resource_type(req["resource_type"]), req["resource_id"]
    )
    return {"permissions": [s.grant_to_dict(g) for g in grants]}


# ------------------------------------------------------------------------------------ audit log
@rpc("audit-events/list", "GET", request=s.LIST_AUDIT)
def list_audit_events(a: AuthCall, req: Json) -> Json:
    page = a.service.list_audit(
        a.caller, req["max_results"], req["page_token"], req["event"], req["actor"]
    )
    out: Json = {"events": [s.audit_event_to_dict(e) for e in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


#: Who may call each endpoint, for the authorization policy: ``admin`` endpoints refuse anyone else
#: (the service checks it too); ``authenticated`` ones need a login and leave the rest to the
#: service (self, admin, or MANAGE on the resource; see the module docstring of service/auth.py).
ADMIN_ONLY = frozenset(
    {
        "users/create",
        "users/update-admin",
        "users/delete",
        "roles/create",
        "roles/update",
        "roles/delete",
        "roles/assign",
        "roles/unassign",
        "groups/create",
        "groups/delete",
        "groups/members/add",
        "groups/members/remove",
        "audit-events/list",
    }
)
ACCESS: dict[tuple[str, str], str] = {
    (r.path, m): ("admin" if r.path in ADMIN_ONLY else "authenticated")
    for r in rpc
    for m in r.methods
}
