"""AuthService over a real database: passwords, tokens, grants, lockout, bootstrap and the audit log."""

from __future__ import annotations

import time

import pytest

from modelyard.entities.auth import ANONYMOUS, Permission, Principal, ResourceType
from modelyard.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidState,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from modelyard.service import credentials
from modelyard.service.auth import OPERATOR, AuthService, bootstrap_admin
from modelyard.settings import load_settings
from modelyard.store.sql.auth import SqlAuthStore

EXP, RM = ResourceType.EXPERIMENT, ResourceType.REGISTERED_MODEL
FAST_N = 1024  # a low scrypt cost keeps the suite quick; the default is tested on its own


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store, clock) -> AuthService:
    return AuthService(
        SqlAuthStore(store.engine),
        scrypt_n=FAST_N,
        max_failed_logins=3,
        lockout_s=60,
        clock=clock,
    )


def events(auth: AuthService, actor: str | None = None) -> list[tuple[str, str, str]]:
    page = auth.list_audit(OPERATOR, 1000, actor=actor)
    return [(e.event, e.actor, e.subject) for e in reversed(page.items)]


# ---------------------------------------------------------------------------- passwords
def test_password_hashes_are_salted_scrypt_and_verify():
    first, second = (
        credentials.hash_password("correct horse"),
        credentials.hash_password("correct horse"),
    )
    assert first.startswith("scrypt:32768:8:1$") and first != second
    assert credentials.verify_password("correct horse", first)
    assert not credentials.verify_password("correct horsf", first)
    assert not credentials.verify_password("x", "not a hash")
    assert not credentials.verify_password("x", "scrypt:99999999:8:1$salt$00")  # too costly


def test_hashes_written_by_werkzeug_for_mlflow_verify():
    from werkzeug.security import generate_password_hash

    for method in ("pbkdf2:sha256:1000", "scrypt"):
        stored = generate_password_hash("mlflow-password", method=method)
        assert credentials.verify_password("mlflow-password", stored), method
        assert not credentials.verify_password("other-password", stored), method


def test_login_with_a_migrated_pbkdf2_hash_rehashes_it(auth, unique):
    from werkzeug.security import generate_password_hash

    name = f"legacy-{unique}"
    auth.store.create_user(name, generate_password_hash("old-pass-1", "pbkdf2:sha256:1000"), False)
    assert auth.authenticate_password(name, "old-pass-1") is not None
    assert auth.store.get_credentials(name)[1].startswith(f"scrypt:{FAST_N}:")
    assert auth.authenticate_password(name, "old-pass-1") is not None


def test_passwords_shorter_than_the_minimum_are_refused(auth, unique):
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.create_user(OPERATOR, f"short-{unique}", "1234567")
    with pytest.raises(InvalidInput, match="colon"):
        auth.create_user(OPERATOR, f"a:b-{unique}", "long enough")


def test_authenticate_password(auth, unique):
    name = f"alice-{unique}"
    auth.create_user(OPERATOR, name, "s3cret-pass")
    principal = auth.authenticate_password(name, "s3cret-pass", "10.1.1.1")
    assert principal == Principal(name, False, (), via="basic")
    assert auth.authenticate_password(name, "wrong-pass", "10.1.1.1") is None
    assert auth.authenticate_password(f"ghost-{unique}", "whatever", "10.1.1.1") is None
    # remembered credentials still read the current hash: a new password wins at once
    auth.authenticate_password(name, "s3cret-pass")
    auth.update_password(OPERATOR, name, "new-pass-123")
    assert auth.authenticate_password(name, "s3cret-pass") is None
    assert auth.authenticate_password(name, "new-pass-123") is not None
    log = events(auth)
    assert ("login", name, name) in log
    assert ("login_failed", "", name) in log and ("login_failed", "", f"ghost-{unique}") in log


def test_a_user_changes_their_own_password_with_the_current_one(auth, unique):
    name = f"self-{unique}"
    auth.create_user(OPERATOR, name, "first-pass")
    me = auth.authenticate_password(name, "first-pass")
    with pytest.raises(InvalidInput, match="Current password"):
        auth.update_password(me, name, "second-pass")
    with pytest.raises(PermissionDenied):
        auth.update_password(me, name, "second-pass", current_password="wrong-one")
    auth.update_password(me, name, "second-pass", current_password="first-pass")
    assert auth.authenticate_password(name, "second-pass") is not None
    other = f"other-{unique}"
    auth.create_user(OPERATOR, other, "other-pass")
    with pytest.raises(PermissionDenied):
        auth.update_password(me, other, "hijacked-pass")


# ---------------------------------------------------------------------------- lockout
def test_failed_logins_lock_the_account_for_the_window(auth, clock, unique):
    name = f"locked-{unique}"
    auth.create_user(OPERATOR, name, "right-pass")
    for _ in range(3):
        assert auth.authenticate_password(name, "wrong-pass", "6.6.6.6") is None
    with pytest.raises(RateLimited) as info:
        auth.authenticate_password(name, "right-pass", "6.6.6.6")  # even the right password
    assert info.value.http_status == 429 and info.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert 1 <= info.value.context["retry_after_s"] <= 60
    clock.now += 61
    assert auth.authenticate_password(name, "right-pass") is not None  # unlocked
    # a success clears the count: two more failures do not lock
    for _ in range(2):
        auth.authenticate_password(name, "wrong-pass")
    assert auth.authenticate_password(name, "right-pass") is not None
    assert ("login_locked", "", name) in events(auth)


def test_the_lockout_holds_across_service_instances(store, clock, unique):
    """Two services over one database stand for two server worker processes."""
    one, two = (
        AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N, max_failed_logins=2, clock=clock)
        for _ in range(2)
    )
    name = f"shared-{unique}"
    one.create_user(OPERATOR, name, "right-pass")
    one.authenticate_password(name, "bad-pass")
    two.authenticate_password(name, "bad-pass")
    with pytest.raises(RateLimited):
        one.authenticate_password(name, "right-pass")
    with pytest.raises(RateLimited):
        two.authenticate_password(name, "right-pass")


def test_a_real_tiny_window_unlocks(store, unique):
    auth = AuthService(
        SqlAuthStore(store.engine), scrypt_n=FAST_N, max_failed_logins=1, lockout_s=0.5
    )
    name = f"tiny-{unique}"
    auth.create_user(OPERATOR, name, "right-pass")
    assert auth.authenticate_password(name, "bad-pass") is None
    with pytest.raises(RateLimited):
        auth.authenticate_password(name, "right-pass")
    time.sleep(0.6)
    assert auth.authenticate_password(name, "right-pass") is not None


# ---------------------------------------------------------------------------- tokens
def test_token_lifecycle(auth, clock, unique):
    name = f"tok-{unique}"
    auth.create_user(OPERATOR, name, "token-owner")
    me = auth.authenticate_password(name, "token-owner")
    secret, record = auth.create_token(me, "ci")
    assert secret.startswith("myd_") and len(secret) > 40
    assert auth.authenticate_token(secret) == Principal(name, False, (), via="token")
    assert auth.store.get_token(record.id).last_used_at is not None
    assert auth.authenticate_token(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert auth.authenticate_token("not-a-token") is None
    listed = auth.list_tokens(me)
    assert [t.id for t in listed] == [record.id] and secret not in repr(listed)
    # another user may neither see nor revoke it; an admin may
    other = f"tok-other-{unique}"
    auth.create_user(OPERATOR, other, "other-pass")
    them = auth.authenticate_password(other, "other-pass")
    with pytest.raises(PermissionDenied):
        auth.list_tokens(them, name)
    with pytest.raises(NotFound):
        auth.revoke_token(them, record.id)
    auth.revoke_token(me, record.id)
    assert auth.authenticate_token(secret) is None
    # an expired token is refused
    secret2, _ = auth.create_token(me, "short", expires_in_days=1)
    assert auth.authenticate_token(secret2) is not None
    clock.now += 86_401
    assert auth.authenticate_token(secret2) is None
    log = events(auth)
    assert ("token_created", name, name) in log and ("token_revoked", name, name) in log


def test_token_max_age_caps_new_tokens(store, unique):
    auth = AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N, token_max_age_days=7)
    name = f"cap-{unique}"
    auth.create_user(OPERATOR, name, "cap-owner")
    _, record = auth.create_token(OPERATOR, "forever", username=name)
    assert record.expires_at is not None
    assert abs(record.expires_at - record.created_at - 7 * 86_400_000) < 5_000
    with pytest.raises(InvalidInput, match="at most 7 days"):
        auth.create_token(OPERATOR, "long", expires_in_days=30, username=name)


# ---------------------------------------------------------------------------- permissions
def test_permissions_combine_default_user_group_and_admin(auth, unique):
    name, group = f"perm-{unique}", f"perm-team-{unique}"
    auth.create_user(OPERATOR, name, "perm-pass")
    auth.create_group(OPERATOR, group)
    user = auth.authenticate_password(name, "perm-pass")
    exp = f"x{unique}"
    assert auth.permission(user, EXP, exp) == Permission.READ  # the default
    auth.set_permission(OPERATOR, EXP, exp, Permission.USE, username=name)
    assert auth.permission(user, EXP, exp) == Permission.USE
    auth.set_permission(OPERATOR, EXP, exp, Permission.EDIT, group=group)
    auth.add_member(OPERATOR, group, name)
    assert auth.permission(user, EXP, exp) == Permission.EDIT  # the higher of the two
    auth.set_permission(OPERATOR, EXP, exp, Permission.MANAGE, username=name)
    assert auth.permission(user, EXP, exp) == Permission.MANAGE
    assert auth.permissions(user, EXP, [exp, "other"]) == {
        exp: Permission.MANAGE,
        "other": Permission.READ,
    }
    assert auth.permission(ANONYMOUS, EXP, exp) == Permission.MANAGE  # auth off: admin
    strict = AuthService(auth.store, default_permission=Permission.NO_PERMISSIONS)
    assert strict.permission(user, EXP, "untouched") == Permission.NO_PERMISSIONS
    admin = Principal("root", is_admin=True, via="basic")
    assert auth.permission(admin, RM, "anything") == Permission.MANAGE


def test_creator_gets_manage_and_may_grant_others(auth, unique):
    owner, friend = f"owner-{unique}", f"friend-{unique}"
    auth.create_user(OPERATOR, owner, "owner-pass")
    auth.create_user(OPERATOR, friend, "friend-pass")
    me = auth.authenticate_password(owner, "owner-pass")
    them = auth.authenticate_password(friend, "friend-pass")
    model = f"model-{unique}"
    auth.grant_creator(owner, RM, model)
    auth.grant_creator(f"unknown-{unique}", RM, model)  # no such user: nothing, no error
    assert auth.permission(me, RM, model) == Permission.MANAGE
    auth.set_permission(me, RM, model, Permission.EDIT, username=friend)
    assert auth.permission(them, RM, model) == Permission.EDIT
    with pytest.raises(PermissionDenied):  # EDIT is not enough to grant
        auth.set_permission(them, RM, model, Permission.MANAGE, username=friend)
    with pytest.raises(PermissionDenied):  # only admins grant on every resource
        auth.set_permission(me, RM, "*", Permission.READ, username=friend)
    auth.remove_permission(me, RM, model, username=friend)
    assert auth.permission(them, RM, model) == Permission.READ
    with pytest.raises(NotFound):
        auth.remove_permission(me, RM, model, username=friend)
    log = [e for e in events(auth, actor=owner) if e[0].startswith("permission_")]
    assert log == [("permission_granted", owner, friend), ("permission_revoked", owner, friend)]


def test_users_are_managed_by_admins_only(auth, unique):
    plain = f"plain-{unique}"
    auth.create_user(OPERATOR, plain, "plain-pass")
    me = auth.authenticate_password(plain, "plain-pass")
    for call in (
        lambda: auth.create_user(me, f"new-{unique}", "new-pass-1"),
        lambda: auth.set_admin(me, plain, True),
        lambda: auth.delete_user(me, plain),
        lambda: auth.create_group(me, f"g-{unique}"),
        lambda: auth.list_audit(me),
        lambda: auth.get_user(me, "someone-else"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert [u.username for u in auth.list_users(me)] == [plain]
    with pytest.raises(AlreadyExists):
        auth.create_user(OPERATOR, plain, "plain-pass")


def test_the_last_admin_cannot_be_removed(sqlite_uri, tmp_path, unique):
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(sqlite_uri, default_artifact_root=str(tmp_path))
    try:
        auth = AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N)
        root, second = f"root-{unique}", f"second-{unique}"
        auth.create_user(OPERATOR, root, "root-pass", is_admin=True)
        with pytest.raises(InvalidState):
            auth.set_admin(OPERATOR, root, False)
        with pytest.raises(InvalidState):
            auth.delete_user(OPERATOR, root)
        auth.create_user(OPERATOR, second, "second-pass", is_admin=True)
        auth.set_admin(OPERATOR, root, False)  # another admin exists now
        assert auth.store.count_admins() == 1
    finally:
        store.close()


# ---------------------------------------------------------------------------- bootstrap and secret
def test_bootstrap_admin_needs_a_password(sqlite_uri, tmp_path):
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(sqlite_uri, default_artifact_root=str(tmp_path))
    try:
        auth = AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N)
        bootstrap_admin(auth, load_settings({}))  # auth off: nothing happens
        assert auth.store.count_admins() == 0
        with pytest.raises(InvalidInput, match="MODELYARD_AUTH_ADMIN_PASSWORD"):
            bootstrap_admin(auth, load_settings({"MODELYARD_AUTH": "true"}))
        too_short = load_settings({"MODELYARD_AUTH": "true", "MODELYARD_AUTH_ADMIN_PASSWORD": "x"})
        with pytest.raises(InvalidInput, match=r"^MODELYARD_AUTH_ADMIN_PASSWORD: .* at least 8"):
            bootstrap_admin(auth, too_short)
        settings = load_settings(
            {"MODELYARD_AUTH": "true", "MLFLOW_AUTH_ADMIN_PASSWORD": "boot-pass"}
        )
        bootstrap_admin(auth, settings)
        bootstrap_admin(auth, settings)  # a second worker: no error, no second admin
        admin = auth.authenticate_password("admin", "boot-pass")
        assert admin is not None and admin.is_admin
        assert auth.store.count_admins() == 1
        # with an admin present the password is no longer needed
        bootstrap_admin(auth, load_settings({"MODELYARD_AUTH": "true"}))
        assert ("admin_bootstrapped", "operator", "admin") in events(auth)
    finally:
        store.close()


def test_session_secret_is_shared(store):
    one = AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N)
    two = AuthService(SqlAuthStore(store.engine), scrypt_n=FAST_N)
    assert one.session_secret() == two.session_secret()
    assert len(one.session_secret()) == 32


def test_a_new_resource_does_not_inherit_grants_left_by_a_deleted_one(auth, unique):
    old_owner, reader, new_owner = (f"{n}-{unique}" for n in ("old", "reader", "new"))
    for name in (old_owner, reader, new_owner):
        auth.create_user(OPERATOR, name, "some-password")
    model = f"reused-{unique}"
    auth.grant_creator(old_owner, RM, model)
    auth.set_permission(OPERATOR, RM, model, Permission.EDIT, username=reader)
    # the model is deleted and someone else registers the same name: only they hold a grant
    auth.grant_creator(new_owner, RM, model)
    assert [
        (g.username, g.permission)
        for g in auth.store.list_grants(resource_type=RM, resource_id=model)
    ] == [(new_owner, Permission.MANAGE)]
    auth.forget_resource(RM, model)
    assert auth.store.list_grants(resource_type=RM, resource_id=model) == []


def test_renaming_a_resource_carries_its_grants(auth, unique):
    owner, friend = f"rn-owner-{unique}", f"rn-friend-{unique}"
    for name in (owner, friend):
        auth.create_user(OPERATOR, name, "some-password")
    old, new = f"before-{unique}", f"after-{unique}"
    auth.grant_creator(owner, RM, old)
    auth.set_permission(OPERATOR, RM, old, Permission.EDIT, username=friend)
    auth.set_permission(OPERATOR, RM, new, Permission.READ, username=friend)  # stale, dropped
    auth.rename_resource(RM, old, new)
    friend_principal = Principal(friend, via="basic")
    assert auth.permission(friend_principal, RM, new) == Permission.EDIT
    assert auth.store.list_grants(resource_type=RM, resource_id=old) == []
