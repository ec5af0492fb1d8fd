"""Identity and access rules: who a request is, what they may do to a resource, who may manage whom.

:class:`AuthService` is what the server's authentication layer and the identity endpoints call:

* ``authenticate_password`` / ``authenticate_token`` turn credentials into a
  :class:`~modelyard.entities.auth.Principal` (or ``None``). Failed logins are rows, counted over a
  sliding window by every worker alike; past ``max_failed_logins`` the account is locked for
  ``lockout_s`` (:class:`~modelyard.errors.RateLimited`), whatever password comes next.
* ``permission`` is the highest of the user's own grant and their groups' grants on a resource (one
  indexed query), ``MANAGE`` for admins, and ``default_permission`` without any grant. Nothing is
  cached between requests, so a revoked grant takes effect at once on every worker.
* Management methods take the caller as their first argument and check it themselves: admins manage
  users and groups; a user reads themselves and changes their own password (with the current one);
  ``MANAGE`` on a resource (or admin) is needed to grant on it; a user lists and revokes their own
  tokens (admins any).

Scrypt costs a quarter of a second by design, and MLflow clients send Basic credentials on every
request, so a password verified once is remembered by this process for a few minutes as an HMAC of
(username, password) beside the hash it matched. Every request still reads the current hash: a
changed password or a deleted user is refused at once by every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from modelyard.entities import PagedList
from modelyard.entities.auth import (
    AccessToken,
    AuditEvent,
    Grant,
    Group,
    Permission,
    Principal,
    ResourceType,
    User,
)
from modelyard.errors import InvalidInput, InvalidState, NotFound, PermissionDenied, RateLimited
from modelyard.service import credentials
from modelyard.store.auth import AuthStore

#: The principal of operator commands (``modelyard users ...`` on the database directly).
OPERATOR = Principal(username="operator", is_admin=True, groups=(), via="cli")

MAX_NAME_LENGTH = 256
#: A token's ``last_used_at`` is written at most this often.
TOKEN_TOUCH_INTERVAL_MS = 60_000
_VERIFIED_TTL_S = 300.0
_VERIFIED_MAX = 4096
_RESOURCE_TYPES = {
    "experiment": ResourceType.EXPERIMENT,
    "experiments": ResourceType.EXPERIMENT,
    "registered_model": ResourceType.REGISTERED_MODEL,
    "registered-model": ResourceType.REGISTERED_MODEL,
    "registered_models": ResourceType.REGISTERED_MODEL,
}

#: The longest a token may live when the server sets no limit: a century.
_MAX_TOKEN_DAYS = 36500


def parse_resource_type(value: str) -> ResourceType:
    try:
        return _RESOURCE_TYPES[value.strip().lower()]
    except (KeyError, AttributeError):
        raise InvalidInput(
            f"Invalid resource_type {value!r}: modelyard grants on 'experiment' and "
            "'registered_model'."
        ) from None


def parse_permission(value: str) -> Permission:
    if isinstance(value, str) and value.strip().upper() == "DENY":
        raise InvalidInput(
            "Permission DENY is not supported: grants only add access; use NO_PERMISSIONS with a "
            "default permission of NO_PERMISSIONS to hide a resource."
        )
    try:
        return Permission.parse(value)
    except ValueError as e:
        raise InvalidInput(str(e)) from None


def check_name(value: str, what: str) -> str:
    """A user or group name: 1..256 characters, no colon (Basic auth splits on it), no control
    characters, no surrounding spaces."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Missing value for required parameter '{what}'.")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The {what} is longer than {MAX_NAME_LENGTH} characters.")
    if value != value.strip() or ":" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            f"Invalid {what} {value!r}: no colon, control characters or surrounding spaces."
        )
    return value


def _check_resource_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Missing value for required parameter 'resource_id'.")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The resource id is longer than {MAX_NAME_LENGTH} characters.")
    return value


def highest(permissions: Sequence[Permission]) -> Permission | None:
    return max(permissions, key=lambda p: p.rank) if permissions else None


class AuthService:
    """Users, groups, tokens, grants and the audit log, over an :class:`AuthStore`."""

    def __init__(
        self,
        store: AuthStore,
        *,
        default_permission: Permission = Permission.READ,
        min_password_length: int = 8,
        max_failed_logins: int = 5,
        lockout_s: float = 300.0,
        token_max_age_days: float | None = None,
        scrypt_n: int = credentials.SCRYPT_N,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.default_permission = default_permission
        self.min_password_length = min_password_length
        self.max_failed_logins = max_failed_logins
        self.lockout_s = lockout_s
        self.token_max_age_days = token_max_age_days
        self.scrypt_n = scrypt_n
        self._clock = clock
        self._secret: bytes | None = None
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._verified_key = secrets.token_bytes(32)  # per process; never leaves memory
        self._lock = threading.Lock()
        self._dummy_hash = credentials.hash_password(secrets.token_hex(8), n=scrypt_n)

    @classmethod
    def from_settings(cls, store: AuthStore, settings: Any) -> AuthService:
        return cls(
            store,
            default_permission=parse_permission(settings.auth_default_permission),
            min_password_length=settings.auth_min_password_length,
            max_failed_logins=settings.auth_max_failed_logins,
            lockout_s=settings.auth_lockout_s,
            token_max_age_days=settings.auth_token_max_age_days,
        )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------ authentication
    def authenticate_password(
        self, username: str, password: str, remote_addr: str = ""
    ) -> Principal | None:
        """The principal for a username and password; ``None`` (and a recorded failure) when they do
        not match. Raises :class:`RateLimited` while the account is locked."""
        now = self._now_ms()
        failures = self._check_not_locked(username, now)
        usable = bool(password) and len(password) <= credentials.MAX_PASSWORD_LENGTH
        found = self.store.get_credentials(username) if username and usable else None
        if found is not None:
            user, stored = found
            key = hmac.new(
                self._verified_key, f"{username}\0{password}".encode(), hashlib.sha256
            ).digest()
            principal = Principal(user.username, user.is_admin, user.groups, via="basic")
            if self._remembered(key) == stored:
                return principal
            if credentials.verify_password(password, stored):
                self._remember(key, stored)
                if failures:
                    self.store.clear_failed_logins(username)
                if credentials.needs_rehash(stored, self.scrypt_n):
                    self.store.set_password_hash(
                        username, credentials.hash_password(password, n=self.scrypt_n)
                    )
                self.audit("login", username, username, remote_addr, via="basic")
                return principal
        elif usable:
            credentials.verify_password(password, self._dummy_hash)  # same time for unknown users
        self._record_failure(username, remote_addr, now, failures)
        return None

    def _check_not_locked(self, username: str, now: int) -> int:
        """How many failures the account has in the window; raises when that is the limit."""
        if self.max_failed_logins <= 0:
            return 0
        window_ms = int(self.lockout_s * 1000)
        times = self.store.failed_logins_since(username, now - window_ms)
        if len(times) >= self.max_failed_logins:
            unlock_at = times[len(times) - self.max_failed_logins] + window_ms
            retry_after = max(1, -(-(unlock_at - now) // 1000))
            raise RateLimited(
                f"Too many failed logins for '{username}': try again in {retry_after} s.",
                username=username,
                retry_after_s=retry_after,
            )
        return len(times)

    def _record_failure(self, username: str, remote_addr: str, now: int, before: int) -> None:
        if self.max_failed_logins > 0:
            keep_after = now - int(self.lockout_s * 1000)
            self.store.record_failed_login(username, remote_addr, now, keep_after)
        self.audit("login_failed", "", username, remote_addr)
        if self.max_failed_logins > 0 and before + 1 >= self.max_failed_logins:
            self.audit("login_locked", "", username, remote_addr, seconds=str(self.lockout_s))

    def _remembered(self, key: bytes) -> str | None:
        with self._lock:
            entry = self._verified.get(key)
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self._verified[key]
                return None
            return entry[0]

    def _remember(self, key: bytes, stored: str) -> None:
        with self._lock:
            self._verified[key] = (stored, time.monotonic() + _VERIFIED_TTL_S)
            self._verified.move_to_end(key)
            while len(self._verified) > _VERIFIED_MAX:
                self._verified.popitem(last=False)

    def authenticate_token(self, token: str) -> Principal | None:
        """The principal of a bearer token; ``None`` for an unknown, revoked or expired one."""
        if not isinstance(token, str) or not credentials.looks_like_token(token):
            return None
        found = self.store.find_token(credentials.token_digest(token))
        if found is None:
            return None
        record, user = found
        now = self._now_ms()
        if record.revoked or (record.expires_at is not None and record.expires_at <= now):
            return None
        if record.last_used_at is None or now - record.last_used_at >= TOKEN_TOUCH_INTERVAL_MS:
            self.store.touch_token(record.id, now, TOKEN_TOUCH_INTERVAL_MS)
        return Principal(user.username, user.is_admin, user.groups, via="token")

    def principal_for(self, username: str, via: str = "session") -> Principal | None:
        """The principal of a known user (for a UI session cookie that names them), or ``None``."""
        found = self.store.get_credentials(username)
        if found is None:
            return None
        user = found[0]
        return Principal(user.username, user.is_admin, user.groups, via=via)

    # ------------------------------------------------------------------ authorization
    def permission(
        self, principal: Principal, resource_type: ResourceType, resource_id: str
    ) -> Permission:
        """What ``principal`` holds on one resource (admins: MANAGE; no grant: the default)."""
        if principal.is_admin:
            return Permission.MANAGE
        found = highest(self.store.effective_grants(principal.username, resource_type, resource_id))
        return found if found is not None else self.default_permission

    def permissions(
        self, principal: Principal, resource_type: ResourceType, resource_ids: Sequence[str]
    ) -> dict[str, Permission]:
        """:meth:`permission` for many resources at once (one query), to filter a page of results."""
        if principal.is_admin:
            return {rid: Permission.MANAGE for rid in resource_ids}
        rows = self.store.effective_grants_many(principal.username, resource_type, resource_ids)
        wildcard = highest([p for rid, p in rows if rid == "*"])
        out: dict[str, Permission] = {}
        for rid in resource_ids:
            held = [p for r, p in rows if r == rid]
            if wildcard is not None:
                held.append(wildcard)
            out[rid] = highest(held) or self.default_permission
        return out

    def grant_creator(self, username: str, resource_type: ResourceType, resource_id: str) -> None:
        """MANAGE on a new resource for the user who created it (nothing for an unknown user, as
        when the server runs without authentication).

        A new resource starts with no other grant: grants left on its id or name by a resource
        that was deleted (a registered model's name is free again, an experiment id may be reused
        after ``gc``) are dropped first, so they cannot open the new one to their old holders.
        """
        if self.store.get_credentials(username) is None:
            return
        self.store.delete_resource_grants(resource_type, resource_id)
        try:
            self.store.set_grant(resource_type, resource_id, Permission.MANAGE, username=username)
        except NotFound:
            return

    def forget_resource(self, resource_type: ResourceType, resource_id: str) -> None:
        """Drop every grant on a resource that is gone for good (a deleted registered model, an
        experiment removed by ``gc``)."""
        self.store.delete_resource_grants(resource_type, resource_id)

    def rename_resource(self, resource_type: ResourceType, old: str, new: str) -> None:
        """Carry the grants of a renamed resource (registered models are granted by name)."""
        if old != new:
            self.store.rename_resource_grants(resource_type, old, new)

    def session_secret(self) -> bytes:
        """The key that signs UI session cookies: one row shared by every worker, made once."""
        if self._secret is None:
            value = self.store.get_or_create_secret("session", lambda: secrets.token_hex(32))
            self._secret = bytes.fromhex(value)
        return self._secret

    def audit(
        self, event: str, actor: str, subject: str = "", remote_addr: str = "", **details: str
    ) -> None:
        """Append one event to the audit log."""
        clean = {k: str(v) for k, v in details.items() if v is not None}
        self.store.record_audit(event, actor, subject, remote_addr, clean, self._now_ms())

    # ------------------------------------------------------------------ caller checks
    @staticmethod
    def _require_admin(caller: Principal) -> None:
        if not caller.is_admin:
            raise PermissionDenied("Only an admin may do this.", username=caller.username)

    @staticmethod
    def _require_self_or_admin(caller: Principal, username: str) -> None:
        if not (caller.is_admin or caller.username == username):
            raise PermissionDenied(
                "Only an admin or the user themselves may do this.", username=caller.username
            )

    def _require_manage(
        self, caller: Principal, resource_type: ResourceType, resource_id: str
    ) -> None:
        if resource_id == "*":
            self._require_admin(caller)
        elif not self.permission(caller, resource_type, resource_id).allows(Permission.MANAGE):
            raise PermissionDenied(
                f"MANAGE on {resource_type.value} '{resource_id}' is needed to change its "
                "permissions.",
                username=caller.username,
            )

    def _check_password(self, password: str) -> str:
        if not isinstance(password, str) or not password:
            raise InvalidInput("Missing value for required parameter 'password'.")
        if len(password) < self.min_password_length:
            raise InvalidInput(
                f"The password must be at least {self.min_password_length} characters long."
            )
        if len(password) > credentials.MAX_PASSWORD_LENGTH:
            raise InvalidInput(
                f"The password is longer than {credentials.MAX_PASSWORD_LENGTH} characters."
            )
        return password

    # ------------------------------------------------------------------ users
    def create_user(
        self,
        caller: Principal,
        username: str,
        password: str,
        is_admin: bool = False,
        remote_addr: str = "",
    ) -> User:
        self._require_admin(caller)
        check_name(username, "username")
        password_hash = credentials.hash_password(self._check_password(password), n=self.scrypt_n)
        user = self.store.create_user(username, password_hash, is_admin)
        self.audit("user_created", caller.username, username, remote_addr, is_admin=str(is_admin))
        return user

    def get_user(self, caller: Principal, username: str) -> User:
        self._require_self_or_admin(caller, username)
        return self.store.get_user(username)

    def get_user_by_id(self, caller: Principal, user_id: int) -> User:
        user = self.store.get_user_by_id(user_id)
        self._require_self_or_admin(caller, user.username)
        return user

    def list_users(self, caller: Principal) -> list[User]:
        """Every user for an admin; only themselves for anyone else."""
        if caller.is_admin:
            return self.store.list_users()
        return [self.store.get_user(caller.username)]

    def update_password(
        self,
        caller: Principal,
        username: str,
        password: str,
        current_password: str | None = None,
        remote_addr: str = "",
    ) -> None:
        """Admins set anyone's password; a user changes their own, giving the current one."""
        self._require_self_or_admin(caller, username)
        self._check_password(password)
        if caller.username == username and caller.authenticated:
            found = self.store.get_credentials(username)
            if not current_password or found is None:
                raise InvalidInput("Current password is required when changing your own password.")
            if not credentials.verify_password(current_password, found[1]):
                self.audit("password_change_refused", caller.username, username, remote_addr)
                raise PermissionDenied("The current password is wrong.", username=username)
        self.store.set_password_hash(username, credentials.hash_password(password, n=self.scrypt_n))
        self.store.clear_failed_logins(username)
        self.audit("password_changed", caller.username, username, remote_addr)

    def set_admin(
        self, caller: Principal, username: str, is_admin: bool, remote_addr: str = ""
    ) -> None:
        self._require_admin(caller)
        user = self.store.get_user(username)
        if user.is_admin and not is_admin and self.store.count_admins() <= 1:
            raise InvalidState(f"'{username}' is the last admin; make another admin first.")
        self.store.set_admin(username, is_admin)
        self.audit("admin_changed", caller.username, username, remote_addr, is_admin=str(is_admin))

    def delete_user(self, caller: Principal, username: str, remote_addr: str = "") -> None:
        self._require_admin(caller)
        user = self.store.get_user(username)
        if user.is_admin and self.store.count_admins() <= 1:
            raise InvalidState(f"'{username}' is the last admin; make another admin first.")
        self.store.delete_user(username)
        self.store.clear_failed_logins(username)
        self.audit("user_deleted", caller.username, username, remote_addr)

    # ------------------------------------------------------------------ tokens
    def create_token(
        self,
        caller: Principal,
        name: str,
        expires_in_days: float | None = None,
        username: str | None = None,
        remote_addr: str = "",
    ) -> tuple[str, AccessToken]:
        """A new token for the caller (admins: for ``username``); returns (secret, record). The
        secret is not kept: show it now or never."""
        owner = username or caller.username
        self._require_self_or_admin(caller, owner)
        check_name(name, "name")
        max_days = self.token_max_age_days
        if expires_in_days is not None and not 0 < expires_in_days <= _MAX_TOKEN_DAYS:
            # NaN, infinity and 1e308 days do not fit the BIGINT expiry (the fuzz found a 500)
            raise InvalidInput(
                f"expires_in_days must be a positive number of days, at most {_MAX_TOKEN_DAYS}."
            )
        if max_days:
            if expires_in_days is not None and expires_in_days > max_days:
                raise InvalidInput(f"Tokens may live at most {max_days:g} days on this server.")
            expires_in_days = expires_in_days or max_days
        expires_at = (
            None if expires_in_days is None else self._now_ms() + int(expires_in_days * 86_400_000)
        )
        secret = credentials.new_token()
        record = self.store.create_token(
            secrets.token_hex(16), owner, name, credentials.token_digest(secret), expires_at
        )
        self.audit("token_created", caller.username, owner, remote_addr, token_id=record.id)
        return secret, record

    def list_tokens(self, caller: Principal, username: str | None = None) -> list[AccessToken]:
        """The caller's tokens (admins: ``username``'s, or everyone's with ``username="*"``)."""
        owner = username or caller.username
        if owner == "*":
            self._require_admin(caller)
            return self.store.list_tokens(None)
        self._require_self_or_admin(caller, owner)
        return self.store.list_tokens(owner)

    def revoke_token(self, caller: Principal, token_id: str, remote_addr: str = "") -> None:
        record = self.store.get_token(token_id)
        if not (caller.is_admin or caller.username == record.username):
            raise NotFound(f"Access token '{token_id}' not found.", token_id=token_id)
        self.store.revoke_token(token_id)
        self.audit(
            "token_revoked", caller.username, record.username, remote_addr, token_id=token_id
        )

    # ------------------------------------------------------------------ groups
    def create_group(
        self, caller: Principal, name: str, description: str = "", remote_addr: str = ""
    ) -> Group:
        self._require_admin(caller)
        group = self.store.create_group(check_name(name, "name"), description or "")
        self.audit("group_created", caller.username, name, remote_addr)
        return group

    def _visible_group(self, caller: Principal, group: Group) -> Group:
        if not (caller.is_admin or caller.username in group.members):
            raise PermissionDenied("Only an admin or a member may see this group.")
        return group

    def get_group(self, caller: Principal, name: str) -> Group:
        return self._visible_group(caller, self.store.get_group(name))

    def get_group_by_id(self, caller: Principal, group_id: int) -> Group:
        return self._visible_group(caller, self.store.get_group_by_id(group_id))

    def list_groups(self, caller: Principal) -> list[Group]:
        groups = self.store.list_groups()
        return groups if caller.is_admin else [g for g in groups if caller.username in g.members]

    def update_group(
        self,
        caller: Principal,
        group_id: int,
        name: str | None = None,
        description: str | None = None,
        remote_addr: str = "",
    ) -> Group:
        self._require_admin(caller)
        if name is not None:
            check_name(name, "name")
        group = self.store.update_group(group_id, name, description)
        self.audit("group_updated", caller.username, group.name, remote_addr)
        return group

    def delete_group(self, caller: Principal, name: str, remote_addr: str = "") -> None:
        self._require_admin(caller)
        self.store.delete_group(name)
        self.audit("group_deleted", caller.username, name, remote_addr)

    def add_member(
        self, caller: Principal, group: str, username: str, remote_addr: str = ""
    ) -> int:
        self._require_admin(caller)
        member_id = self.store.add_member(group, username)
        self.audit("group_member_added", caller.username, username, remote_addr, group=group)
        return member_id

    def remove_member(
        self, caller: Principal, group: str, username: str, remote_addr: str = ""
    ) -> None:
        self._require_admin(caller)
        self.store.remove_member(group, username)
        self.audit("group_member_removed", caller.username, username, remote_addr, group=group)

    # ------------------------------------------------------------------ grants
    def set_permission(
        self,
        caller: Principal,
        resource_type: ResourceType,
        resource_id: str,
        permission: Permission,
        *,
        username: str | None = None,
        group: str | None = None,
        remote_addr: str = "",
    ) -> Grant:
        """Grant (or change) a user's or a group's permission on a resource: MANAGE on it needed."""
        self._require_manage(caller, resource_type, _check_resource_id(resource_id))
        grant = self.store.set_grant(
            resource_type, resource_id, permission, username=username, group=group
        )
        self._audit_grant("permission_granted", caller, grant, remote_addr)
        return grant

    def remove_permission(
        self,
        caller: Principal,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
        remote_addr: str = "",
    ) -> None:
        self._require_manage(caller, resource_type, _check_resource_id(resource_id))
        grant = self.store.get_grant(resource_type, resource_id, username=username, group=group)
        if grant is None or not self.store.delete_grant(
            resource_type, resource_id, username=username, group=group
        ):
            raise NotFound(
                f"No permission on {resource_type.value} '{resource_id}' for {username or group}.",
                resource_id=resource_id,
            )
        self._audit_grant("permission_revoked", caller, grant, remote_addr)

    def _audit_grant(self, event: str, caller: Principal, grant: Grant, remote_addr: str) -> None:
        self.audit(
            event,
            caller.username,
            grant.username or f"group:{grant.group}",
            remote_addr,
            resource_type=grant.resource_type.value,
            resource_id=grant.resource_id,
            permission=grant.permission.value,
        )

    def _require_can_read_grants(
        self, caller: Principal, username: str, resource_type: ResourceType, resource_id: str
    ) -> None:
        if caller.is_admin or caller.username == username:
            return
        self._require_manage(caller, resource_type, resource_id)

    def get_grant(
        self,
        caller: Principal,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> Grant | None:
        """The one grant of a user or group on a resource (self, admin or MANAGE on it)."""
        if username is not None:
            self._require_can_read_grants(caller, username, resource_type, resource_id)
        else:
            self._require_manage(caller, resource_type, resource_id)
        return self.store.get_grant(resource_type, resource_id, username=username, group=group)

    def permission_of(
        self, caller: Principal, username: str, resource_type: ResourceType, resource_id: str
    ) -> Permission:
        """The permission ``username`` would have on the resource, as a request of theirs sees it."""
        self._require_can_read_grants(caller, username, resource_type, resource_id)
        user = self.store.get_user(username)
        return self.permission(
            Principal(user.username, user.is_admin, user.groups, via="basic"),
            resource_type,
            resource_id,
        )

    def list_grants(
        self, caller: Principal, *, username: str | None = None, group: str | None = None
    ) -> list[Grant]:
        """A user's own grants (self or admin) or a group's (admin or member)."""
        if group is not None:
            self.get_group(caller, group)
            return self.store.list_grants(group=group)
        owner = username or caller.username
        self._require_self_or_admin(caller, owner)
        return self.store.list_grants(username=owner)

    def resource_grants(
        self, caller: Principal, resource_type: ResourceType, resource_id: str
    ) -> list[Grant]:
        """Every grant on one resource (MANAGE on it, or admin)."""
        self._require_manage(caller, resource_type, resource_id)
        return self.store.list_grants(resource_type=resource_type, resource_id=resource_id)

    def get_grant_by_id(self, caller: Principal, grant_id: int) -> Grant:
        grant = self.store.get_grant_by_id(grant_id)
        if grant.group is not None and not caller.is_admin:
            self.get_group(caller, grant.group)  # members may read their group's grants
        elif grant.username is not None:
            self._require_can_read_grants(
                caller, grant.username, grant.resource_type, grant.resource_id
            )
        return grant

    def update_grant_by_id(
        self, caller: Principal, grant_id: int, permission: Permission, remote_addr: str = ""
    ) -> Grant:
        grant = self.store.get_grant_by_id(grant_id)
        self._require_manage(caller, grant.resource_type, grant.resource_id)
        updated = self.store.update_grant_by_id(grant_id, permission)
        self._audit_grant("permission_granted", caller, updated, remote_addr)
        return updated

    def delete_grant_by_id(self, caller: Principal, grant_id: int, remote_addr: str = "") -> None:
        grant = self.store.get_grant_by_id(grant_id)
        self._require_manage(caller, grant.resource_type, grant.resource_id)
        self.store.delete_grant_by_id(grant_id)
        self._audit_grant("permission_revoked", caller, grant, remote_addr)

    # ------------------------------------------------------------------ audit log
    def list_audit(
        self,
        caller: Principal,
        max_results: int = 100,
        page_token: str | None = None,
        events: Sequence[str] = (),
        actor: str | None = None,
    ) -> PagedList[AuditEvent]:
        self._require_admin(caller)
        if not 1 <= max_results <= 1000:
            raise InvalidInput(f"max_results must be between 1 and 1000, got {max_results}.")
        return self.store.list_audit(max_results, page_token, events, actor)

    def prune_audit(self, caller: Principal, older_than_ms: int, remote_addr: str = "") -> int:
        """Delete the audit events older than ``older_than_ms``; returns how many went. The prune is
        itself the first event of what remains (``audit_pruned``, with the cut-off and the count)."""
        self._require_admin(caller)
        if older_than_ms < 0:
            raise InvalidInput(f"older_than_ms must not be negative, got {older_than_ms}.")
        before = self._now_ms() - older_than_ms
        deleted = self.store.prune_audit(before)
        self.audit(
            "audit_pruned",
            caller.username,
            "",
            remote_addr,
            before=str(before),
            deleted=str(deleted),
        )
        return deleted


def bootstrap_admin(service: AuthService, settings: Any) -> None:
    """With authentication on and no admin yet, create ``auth_admin_username`` with
    ``auth_admin_password``; without that password, refuse to start (``InvalidInput``, one line).

    Safe to run in every worker at once: a worker that loses the race to create the user finds it.
    """
    if not getattr(settings, "auth", False) or service.store.count_admins() > 0:
        return
    username = settings.auth_admin_username
    password = settings.auth_admin_password
    if not password:
        raise InvalidInput(
            "Authentication is on but no admin exists: set MODELYARD_AUTH_ADMIN_PASSWORD "
            f"(or MLFLOW_AUTH_ADMIN_PASSWORD) to create the admin '{username}'."
        )
    found = service.store.get_credentials(username)
    if found is not None:
        service.store.set_admin(username, True)
        service.audit("admin_bootstrapped", OPERATOR.username, username, promoted="true")
        return
    from modelyard.errors import AlreadyExists

    try:
        service.create_user(OPERATOR, username, password, is_admin=True)
    except InvalidInput as e:  # say which setting to fix: this stops the server from starting
        raise InvalidInput(f"MODELYARD_AUTH_ADMIN_PASSWORD: {e.message}") from None
    except AlreadyExists:
        service.store.set_admin(username, True)
        return
    service.audit("admin_bootstrapped", OPERATOR.username, username)
