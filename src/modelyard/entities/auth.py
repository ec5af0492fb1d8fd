"""Identity and access entities: users, groups, tokens, permissions and the principal of a request.

A :class:`Permission` is ordered: ``NO_PERMISSIONS < READ < USE < EDIT < MANAGE``. What each grants:

==============  =====================================================================================
NO_PERMISSIONS  nothing; the resource is hidden from searches and lists
READ            see the resource, its runs, metrics, artifacts, versions and activity
USE             READ, and use it (score a registered model, load its artifacts); MLflow 3.x's level
EDIT            USE, and change it: log to runs, create runs, tag, rename, create versions, comment
MANAGE          EDIT, and delete it, grant permissions on it, approve transitions to Production
==============  =====================================================================================

Resources are experiments (by experiment id) and registered models (by name). A user's permission on a
resource is the highest of their own grant and their groups' grants; without any grant, the server's
default permission applies. Admins bypass every check.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Permission(str, enum.Enum):
    """A level of access to one resource; compare with :meth:`allows`."""

    NO_PERMISSIONS = "NO_PERMISSIONS"
    READ = "READ"
    USE = "USE"
    EDIT = "EDIT"
    MANAGE = "MANAGE"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Permission) -> bool:
        """Whether holding this permission is enough for an action that needs ``needed``."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str) -> Permission:
        """The permission named ``value`` (case-insensitive); ``ValueError`` for anything else."""
        try:
            return cls(value.strip().upper())
        except (ValueError, AttributeError):
            names = ", ".join(p.value for p in cls)
            raise ValueError(f"Invalid permission {value!r}: use one of {names}.") from None


_RANK = {
    Permission.NO_PERMISSIONS: 0,
    Permission.READ: 1,
    Permission.USE: 2,
    Permission.EDIT: 3,
    Permission.MANAGE: 4,
}


class ResourceType(str, enum.Enum):
    """What a permission is granted on (MLflow's ``resource_type`` names)."""

    EXPERIMENT = "experiment"
    REGISTERED_MODEL = "registered_model"


@dataclass(frozen=True, slots=True)
class User:
    """An account. The password hash never leaves the store as part of this entity."""

    id: int
    username: str
    is_admin: bool = False
    created_at: int = 0  # epoch milliseconds
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """A named set of users; grants to a group apply to every member (MLflow 3.13's roles)."""

    id: int
    name: str
    members: tuple[str, ...] = ()
    description: str = ""
    created_at: int = 0  # epoch milliseconds


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A personal access token's record; the secret itself is shown once, at creation."""

    id: str
    username: str
    name: str
    created_at: int
    expires_at: int | None = None
    last_used_at: int | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """A permission on one resource for one user or one group (exactly one of the two is set)."""

    resource_type: ResourceType
    resource_id: str
    permission: Permission
    username: str | None = None
    group: str | None = None
    id: int = 0  # the row's id: MLflow's role_permission_id for a group grant


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit log: logins (good and bad), token and user changes, grants."""

    id: int
    timestamp: int  # epoch milliseconds
    event: str  # "login_failed", "token_created", "permission_granted", ...
    actor: str  # who did it ("" when unknown, as for a failed login)
    subject: str = ""  # whom or what it was done to
    details: dict[str, str] = field(default_factory=dict)
    remote_addr: str = ""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, once authenticated.

    ``via`` says how: ``basic`` (username and password), ``token`` (bearer), ``session`` (the UI's
    login cookie) or ``anonymous`` (the server runs without ``--auth``: every check passes).
    """

    username: str
    is_admin: bool = False
    groups: tuple[str, ...] = ()
    via: str = "anonymous"

    @property
    def authenticated(self) -> bool:
        return self.via != "anonymous"


#: The principal of every request when the server runs without authentication.
ANONYMOUS = Principal(username="unknown", is_admin=True, via="anonymous")
