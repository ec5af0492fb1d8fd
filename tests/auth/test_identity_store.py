"""The SQL identity store on SQLite, PostgreSQL and MariaDB: users, groups, grants, tokens, audit log,
failed logins and the shared server secret."""

from __future__ import annotations

import threading

import pytest

from modelyard.entities.auth import Permission, ResourceType
from modelyard.errors import AlreadyExists, NotFound
from modelyard.store.sql.auth import SqlAuthStore

EXP, RM = ResourceType.EXPERIMENT, ResourceType.REGISTERED_MODEL


@pytest.fixture
def auth_store(store) -> SqlAuthStore:
    return SqlAuthStore(store.engine)


def test_users_round_trip_and_names_are_unique(auth_store, unique):
    alice = auth_store.create_user(f"alice-{unique}", "h1", False)
    assert alice.username == f"alice-{unique}" and not alice.is_admin and alice.created_at > 0
    with pytest.raises(AlreadyExists):
        auth_store.create_user(f"alice-{unique}", "h2", True)
    user, password_hash = auth_store.get_credentials(f"alice-{unique}")
    assert (user.id, password_hash) == (alice.id, "h1")
    assert auth_store.get_credentials(f"nobody-{unique}") is None
    auth_store.set_password_hash(f"alice-{unique}", "h3")
    auth_store.set_admin(f"alice-{unique}", True)
    assert auth_store.get_credentials(f"alice-{unique}")[1] == "h3"
    assert auth_store.get_user_by_id(alice.id).is_admin
    assert f"alice-{unique}" in [u.username for u in auth_store.list_users()]
    with pytest.raises(NotFound):
        auth_store.set_admin(f"nobody-{unique}", True)
    with pytest.raises(NotFound):
        auth_store.set_password_hash(f"nobody-{unique}", "x")


def test_usernames_compare_case_sensitively(auth_store, unique):
    auth_store.create_user(f"Bob-{unique}", "h", False)
    auth_store.create_user(f"bob-{unique}", "h", False)  # a different user on every backend
    assert auth_store.get_user(f"Bob-{unique}").id != auth_store.get_user(f"bob-{unique}").id


def test_grants_combine_user_group_and_wildcard(auth_store, unique):
    user, group = f"carol-{unique}", f"team-{unique}"
    auth_store.create_user(user, "h", False)
    auth_store.create_group(group, "the team")
    exp = f"e{unique}"
    assert auth_store.effective_grants(user, EXP, exp) == []
    auth_store.set_grant(EXP, exp, Permission.READ, username=user)
    auth_store.set_grant(EXP, exp, Permission.EDIT, group=group)
    assert auth_store.effective_grants(user, EXP, exp) == [Permission.READ]  # not a member yet
    member_id = auth_store.add_member(group, user)
    assert auth_store.add_member(group, user) == member_id  # idempotent
    assert sorted(auth_store.effective_grants(user, EXP, exp), key=lambda p: p.rank) == [
        Permission.READ,
        Permission.EDIT,
    ]
    # a grant is per resource type: the same id as a registered model name is another resource
    assert auth_store.effective_grants(user, RM, exp) == []
    auth_store.set_grant(RM, "*", Permission.USE, group=group)
    assert auth_store.effective_grants(user, RM, f"any-model-{unique}") == [Permission.USE]
    many = auth_store.effective_grants_many(user, EXP, [exp, "other"])
    assert sorted(many, key=lambda x: x[1].rank) == [
        (exp, Permission.READ),
        (exp, Permission.EDIT),
    ]
    # replacing a grant keeps one row
    auth_store.set_grant(EXP, exp, Permission.MANAGE, username=user)
    own = auth_store.list_grants(username=user)
    assert [(g.resource_id, g.permission, g.username) for g in own] == [
        (exp, Permission.MANAGE, user)
    ]
    group_grants = auth_store.list_grants(group=group)
    assert {(g.resource_type, g.permission, g.group) for g in group_grants} == {
        (EXP, Permission.EDIT, group),
        (RM, Permission.USE, group),
    }
    assert auth_store.get_user(user).groups == (group,)
    assert auth_store.get_group(group).members == (user,)
    # by id (MLflow's role permissions)
    gid = next(g.id for g in group_grants if g.resource_type == EXP)
    assert auth_store.update_grant_by_id(gid, Permission.READ).permission == Permission.READ
    auth_store.delete_grant_by_id(gid)
    with pytest.raises(NotFound):
        auth_store.get_grant_by_id(gid)
    auth_store.remove_member(group, user)
    with pytest.raises(NotFound):
        auth_store.remove_member(group, user)
    assert auth_store.effective_grants(user, EXP, exp) == [Permission.MANAGE]
    assert auth_store.delete_grant(EXP, exp, username=user)
    assert not auth_store.delete_grant(EXP, exp, username=user)


def test_deleting_a_user_or_group_drops_their_grants_memberships_and_tokens(auth_store, unique):
    user, group = f"dave-{unique}", f"ops-{unique}"
    auth_store.create_user(user, "h", False)
    auth_store.create_group(group, "")
    auth_store.add_member(group, user)
    auth_store.set_grant(EXP, "1", Permission.EDIT, username=user)
    auth_store.set_grant(EXP, "1", Permission.EDIT, group=group)
    auth_store.create_token(f"t{unique}", user, "ci", f"{unique:0<64}", None)
    auth_store.delete_group(group)
    assert auth_store.get_user(user).groups == ()
    assert [g.group for g in auth_store.list_grants(resource_type=EXP, resource_id="1")].count(
        group
    ) == 0
    auth_store.delete_user(user)
    with pytest.raises(NotFound):
        auth_store.get_user(user)
    assert auth_store.find_token(f"{unique:0<64}") is None
    # a new user of the same name starts with nothing
    auth_store.create_user(user, "h", False)
    assert auth_store.effective_grants(user, EXP, "1") == []


def test_tokens_are_found_by_digest_and_listed_without_secret(auth_store, unique):
    user = f"erin-{unique}"
    auth_store.create_user(user, "h", True)
    digest = f"{unique:a<64}"
    record = auth_store.create_token(f"id{unique}", user, "laptop", digest, 123)
    assert (record.username, record.name, record.expires_at, record.revoked) == (
        user,
        "laptop",
        123,
        False,
    )
    token, owner = auth_store.find_token(digest)
    assert token.id == record.id and owner.username == user and owner.is_admin
    auth_store.touch_token(record.id, 10_000, 60_000)
    auth_store.touch_token(record.id, 20_000, 60_000)  # within the interval: not written
    assert auth_store.get_token(record.id).last_used_at == 10_000
    listed = auth_store.list_tokens(user)
    assert [t.id for t in listed] == [record.id]
    assert digest not in repr(listed)
    auth_store.revoke_token(record.id)
    assert auth_store.get_token(record.id).revoked
    with pytest.raises(NotFound):
        auth_store.revoke_token(f"missing{unique}")


def test_audit_log_pages_newest_first(auth_store, unique):
    actor = f"auditor-{unique}"
    for i in range(5):
        auth_store.record_audit("login", actor, f"s{i}", "10.0.0.1", {"i": str(i)}, 1000 + i)
    first = auth_store.list_audit(3, None, actor=actor)
    assert [e.subject for e in first.items] == ["s4", "s3", "s2"]
    second = auth_store.list_audit(3, first.next_page_token, actor=actor)
    assert [e.subject for e in second.items] == ["s1", "s0"] and second.next_page_token is None
    assert second.items[0].details == {"i": "1"} and second.items[0].remote_addr == "10.0.0.1"
    assert auth_store.list_audit(10, None, events=["nothing"], actor=actor).items == []


def test_audit_prune_deletes_only_what_is_older(auth_store, unique):
    actor = f"pruned-{unique}"  # timestamps 1-3: below every other test's events in this database
    for ts in (1, 2, 3):
        auth_store.record_audit("login", actor, f"t{ts}", "", {}, ts)
    assert auth_store.prune_audit(3) == 2
    assert [e.subject for e in auth_store.list_audit(10, None, actor=actor).items] == ["t3"]
    assert auth_store.prune_audit(3) == 0


def test_failed_logins_are_counted_in_a_window(auth_store, unique):
    name = f"target-{unique}"
    for ts in (100, 200, 300):
        auth_store.record_failed_login(name, "1.2.3.4", ts, keep_after=0)
    assert auth_store.failed_logins_since(name, 150) == [200, 300]
    auth_store.record_failed_login(name, "1.2.3.4", 1000, keep_after=250)  # drops 100 and 200
    assert auth_store.failed_logins_since(name, 0) == [300, 1000]
    auth_store.clear_failed_logins(name)
    assert auth_store.failed_logins_since(name, 0) == []


def test_server_secret_is_created_once_for_every_caller(store, unique):
    name = f"s-{unique}"
    stores = [SqlAuthStore(store.engine) for _ in range(4)]
    seen: list[str] = []
    made = iter(f"value-{i}" for i in range(100))
    lock = threading.Lock()

    def make() -> str:
        with lock:
            return next(made)

    def ask(s: SqlAuthStore) -> None:
        seen.append(s.get_or_create_secret(name, make))

    threads = [threading.Thread(target=ask, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(seen)) == 1 and len(seen) == 4
    assert stores[0].get_or_create_secret(name, make) == seen[0]


def test_many_resources_are_looked_up_in_chunks(auth_store, unique):
    user = f"many-{unique}"
    auth_store.create_user(user, "h", False)
    ids = [f"m{unique}-{i}" for i in range(1200)]
    auth_store.set_grant(RM, ids[1100], Permission.EDIT, username=user)
    auth_store.set_grant(RM, ids[3], Permission.READ, username=user)
    found = dict(auth_store.effective_grants_many(user, RM, ids))
    assert found == {ids[1100]: Permission.EDIT, ids[3]: Permission.READ}
