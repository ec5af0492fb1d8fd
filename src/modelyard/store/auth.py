"""What an identity store does, as a small ``typing.Protocol``.

The store keeps users (with their password hash), groups and their members, access tokens (the
SHA-256 of the secret, never the secret), per-resource grants, the audit log, failed logins and server
secrets. Rules (who may do what, hashing, expiry, lockout) live in :mod:`modelyard.service.auth`. The
SQL implementation is :class:`modelyard.store.sql.auth.SqlAuthStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from modelyard.entities import PagedList
from modelyard.entities.auth import (
    AccessToken,
    AuditEvent,
    Grant,
    Group,
    Permission,
    ResourceType,
    User,
)


class AuthStore(Protocol):
    # users
    def create_user(self, username: str, password_hash: str, is_admin: bool) -> User: ...
    def get_user(self, username: str) -> User: ...
    def get_user_by_id(self, user_id: int) -> User: ...
    def get_credentials(self, username: str) -> tuple[User, str] | None:
        """The user (with groups) and their password hash, or None when there is no such user."""
        ...

    def list_users(self) -> list[User]: ...
    def set_password_hash(self, username: str, password_hash: str) -> None: ...
    def set_admin(self, username: str, is_admin: bool) -> None: ...
    def delete_user(self, username: str) -> None: ...
    def count_admins(self) -> int: ...

    # groups
    def create_group(self, name: str, description: str) -> Group: ...
    def get_group(self, name: str) -> Group: ...
    def get_group_by_id(self, group_id: int) -> Group: ...
    def list_groups(self) -> list[Group]: ...
    def update_group(self, group_id: int, name: str | None, description: str | None) -> Group: ...
    def delete_group(self, name: str) -> None: ...
    def add_member(self, group: str, username: str) -> int:
        """Adds ``username`` to ``group`` (no-op when already there); returns the membership id."""
        ...

    def remove_member(self, group: str, username: str) -> None: ...
    def membership_id(self, group: str, username: str) -> int | None: ...

    # grants
    def set_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        permission: Permission,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> Grant:
        """Creates or replaces the grant of one user or one group on one resource."""
        ...

    def get_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> Grant | None: ...
    def get_grant_by_id(self, grant_id: int) -> Grant: ...
    def update_grant_by_id(self, grant_id: int, permission: Permission) -> Grant: ...
    def delete_grant_by_id(self, grant_id: int) -> Grant: ...
    def delete_resource_grants(self, resource_type: ResourceType, resource_id: str) -> int:
        """Drops every grant (users' and groups') on one resource; returns how many."""
        ...

    def rename_resource_grants(self, resource_type: ResourceType, old: str, new: str) -> int:
        """Moves the grants of ``old`` to ``new`` (dropping any left on ``new``); returns how many."""
        ...

    def delete_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> bool: ...
    def list_grants(
        self,
        *,
        username: str | None = None,
        group: str | None = None,
        resource_type: ResourceType | None = None,
        resource_id: str | None = None,
    ) -> list[Grant]: ...
    def effective_grants(
        self, username: str, resource_type: ResourceType, resource_id: str
    ) -> list[Permission]:
        """Every permission the user holds on the resource, directly or through a group, including
        grants on ``*``; one indexed query."""
        ...

    def effective_grants_many(
        self, username: str, resource_type: ResourceType, resource_ids: Sequence[str]
    ) -> list[tuple[str, Permission]]:
        """``(resource_id, permission)`` of every grant of the user (direct, through groups, on
        ``*``) on any of ``resource_ids``; one indexed query, for filtering a page of results."""
        ...

    # tokens
    def create_token(
        self, token_id: str, username: str, name: str, secret_sha256: str, expires_at: int | None
    ) -> AccessToken: ...
    def find_token(self, secret_sha256: str) -> tuple[AccessToken, User] | None: ...
    def get_token(self, token_id: str) -> AccessToken: ...
    def list_tokens(self, username: str | None) -> list[AccessToken]: ...
    def touch_token(self, token_id: str, now: int, min_interval_ms: int) -> None: ...
    def revoke_token(self, token_id: str) -> None: ...

    # audit log
    def record_audit(
        self,
        event: str,
        actor: str,
        subject: str,
        remote_addr: str,
        details: Mapping[str, str],
        timestamp: int,
    ) -> None: ...
    def list_audit(
        self,
        max_results: int,
        page_token: str | None,
        events: Sequence[str] = (),
        actor: str | None = None,
    ) -> PagedList[AuditEvent]: ...
    def prune_audit(self, before: int) -> int:
        """Deletes the events older than ``before`` (epoch ms); returns how many went."""
        ...

    # failed logins (rate limiting across processes)
    def record_failed_login(
        self, username: str, remote_addr: str, now: int, keep_after: int
    ) -> None:
        """Adds a failure and drops every failure (of any user) older than ``keep_after``."""
        ...

    def failed_logins_since(self, username: str, since: int) -> list[int]:
        """Timestamps of the user's failures at or after ``since``, oldest first."""
        ...

    def clear_failed_logins(self, username: str) -> None: ...

    # server secrets
    def get_or_create_secret(self, name: str, make: Callable[[], str]) -> str:
        """The secret named ``name``; the first caller of any process creates it with ``make``."""
        ...

    def close(self) -> None: ...
