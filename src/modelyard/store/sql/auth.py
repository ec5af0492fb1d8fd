"""The SQL store of users, groups, access tokens, grants, the audit log, failed logins and secrets.

Everything another server worker needs is a row: failed logins (so the lockout holds whichever worker
a client reaches) and the session signing secret (created once, by whichever worker asks first; the
others read the same row). Tokens are found by the SHA-256 of their secret, through a unique index.
A permission lookup is one indexed query over the user's own grants and their groups' grants.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

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
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import read_connection, translate_errors
from modelyard.store.sql.paging import decode_page_token, encode_page_token

u, grp, gm, tok, gr = t.users, t.groups, t.group_members, t.access_tokens, t.grants
aud, fl, sec = t.audit_log, t.failed_logins, t.server_secrets


def _now_ms() -> int:
    return int(time.time() * 1000)


def _user_not_found(username: str) -> NotFound:
    return NotFound(f"User with username={username} not found.", username=username)


def _group_not_found(name: str) -> NotFound:
    return NotFound(f"Group (role) '{name}' not found.", group=name)


def _token(row: Any, username: str) -> AccessToken:
    return AccessToken(
        id=row.id,
        username=username,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=bool(row.revoked),
    )


_GRANT_COLUMNS = (
    gr.c.id,
    gr.c.resource_type,
    gr.c.resource_id,
    gr.c.permission,
    u.c.username,
    grp.c.name.label("group_name"),
)


def _grants_select() -> sa.Select[Any]:
    return (
        sa.select(*_GRANT_COLUMNS)
        .select_from(
            gr.outerjoin(u, gr.c.user_id == u.c.id).outerjoin(grp, gr.c.group_id == grp.c.id)
        )
        .order_by(gr.c.id)
    )


def _grant(row: Any) -> Grant:
    return Grant(
        resource_type=ResourceType(row.resource_type),
        resource_id=row.resource_id,
        permission=Permission(row.permission),
        username=row.username,
        group=row.group_name,
        id=row.id,
    )


# -- the per-request queries, as driver SQL --------------------------------------------------------
# Authenticating a request and checking a permission run on every request. Building and compiling
# their SQLAlchemy statements cost more than the indexed queries themselves, so their SQL text is
# written once per dialect (identifiers quoted by the dialect, ``?`` turned into its marker) and run
# through the driver. Each is a single statement.
_HOT_SQL = {
    "credentials": (
        "SELECT u.{id}, u.{username}, u.{password_hash}, u.{is_admin}, u.{created_at}, g.{name} "
        "FROM {users} u LEFT JOIN {group_members} m ON m.{user_id} = u.{id} "
        "LEFT JOIN {user_groups} g ON g.{id} = m.{group_id} WHERE u.{username} = ? ORDER BY g.{name}"
    ),
    "token": (
        "SELECT t.{id}, t.{name}, t.{created_at}, t.{expires_at}, t.{last_used_at}, t.{revoked}, "
        "u.{id}, u.{username}, u.{is_admin}, u.{created_at}, g.{name} "
        "FROM {access_tokens} t JOIN {users} u ON u.{id} = t.{user_id} "
        "LEFT JOIN {group_members} m ON m.{user_id} = u.{id} "
        "LEFT JOIN {user_groups} g ON g.{id} = m.{group_id} "
        "WHERE t.{secret_sha256} = ? ORDER BY g.{name}"
    ),
    "grants": (
        "SELECT {permission} FROM {grants} WHERE {resource_type} = ? AND {resource_id} IN (?, '*') "
        "AND ({user_id} = (SELECT {id} FROM {users} WHERE {username} = ?) OR {group_id} IN "
        "(SELECT m.{group_id} FROM {group_members} m JOIN {users} u ON u.{id} = m.{user_id} "
        "WHERE u.{username} = ?))"
    ),
    "grants_many": (
        "SELECT {resource_id}, {permission} FROM {grants} WHERE {resource_type} = ? "
        "AND {resource_id} IN ({marks}) "
        "AND ({user_id} = (SELECT {id} FROM {users} WHERE {username} = ?) OR {group_id} IN "
        "(SELECT m.{group_id} FROM {group_members} m JOIN {users} u ON u.{id} = m.{user_id} "
        "WHERE u.{username} = ?))"
    ),
    "failures": (
        "SELECT {timestamp} FROM {failed_logins} WHERE {username} = ? AND {timestamp} >= ? "
        "ORDER BY {timestamp}"
    ),
}
_IDENTIFIERS = sorted({name for sql in _HOT_SQL.values() for name in re.findall(r"\{(\w+)\}", sql)})
_SQL: dict[tuple[str, str, int], str] = {}
#: Most resource ids one ``IN`` list of :meth:`SqlAuthStore.effective_grants_many` takes.
_IN_CHUNK = 500


def _hot(conn: Connection, name: str, params: tuple[Any, ...], marks: int = 0) -> list[Any]:
    """The rows (driver tuples) of the per-request query ``name``; ``marks``: how many values its
    ``IN ({marks})`` list takes."""
    dialect = conn.dialect
    key = (dialect.name, name, marks)
    sql = _SQL.get(key)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        names = {i: quote(i) for i in _IDENTIFIERS if i != "marks"}
        sql = _HOT_SQL[name].format(**names, marks=", ".join(["?"] * marks))
        if dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")  # format and pyformat drivers; the SQL has no other %
        _SQL[key] = sql
    result = conn.exec_driver_sql(sql, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


class SqlAuthStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """The engine belongs to the tracking store it was shared from; nothing to close here."""

    # ------------------------------------------------------------------ helpers
    def _user_id(self, conn: Connection, username: str) -> int:
        user_id = conn.execute(sa.select(u.c.id).where(u.c.username == username)).scalar()
        if user_id is None:
            raise _user_not_found(username)
        return int(user_id)

    def _group_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(sa.select(grp).where(grp.c.name == name)).first()
        if row is None:
            raise _group_not_found(name)
        return row

    def _groups_of(self, conn: Connection, user_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        if not user_ids:
            return {}
        rows = conn.execute(
            sa.select(gm.c.user_id, grp.c.name)
            .join(grp, grp.c.id == gm.c.group_id)
            .where(gm.c.user_id.in_(user_ids))
            .order_by(grp.c.name)
        )
        out: dict[int, list[str]] = defaultdict(list)
        for user_id, name in rows:
            out[user_id].append(name)
        return {k: tuple(v) for k, v in out.items()}

    def _user(self, conn: Connection, row: Any) -> User:
        return User(
            id=row.id,
            username=row.username,
            is_admin=bool(row.is_admin),
            created_at=row.created_at,
            groups=self._groups_of(conn, [row.id]).get(row.id, ()),
        )

    def _group(self, conn: Connection, row: Any) -> Group:
        members = conn.execute(
            sa.select(u.c.username)
            .join(gm, gm.c.user_id == u.c.id)
            .where(gm.c.group_id == row.id)
            .order_by(u.c.username)
        ).scalars()
        return Group(
            id=row.id,
            name=row.name,
            members=tuple(members),
            description=row.description or "",
            created_at=row.created_at,
        )

    def _principal_ids(
        self, conn: Connection, username: str | None, group: str | None
    ) -> tuple[int | None, int | None]:
        if (username is None) == (group is None):
            raise InvalidInput("A grant is for exactly one user or one group.")
        if username is not None:
            return self._user_id(conn, username), None
        return None, int(self._group_row(conn, group or "").id)

    # ------------------------------------------------------------------ users
    def create_user(self, username: str, password_hash: str, is_admin: bool) -> User:
        with translate_errors():
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        u.insert().values(
                            username=username,
                            password_hash=password_hash,
                            is_admin=is_admin,
                            created_at=_now_ms(),
                        )
                    )
            except exc.IntegrityError:
                raise AlreadyExists(
                    f"User (username={username}) already exists.", username=username
                ) from None
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        with translate_errors(), read_connection(self.engine) as conn:
            row = conn.execute(sa.select(u).where(u.c.username == username)).first()
            if row is None:
                raise _user_not_found(username)
            return self._user(conn, row)

    def get_user_by_id(self, user_id: int) -> User:
        with translate_errors(), read_connection(self.engine) as conn:
            row = conn.execute(sa.select(u).where(u.c.id == user_id)).first()
            if row is None:
                raise NotFound(f"User with id={user_id} not found.", user_id=user_id)
            return self._user(conn, row)

    def get_credentials(self, username: str) -> tuple[User, str] | None:
        with translate_errors(), read_connection(self.engine) as conn:
            rows = _hot(conn, "credentials", (username,))
        if not rows:
            return None
        user_id, name, password_hash, is_admin, created_at, _ = rows[0]
        groups = tuple(r[5] for r in rows if r[5] is not None)
        return User(user_id, name, bool(is_admin), created_at, groups), str(password_hash)

    def list_users(self) -> list[User]:
        with translate_errors(), read_connection(self.engine) as conn:
            rows = conn.execute(sa.select(u).order_by(u.c.username)).all()
            groups = self._groups_of(conn, [r.id for r in rows])
            return [
                User(
                    id=r.id,
                    username=r.username,
                    is_admin=bool(r.is_admin),
                    created_at=r.created_at,
                    groups=groups.get(r.id, ()),
                )
                for r in rows
            ]

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            done = conn.execute(
                u.update().where(u.c.username == username).values(password_hash=password_hash)
            )
            if not done.rowcount:
                raise _user_not_found(username)

    def set_admin(self, username: str, is_admin: bool) -> None:
        with translate_errors(), self.engine.begin() as conn:
            self._user_id(conn, username)  # MySQL counts only changed rows: look first
            conn.execute(u.update().where(u.c.username == username).values(is_admin=is_admin))

    def delete_user(self, username: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            user_id = self._user_id(conn, username)
            # explicit, so it holds where foreign keys do not cascade (SQLite without the pragma)
            conn.execute(gr.delete().where(gr.c.user_id == user_id))
            conn.execute(gm.delete().where(gm.c.user_id == user_id))
            conn.execute(tok.delete().where(tok.c.user_id == user_id))
            conn.execute(u.delete().where(u.c.id == user_id))

    def count_admins(self) -> int:
        with translate_errors(), read_connection(self.engine) as conn:
            query = sa.select(sa.func.count()).select_from(u).where(u.c.is_admin == sa.true())
            return int(conn.execute(query).scalar() or 0)

    # ------------------------------------------------------------------ groups
    def create_group(self, name: str, description: str) -> Group:
        with translate_errors():
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        grp.insert().values(
                            name=name, description=description or None, created_at=_now_ms()
                        )
                    )
            except exc.IntegrityError:
                raise AlreadyExists(f"Group (role) '{name}' already exists.", group=name) from None
        return self.get_group(name)

    def get_group(self, name: str) -> Group:
        with translate_errors(), read_connection(self.engine) as conn:
            return self._group(conn, self._group_row(conn, name))

    def get_group_by_id(self, group_id: int) -> Group:
        with translate_errors(), read_connection(self.engine) as conn:
            row = conn.execute(sa.select(grp).where(grp.c.id == group_id)).first()
            if row is None:
                raise NotFound(f"Role with id={group_id} not found.", role_id=group_id)
            return self._group(conn, row)

    def list_groups(self) -> list[Group]:
        with translate_errors(), read_connection(self.engine) as conn:
            rows = conn.execute(sa.select(grp).order_by(grp.c.name)).all()
            members: dict[int, list[str]] = defaultdict(list)
            for group_id, username in conn.execute(
                sa.select(gm.c.group_id, u.c.username)
                .join(u, u.c.id == gm.c.user_id)
                .order_by(u.c.username)
            ):
                members[group_id].append(username)
            return [
                Group(
                    id=r.id,
                    name=r.name,
                    members=tuple(members.get(r.id, ())),
                    description=r.description or "",
                    created_at=r.created_at,
                )
                for r in rows
            ]

    def update_group(self, group_id: int, name: str | None, description: str | None) -> Group:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description or None
        with translate_errors():
            try:
                with self.engine.begin() as conn:
                    if (
                        conn.execute(sa.select(grp.c.id).where(grp.c.id == group_id)).first()
                        is None
                    ):
                        raise NotFound(f"Role with id={group_id} not found.", role_id=group_id)
                    if values:
                        conn.execute(grp.update().where(grp.c.id == group_id).values(**values))
            except exc.IntegrityError:
                raise AlreadyExists(f"Group (role) '{name}' already exists.", group=name) from None
        return self.get_group_by_id(group_id)

    def delete_group(self, name: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            group_id = self._group_row(conn, name).id
            conn.execute(gr.delete().where(gr.c.group_id == group_id))
            conn.execute(gm.delete().where(gm.c.group_id == group_id))
            conn.execute(grp.delete().where(grp.c.id == group_id))

    def add_member(self, group: str, username: str) -> int:
        with translate_errors():
            try:
                with self.engine.begin() as conn:
                    group_id = self._group_row(conn, group).id
                    user_id = self._user_id(conn, username)
                    conn.execute(gm.insert().values(group_id=group_id, user_id=user_id))
            except exc.IntegrityError:
                pass  # already a member
        member = self.membership_id(group, username)
        if member is None:  # removed again by someone else in between
            raise _user_not_found(username)
        return member

    def remove_member(self, group: str, username: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            group_id = self._group_row(conn, group).id
            user_id = self._user_id(conn, username)
            done = conn.execute(
                gm.delete().where(gm.c.group_id == group_id, gm.c.user_id == user_id)
            )
            if not done.rowcount:
                raise NotFound(
                    f"User '{username}' is not a member of '{group}'.", username=username
                )

    def membership_id(self, group: str, username: str) -> int | None:
        with translate_errors(), read_connection(self.engine) as conn:
            found = conn.execute(
                sa.select(gm.c.id)
                .join(grp, grp.c.id == gm.c.group_id)
                .join(u, u.c.id == gm.c.user_id)
                .where(grp.c.name == group, u.c.username == username)
            ).scalar()
            return None if found is None else int(found)

    # ------------------------------------------------------------------ grants
    def set_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        permission: Permission,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> Grant:
        for _attempt in range(3):  # two writers may race to insert the same grant
            with translate_errors():
                try:
                    with self.engine.begin() as conn:
                        user_id, group_id = self._principal_ids(conn, username, group)
                        where = (
                            gr.c.resource_type == resource_type.value,
                            gr.c.resource_id == resource_id,
                            gr.c.user_id == user_id
                            if user_id is not None
                            else gr.c.group_id == group_id,
                        )
                        existing = conn.execute(sa.select(gr.c.id).where(*where)).scalar()
                        if existing is None:
                            conn.execute(
                                gr.insert().values(
                                    resource_type=resource_type.value,
                                    resource_id=resource_id,
                                    user_id=user_id,
                                    group_id=group_id,
                                    permission=permission.value,
                                )
                            )
                        else:
                            conn.execute(
                                gr.update()
                                .where(gr.c.id == existing)
                                .values(permission=permission.value)
                            )
                    break
                except exc.IntegrityError:
                    continue
        found = self.get_grant(resource_type, resource_id, username=username, group=group)
        if found is None:  # pragma: no cover - only when deleted concurrently
            raise NotFound("The grant was removed while it was being written.")
        return found

    def _grant_where(
        self,
        conn: Connection,
        resource_type: ResourceType,
        resource_id: str,
        username: str | None,
        group: str | None,
    ) -> list[Any]:
        user_id, group_id = self._principal_ids(conn, username, group)
        return [
            gr.c.resource_type == resource_type.value,
            gr.c.resource_id == resource_id,
            gr.c.user_id == user_id if user_id is not None else gr.c.group_id == group_id,
        ]

    def get_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> Grant | None:
        with translate_errors(), read_connection(self.engine) as conn:
            where = self._grant_where(conn, resource_type, resource_id, username, group)
            row = conn.execute(_grants_select().where(*where)).first()
            return None if row is None else _grant(row)

    def get_grant_by_id(self, grant_id: int) -> Grant:
        with translate_errors(), read_connection(self.engine) as conn:
            row = conn.execute(_grants_select().where(gr.c.id == grant_id)).first()
            if row is None:
                raise NotFound(
                    f"Role permission with id={grant_id} not found.", role_permission_id=grant_id
                )
            return _grant(row)

    def update_grant_by_id(self, grant_id: int, permission: Permission) -> Grant:
        self.get_grant_by_id(grant_id)
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(gr.update().where(gr.c.id == grant_id).values(permission=permission.value))
        return self.get_grant_by_id(grant_id)

    def delete_grant_by_id(self, grant_id: int) -> Grant:
        grant = self.get_grant_by_id(grant_id)
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(gr.delete().where(gr.c.id == grant_id))
        return grant

    def delete_resource_grants(self, resource_type: ResourceType, resource_id: str) -> int:
        with translate_errors(), self.engine.begin() as conn:
            done = conn.execute(
                gr.delete().where(
                    gr.c.resource_type == resource_type.value, gr.c.resource_id == resource_id
                )
            )
            return int(done.rowcount or 0)

    def rename_resource_grants(self, resource_type: ResourceType, old: str, new: str) -> int:
        of_type = gr.c.resource_type == resource_type.value
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(gr.delete().where(of_type, gr.c.resource_id == new))
            done = conn.execute(
                gr.update().where(of_type, gr.c.resource_id == old).values(resource_id=new)
            )
            return int(done.rowcount or 0)

    def delete_grant(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        username: str | None = None,
        group: str | None = None,
    ) -> bool:
        with translate_errors(), self.engine.begin() as conn:
            where = self._grant_where(conn, resource_type, resource_id, username, group)
            return bool(conn.execute(gr.delete().where(*where)).rowcount)

    def list_grants(
        self,
        *,
        username: str | None = None,
        group: str | None = None,
        resource_type: ResourceType | None = None,
        resource_id: str | None = None,
    ) -> list[Grant]:
        query = _grants_select()
        with translate_errors(), read_connection(self.engine) as conn:
            if username is not None:
                query = query.where(gr.c.user_id == self._user_id(conn, username))
            if group is not None:
                query = query.where(gr.c.group_id == self._group_row(conn, group).id)
            if resource_type is not None:
                query = query.where(gr.c.resource_type == resource_type.value)
            if resource_id is not None:
                query = query.where(gr.c.resource_id == resource_id)
            return [_grant(r) for r in conn.execute(query)]

    def effective_grants(
        self, username: str, resource_type: ResourceType, resource_id: str
    ) -> list[Permission]:
        params = (resource_type.value, resource_id, username, username)
        with translate_errors(), read_connection(self.engine) as conn:
            return [Permission(row[0]) for row in _hot(conn, "grants", params)]

    def effective_grants_many(
        self, username: str, resource_type: ResourceType, resource_ids: Sequence[str]
    ) -> list[tuple[str, Permission]]:
        wanted = [*dict.fromkeys(resource_ids), "*"]
        out: list[tuple[str, Permission]] = []
        with translate_errors(), read_connection(self.engine) as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                params = (resource_type.value, *chunk, username, username)
                rows = _hot(conn, "grants_many", params, marks=len(chunk))
                out += [(rid, Permission(p)) for rid, p in rows]
        return out

    # ------------------------------------------------------------------ tokens
    def create_token(
        self, token_id: str, username: str, name: str, secret_sha256: str, expires_at: int | None
    ) -> AccessToken:
        with translate_errors(), self.engine.begin() as conn:
            user_id = self._user_id(conn, username)
            conn.execute(
                tok.insert().values(
                    id=token_id,
                    user_id=user_id,
                    name=name,
                    secret_sha256=secret_sha256,
                    created_at=_now_ms(),
                    expires_at=expires_at,
                    revoked=False,
                )
            )
        return self.get_token(token_id)

    def find_token(self, secret_sha256: str) -> tuple[AccessToken, User] | None:
        with translate_errors(), read_connection(self.engine) as conn:
            rows = _hot(conn, "token", (secret_sha256,))
        if not rows:
            return None
        token_id, name, created, expires, last_used, revoked, user_id, username, is_admin = rows[0][
            :9
        ]
        groups = tuple(r[10] for r in rows if r[10] is not None)
        user = User(user_id, username, bool(is_admin), rows[0][9], groups)
        token = AccessToken(token_id, username, name, created, expires, last_used, bool(revoked))
        return token, user

    def get_token(self, token_id: str) -> AccessToken:
        query = (
            sa.select(tok, u.c.username)
            .join(u, u.c.id == tok.c.user_id)
            .where(tok.c.id == token_id)
        )
        with translate_errors(), read_connection(self.engine) as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"Access token '{token_id}' not found.", token_id=token_id)
            return _token(row, row.username)

    def list_tokens(self, username: str | None) -> list[AccessToken]:
        query = sa.select(tok, u.c.username).join(u, u.c.id == tok.c.user_id)
        with translate_errors(), read_connection(self.engine) as conn:
            if username is not None:
                query = query.where(tok.c.user_id == self._user_id(conn, username))
            rows = conn.execute(query.order_by(tok.c.created_at, tok.c.id))
            return [_token(r, r.username) for r in rows]

    def touch_token(self, token_id: str, now: int, min_interval_ms: int) -> None:
        """Sets ``last_used_at`` unless it was set less than ``min_interval_ms`` ago: a token used on
        every request costs one write per interval, not one per request."""
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(
                tok.update()
                .where(
                    tok.c.id == token_id,
                    sa.or_(
                        tok.c.last_used_at.is_(None), tok.c.last_used_at < now - min_interval_ms
                    ),
                )
                .values(last_used_at=now)
            )

    def revoke_token(self, token_id: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            done = conn.execute(tok.update().where(tok.c.id == token_id).values(revoked=True))
            if (
                not done.rowcount
                and conn.execute(sa.select(tok.c.id).where(tok.c.id == token_id)).first() is None
            ):
                raise NotFound(f"Access token '{token_id}' not found.", token_id=token_id)

    # ------------------------------------------------------------------ audit log
    def record_audit(
        self,
        event: str,
        actor: str,
        subject: str,
        remote_addr: str,
        details: Mapping[str, str],
        timestamp: int,
    ) -> None:
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(
                aud.insert().values(
                    timestamp=timestamp,
                    event=event[:64],
                    actor=actor[:256],
                    subject=subject[:512],
                    remote_addr=remote_addr[:64],
                    details=json.dumps(dict(details), sort_keys=True) if details else None,
                )
            )

    def list_audit(
        self,
        max_results: int,
        page_token: str | None,
        events: Sequence[str] = (),
        actor: str | None = None,
    ) -> PagedList[AuditEvent]:
        offset = decode_page_token(page_token)
        query = sa.select(aud).order_by(aud.c.id.desc())
        if events:
            query = query.where(aud.c.event.in_(list(events)))
        if actor is not None:
            query = query.where(aud.c.actor == actor)
        with translate_errors(), read_connection(self.engine) as conn:
            rows = conn.execute(query.offset(offset).limit(max_results + 1)).all()
        items = [
            AuditEvent(
                id=r.id,
                timestamp=r.timestamp,
                event=r.event,
                actor=r.actor,
                subject=r.subject,
                details=json.loads(r.details) if r.details else {},
                remote_addr=r.remote_addr,
            )
            for r in rows[:max_results]
        ]
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(items, token)

    def prune_audit(self, before: int) -> int:
        with translate_errors(), self.engine.begin() as conn:
            return int(conn.execute(aud.delete().where(aud.c.timestamp < before)).rowcount or 0)

    # ------------------------------------------------------------------ failed logins
    def record_failed_login(
        self, username: str, remote_addr: str, now: int, keep_after: int
    ) -> None:
        with translate_errors(), self.engine.begin() as conn:
            # every account's expired failures go, so a spray of made-up names leaves no rows
            # behind: the table holds the failures of one window, which keeps this delete cheap
            conn.execute(fl.delete().where(fl.c.timestamp < keep_after))
            conn.execute(
                fl.insert().values(
                    username=username[:256], remote_addr=remote_addr[:64], timestamp=now
                )
            )

    def failed_logins_since(self, username: str, since: int) -> list[int]:
        with translate_errors(), read_connection(self.engine) as conn:
            return [int(r[0]) for r in _hot(conn, "failures", (username[:256], since))]

    def clear_failed_logins(self, username: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(fl.delete().where(fl.c.username == username[:256]))

    # ------------------------------------------------------------------ server secrets
    def get_or_create_secret(self, name: str, make: Callable[[], str]) -> str:
        query = sa.select(sec.c.value).where(sec.c.name == name)
        with translate_errors():
            with read_connection(self.engine) as conn:
                found = conn.execute(query).scalar()
            if found is not None:
                return str(found)
            try:
                with self.engine.begin() as conn:
                    conn.execute(sec.insert().values(name=name, value=make(), created_at=_now_ms()))
            except exc.IntegrityError:
                pass  # another worker created it first: everyone uses that one
            with read_connection(self.engine) as conn:
                return str(conn.execute(query).scalar())


def auth_store_for(tracking_store: object) -> SqlAuthStore:
    """The identity store over the same database (and engine) as a SQL tracking store."""
    engine = getattr(tracking_store, "engine", None)
    if engine is None:
        raise TypeError(f"{tracking_store!r} is not a SQL tracking store")
    return SqlAuthStore(engine)
