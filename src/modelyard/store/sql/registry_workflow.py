"""Transition requests, comments and the activity log of the SQL registry store.

:class:`RegistryWorkflow` is mixed into :class:`~modelyard.store.sql.registry.SqlRegistryStore`; it
uses the store's helpers (``_model_id``, ``_require_version``, ``_transition``, ``_names``).
:func:`log_activity` writes one row of the append-only log, always inside the transaction of the
change it records.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from modelyard.entities import (
    Activity,
    ActivityType,
    Comment,
    ModelVersion,
    RequestStatus,
    TransitionRequest,
)
from modelyard.errors import AlreadyExists, InvalidState, NotFound
from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import read_connection, translate_errors

rm = t.registered_models


def now_ms() -> int:
    return int(time.time() * 1000)


def short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def log_activity(
    conn: Connection,
    model_id: int,
    name: str,
    version: int | None,
    kind: ActivityType,
    user_id: str,
    now: int,
    *,
    from_stage: str | None = None,
    to_stage: str | None = None,
    comment: str | None = None,
    system_comment: str | None = None,
) -> None:
    conn.execute(
        t.registry_activities.insert().values(
            model_id=model_id,
            model_name=name,
            version=version,
            activity_type=kind.value,
            user_id=user_id,
            creation_timestamp=now,
            from_stage=from_stage,
            to_stage=to_stage,
            comment=comment,
            system_comment=system_comment,
        )
    )


class RegistryWorkflow:
    """Requests, approvals, comments and activities (a mixin of the SQL registry store)."""

    engine: Any
    _model_id: Any
    _require_version: Any
    _transition: Any
    _names: Any

    # ============================================================== transition requests
    def create_transition_request(
        self,
        name: str,
        version: int,
        to_stage: str,
        user_id: str,
        comment: str | None,
        archive_existing_versions: bool,
    ) -> TransitionRequest:
        now = now_ms()
        tr = t.transition_requests
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name, lock=True)
            current = self._require_version(conn, rid, name, version)
            if current == to_stage:
                raise InvalidState(
                    f"Model version (name={name}, version={version}) is already in stage "
                    f"'{to_stage}'.",
                    name=name,
                )
            pending = conn.execute(
                sa.select(tr.c.id).where(
                    tr.c.model_id == rid,
                    tr.c.version == version,
                    tr.c.to_stage == to_stage,
                    tr.c.status == RequestStatus.PENDING.value,
                )
            ).first()
            if pending is not None:
                raise AlreadyExists(
                    f"A pending request to move model version (name={name}, version={version}) "
                    f"to '{to_stage}' already exists (id {pending.id}).",
                    name=name,
                )
            request_id = conn.execute(
                tr.insert().values(
                    model_id=rid,
                    version=version,
                    to_stage=to_stage,
                    user_id=user_id,
                    comment=comment,
                    archive_existing_versions=archive_existing_versions,
                    creation_timestamp=now,
                    status=RequestStatus.PENDING.value,
                )
            ).inserted_primary_key[0]
            log_activity(
                conn,
                rid,
                name,
                version,
                ActivityType.REQUESTED_TRANSITION,
                user_id,
                now,
                from_stage=current,
                to_stage=to_stage,
                comment=comment,
            )
            return self._load_requests(conn, tr.c.id == request_id, {rid: name})[0]

    def get_transition_request(self, request_id: int) -> TransitionRequest:
        tr = t.transition_requests
        with translate_errors(), read_connection(self.engine) as conn:
            found = self._load_requests(conn, tr.c.id == request_id)
        if not found:
            raise NotFound(f"Transition request {request_id} not found.", request_id=request_id)
        return found[0]

    def list_transition_requests(
        self, name: str, version: int | None, status: str | None
    ) -> list[TransitionRequest]:
        tr = t.transition_requests
        with translate_errors(), read_connection(self.engine) as conn:
            rid = self._model_id(conn, name)
            where = [tr.c.model_id == rid]
            if version is not None:
                self._require_version(conn, rid, name, version)
                where.append(tr.c.version == version)
            if status is not None:
                where.append(tr.c.status == status)
            return self._load_requests(conn, sa.and_(*where), {rid: name})

    def resolve_transition_request(
        self,
        request_id: int,
        status: str,
        user_id: str,
        comment: str | None,
    ) -> tuple[TransitionRequest, ModelVersion | None, list[ModelVersion]]:
        """Approve (and perform), reject or cancel a pending request.

        Returns the request, the moved version (approvals only) and the versions archived on the way.
        """
        now = now_ms()
        tr = t.transition_requests
        with translate_errors(), self.engine.begin() as conn:
            row = conn.execute(sa.select(tr).where(tr.c.id == request_id)).first()
            if row is None:
                raise NotFound(f"Transition request {request_id} not found.", request_id=request_id)
            name = conn.execute(sa.select(rm.c.name).where(rm.c.id == row.model_id)).scalar_one()
            self._model_id(conn, name, lock=True)
            if row.status != RequestStatus.PENDING.value:
                raise InvalidState(
                    f"Transition request {request_id} is already {row.status.lower()}.",
                    request_id=request_id,
                )
            changed = conn.execute(
                tr.update()
                .where(tr.c.id == request_id, tr.c.status == RequestStatus.PENDING.value)
                .values(
                    status=status,
                    resolved_by=user_id,
                    resolved_timestamp=now,
                    resolution_comment=comment,
                )
            ).rowcount
            if not changed:  # pragma: no cover - the model row lock orders resolvers
                raise InvalidState(f"Transition request {request_id} was resolved meanwhile.")
            current = self._require_version(conn, row.model_id, name, row.version)
            kind = {
                RequestStatus.APPROVED.value: ActivityType.APPROVED_REQUEST,
                RequestStatus.REJECTED.value: ActivityType.REJECTED_REQUEST,
                RequestStatus.CANCELLED.value: ActivityType.CANCELLED_REQUEST,
            }[status]
            log_activity(
                conn,
                row.model_id,
                name,
                row.version,
                kind,
                user_id,
                now,
                from_stage=current,
                to_stage=row.to_stage,
                comment=comment,
                system_comment=f"Request {request_id} by {row.user_id}.",
            )
            moved: ModelVersion | None = None
            archived: list[ModelVersion] = []
            if status == RequestStatus.APPROVED.value:
                moved, archived = self._transition(
                    conn,
                    row.model_id,
                    name,
                    row.version,
                    row.to_stage,
                    bool(row.archive_existing_versions),
                    user_id,
                    comment,
                )
            request = self._load_requests(conn, tr.c.id == request_id, {row.model_id: name})[0]
            return request, moved, archived

    def set_request_archive(self, request_id: int, archive_existing_versions: bool) -> None:
        """Change whether approving a pending request archives the versions already in its stage."""
        tr = t.transition_requests
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(
                tr.update()
                .where(tr.c.id == request_id, tr.c.status == RequestStatus.PENDING.value)
                .values(archive_existing_versions=archive_existing_versions)
            )

    def has_approved_request(self, name: str, version: int, to_stage: str) -> bool:
        tr = t.transition_requests
        with translate_errors(), read_connection(self.engine) as conn:
            rid = self._model_id(conn, name)
            return (
                conn.execute(
                    sa.select(tr.c.id).where(
                        tr.c.model_id == rid,
                        tr.c.version == version,
                        tr.c.to_stage == to_stage,
                        tr.c.status == RequestStatus.APPROVED.value,
                    )
                ).first()
                is not None
            )

    # ============================================================== comments
    def create_comment(self, name: str, version: int, comment: str, user_id: str) -> Comment:
        now = now_ms()
        c = t.model_version_comments
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name)
            self._require_version(conn, rid, name, version)
            comment_id = conn.execute(
                c.insert().values(
                    model_id=rid,
                    version=version,
                    user_id=user_id,
                    comment=comment,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                )
            ).inserted_primary_key[0]
            log_activity(
                conn, rid, name, version, ActivityType.NEW_COMMENT, user_id, now, comment=comment
            )
            return self._load_comments(conn, c.c.id == comment_id, {rid: name})[0]

    def update_comment(self, comment_id: int, comment: str, user_id: str) -> Comment:
        now = now_ms()
        c = t.model_version_comments
        with translate_errors(), self.engine.begin() as conn:
            row, name = self._comment_row(conn, comment_id)
            conn.execute(
                c.update()
                .where(c.c.id == comment_id)
                .values(comment=comment, last_updated_timestamp=now)
            )
            log_activity(
                conn,
                row.model_id,
                name,
                row.version,
                ActivityType.COMMENT_UPDATED,
                user_id,
                now,
                comment=comment,
                system_comment=f"Comment {comment_id} edited.",
            )
            return self._load_comments(conn, c.c.id == comment_id, {row.model_id: name})[0]

    def get_comment(self, comment_id: int) -> Comment:
        c = t.model_version_comments
        with translate_errors(), read_connection(self.engine) as conn:
            found = self._load_comments(conn, c.c.id == comment_id)
        if not found:
            raise NotFound(f"Comment {comment_id} not found.", comment_id=comment_id)
        return found[0]

    def delete_comment(self, comment_id: int, user_id: str) -> Comment:
        now = now_ms()
        c = t.model_version_comments
        with translate_errors(), self.engine.begin() as conn:
            row, name = self._comment_row(conn, comment_id)
            gone = self._load_comments(conn, c.c.id == comment_id, {row.model_id: name})[0]
            conn.execute(c.delete().where(c.c.id == comment_id))
            log_activity(
                conn,
                row.model_id,
                name,
                row.version,
                ActivityType.COMMENT_DELETED,
                user_id,
                now,
                system_comment=f"Comment {comment_id} by {row.user_id} deleted.",
            )
            return gone

    def list_comments(self, name: str, version: int) -> list[Comment]:
        c = t.model_version_comments
        with translate_errors(), read_connection(self.engine) as conn:
            rid = self._model_id(conn, name)
            self._require_version(conn, rid, name, version)
            return self._load_comments(
                conn, sa.and_(c.c.model_id == rid, c.c.version == version), {rid: name}
            )

    # ============================================================== activity log
    def list_activities(self, name: str, version: int | None) -> list[Activity]:
        a = t.registry_activities
        with translate_errors(), read_connection(self.engine) as conn:
            rid = self._model_id(conn, name)
            where = [a.c.model_id == rid]
            if version is not None:
                where.append(a.c.version == version)
            rows = conn.execute(sa.select(a).where(*where).order_by(a.c.id)).all()
        return [
            Activity(
                id=str(r.id),
                name=r.model_name,
                activity_type=r.activity_type,
                user_id=r.user_id,
                creation_timestamp=r.creation_timestamp,
                version=None if r.version is None else str(r.version),
                from_stage=r.from_stage,
                to_stage=r.to_stage,
                comment=r.comment,
                system_comment=r.system_comment,
            )
            for r in rows
        ]

    def _comment_row(self, conn: Connection, comment_id: int) -> tuple[Row[Any], str]:
        c = t.model_version_comments
        row = conn.execute(sa.select(c).where(c.c.id == comment_id)).first()
        if row is None:
            raise NotFound(f"Comment {comment_id} not found.", comment_id=comment_id)
        name = conn.execute(sa.select(rm.c.name).where(rm.c.id == row.model_id)).scalar_one()
        return row, str(name)

    def _load_requests(
        self,
        conn: Connection,
        where: ColumnElement[bool],
        names: dict[int, str] | None = None,
    ) -> list[TransitionRequest]:
        tr = t.transition_requests
        rows = conn.execute(sa.select(tr).where(where).order_by(tr.c.id)).all()
        names = names if names is not None else self._names(conn, [r.model_id for r in rows])
        return [
            TransitionRequest(
                id=str(r.id),
                name=names[r.model_id],
                version=str(r.version),
                to_stage=r.to_stage,
                user_id=r.user_id,
                creation_timestamp=r.creation_timestamp,
                status=r.status,
                comment=r.comment,
                archive_existing_versions=bool(r.archive_existing_versions),
                resolved_by=r.resolved_by,
                resolved_timestamp=r.resolved_timestamp,
                resolution_comment=r.resolution_comment,
            )
            for r in rows
        ]

    def _load_comments(
        self,
        conn: Connection,
        where: ColumnElement[bool],
        names: dict[int, str] | None = None,
    ) -> list[Comment]:
        c = t.model_version_comments
        rows = conn.execute(sa.select(c).where(where).order_by(c.c.id)).all()
        names = names if names is not None else self._names(conn, [r.model_id for r in rows])
        return [
            Comment(
                id=str(r.id),
                name=names[r.model_id],
                version=str(r.version),
                user_id=r.user_id,
                comment=r.comment,
                creation_timestamp=r.creation_timestamp,
                last_updated_timestamp=r.last_updated_timestamp,
            )
            for r in rows
        ]
