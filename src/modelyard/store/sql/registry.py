"""The SQL store of the model registry: registered models, versions, tags, aliases, stages, transition
requests, comments and the append-only activity log.

It shares the tracking store's engine. Inputs are already validated by
:class:`modelyard.service.registry.RegistryService`; this module keeps the invariants that need the
database:

* version numbers are consecutive per model and never reused: ``registered_models.next_version`` is
  incremented with an ``UPDATE`` that row-locks the model on PostgreSQL and MySQL (concurrent creators
  queue on it) and runs under the write lock on SQLite;
* every change writes its activity-log row in the same transaction, and log rows are never updated;
* approving a request performs its transition in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from modelyard.entities import (
    ActivityType,
    ModelAlias,
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryTag,
    Stage,
)
from modelyard.errors import AlreadyExists, NotFound
from modelyard.search import parse_filter
from modelyard.search.nodes import Comparator, Comparison, EntityType, OrderKey
from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import read_connection, translate_errors
from modelyard.store.sql.paging import decode_page_token, encode_page_token
from modelyard.store.sql.registry_workflow import RegistryWorkflow, now_ms, short
from modelyard.store.sql.registry_workflow import log_activity as _log
from modelyard.store.sql.search import (
    NullsLast,
    combine_clauses,
    compare,
    key_value_clause,
    order_term,
)
from modelyard.store.sql.upsert import upsert

_CHUNK = 500
rm, mv = t.registered_models, t.model_versions

_RM_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": rm.c.name,
    "creation_timestamp": rm.c.creation_timestamp,
    "last_updated_timestamp": rm.c.last_updated_timestamp,
}
_MV_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": rm.c.name,
    "run_id": mv.c.run_id,
    "source_path": mv.c.source,
    "current_stage": mv.c.current_stage,
    "model_id": mv.c.logged_model_id,
    "version_number": mv.c.version,
    "creation_timestamp": mv.c.creation_timestamp,
    "last_updated_timestamp": mv.c.last_updated_timestamp,
}


def _model_not_found(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found", name=name)


def _version_not_found(name: str, version: int | str) -> NotFound:
    return NotFound(
        f"Model Version (name={name}, version={version}) not found", name=name, version=version
    )


class SqlRegistryStore(RegistryWorkflow):
    """The registry over SQLAlchemy Core. Every write takes the acting user for the activity log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ============================================================== registered models
    def create_registered_model(
        self, name: str, tags: Sequence[RegistryTag], description: str | None, user_id: str
    ) -> RegisteredModel:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            exists = conn.execute(sa.select(rm.c.id).where(rm.c.name == name)).first()
            if exists is not None:
                raise AlreadyExists(f"Registered Model (name={name}) already exists.", name=name)
            model_id = conn.execute(
                rm.insert().values(
                    name=name,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    description=description,
                    user_id=user_id,
                    next_version=1,
                )
            ).inserted_primary_key[0]
            _write_tags(conn, t.registered_model_tags, {"model_id": model_id}, tags)
            _log(conn, model_id, name, None, ActivityType.REGISTERED_MODEL_CREATED, user_id, now)
            return self._load_models(conn, [model_id])[0]

    def rename_registered_model(self, name: str, new_name: str, user_id: str) -> RegisteredModel:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            if new_name != name:
                taken = conn.execute(sa.select(rm.c.id).where(rm.c.name == new_name)).first()
                if taken is not None:
                    raise AlreadyExists(
                        f"Registered Model (name={new_name}) already exists.", name=new_name
                    )
            conn.execute(
                rm.update()
                .where(rm.c.id == model_id)
                .values(name=new_name, last_updated_timestamp=now)
            )
            _log(
                conn,
                model_id,
                new_name,
                None,
                ActivityType.REGISTERED_MODEL_RENAMED,
                user_id,
                now,
                system_comment=f"Renamed from '{name}' to '{new_name}'.",
            )
            return self._load_models(conn, [model_id])[0]

    def update_registered_model(
        self, name: str, description: str | None, user_id: str
    ) -> RegisteredModel:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            conn.execute(
                rm.update()
                .where(rm.c.id == model_id)
                .values(description=description, last_updated_timestamp=now)
            )
            _log(
                conn,
                model_id,
                name,
                None,
                ActivityType.REGISTERED_MODEL_DESCRIPTION_UPDATED,
                user_id,
                now,
                comment=description,
            )
            return self._load_models(conn, [model_id])[0]

    def delete_registered_model(self, name: str, user_id: str) -> None:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            versions = [
                v for (v,) in conn.execute(sa.select(mv.c.version).where(mv.c.model_id == model_id))
            ]
            for table in (
                t.model_version_comments,
                t.transition_requests,
                t.model_version_tags,
                t.registered_model_aliases,
                t.registered_model_tags,
            ):
                conn.execute(table.delete().where(table.c.model_id == model_id))
            conn.execute(mv.delete().where(mv.c.model_id == model_id))
            conn.execute(rm.delete().where(rm.c.id == model_id))
            _log(
                conn,
                model_id,
                name,
                None,
                ActivityType.REGISTERED_MODEL_DELETED,
                user_id,
                now,
                system_comment=f"Deleted with {len(versions)} version(s).",
            )

    def get_registered_model(self, name: str) -> RegisteredModel:
        with translate_errors(), read_connection(self.engine) as conn:
            return self._load_models(conn, [self._model_id(conn, name)])[0]

    def set_registered_model_tag(self, name: str, tag: RegistryTag, user_id: str) -> None:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            _write_tags(conn, t.registered_model_tags, {"model_id": model_id}, [tag])
            self._touch_model(conn, model_id, now)
            _log(
                conn,
                model_id,
                name,
                None,
                ActivityType.REGISTERED_MODEL_TAG_SET,
                user_id,
                now,
                system_comment=f"Tag '{tag.key}' set to '{short(tag.value)}'.",
            )

    def delete_registered_model_tag(self, name: str, key: str, user_id: str) -> None:
        now = now_ms()
        tags = t.registered_model_tags
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            deleted = conn.execute(
                tags.delete().where(tags.c.model_id == model_id, tags.c.key == key)
            ).rowcount
            if not deleted:
                raise NotFound(
                    f"No tag with key '{key}' on registered model '{name}'.", name=name, key=key
                )
            self._touch_model(conn, model_id, now)
            _log(
                conn,
                model_id,
                name,
                None,
                ActivityType.REGISTERED_MODEL_TAG_DELETED,
                user_id,
                now,
                system_comment=f"Tag '{key}' deleted.",
            )

    def search_registered_models(
        self,
        filter_string: str | None,
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> PagedList[RegisteredModel]:
        offset = decode_page_token(page_token)
        query = registered_models_query(filter_string, order_by)
        with translate_errors(), read_connection(self.engine) as conn:
            ids = list(conn.execute(query.offset(offset).limit(max_results + 1)).scalars())
            more = len(ids) > max_results
            models = self._load_models(conn, ids[:max_results])
        return PagedList(models, encode_page_token(offset + max_results) if more else None)

    def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        with translate_errors(), read_connection(self.engine) as conn:
            model_id = self._model_id(conn, name)
            return self._latest(conn, [model_id], stages).get(model_id, [])

    # ============================================================== aliases
    def set_alias(self, name: str, alias: str, version: int, user_id: str) -> None:
        now = now_ms()
        aliases = t.registered_model_aliases
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            self._require_version(conn, model_id, name, version)
            before = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model_id == model_id, aliases.c.alias == alias
                )
            ).scalar()
            upsert(
                conn,
                aliases,
                [{"model_id": model_id, "alias": alias, "version": version}],
                keys=("model_id", "alias"),
                update=("version",),
            )
            self._touch_model(conn, model_id, now)
            moved = "" if before is None else f" (moved from version {before})"
            _log(
                conn,
                model_id,
                name,
                version,
                ActivityType.ALIAS_SET,
                user_id,
                now,
                system_comment=f"Alias '{alias}' set to version {version}{moved}.",
            )

    def delete_alias(self, name: str, alias: str, user_id: str) -> int:
        now = now_ms()
        aliases = t.registered_model_aliases
        with translate_errors(), self.engine.begin() as conn:
            model_id = self._model_id(conn, name, lock=True)
            version = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model_id == model_id, aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                raise NotFound(f"Registered model alias {alias} not found.", name=name, alias=alias)
            conn.execute(
                aliases.delete().where(aliases.c.model_id == model_id, aliases.c.alias == alias)
            )
            self._touch_model(conn, model_id, now)
            _log(
                conn,
                model_id,
                name,
                version,
                ActivityType.ALIAS_DELETED,
                user_id,
                now,
                system_comment=f"Alias '{alias}' removed from version {version}.",
            )
            return int(version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        aliases = t.registered_model_aliases
        with translate_errors(), read_connection(self.engine) as conn:
            model_id = self._model_id(conn, name)
            version = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model_id == model_id, aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                raise NotFound(f"Registered model alias {alias} not found.", name=name, alias=alias)
            return self._load_versions(conn, [(model_id, int(version))])[0]

    # ============================================================== model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None,
        tags: Sequence[RegistryTag],
        run_link: str | None,
        description: str | None,
        user_id: str,
        model_id: str | None,
        storage_location: str | None,
    ) -> ModelVersion:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name)
            # The UPDATE row-locks the model (PostgreSQL, MySQL): concurrent creators queue here.
            conn.execute(
                rm.update()
                .where(rm.c.id == rid)
                .values(next_version=rm.c.next_version + 1, last_updated_timestamp=now)
            )
            version = int(
                conn.execute(sa.select(rm.c.next_version).where(rm.c.id == rid)).scalar_one() - 1
            )
            conn.execute(
                mv.insert().values(
                    model_id=rid,
                    version=version,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    user_id=user_id,
                    current_stage=Stage.NONE.value,
                    description=description,
                    source=source,
                    storage_location=storage_location,
                    run_id=run_id,
                    run_link=run_link,
                    logged_model_id=model_id,
                    status="READY",
                )
            )
            _write_tags(conn, t.model_version_tags, {"model_id": rid, "version": version}, tags)
            _log(
                conn,
                rid,
                name,
                version,
                ActivityType.MODEL_VERSION_CREATED,
                user_id,
                now,
                to_stage=Stage.NONE.value,
                system_comment=f"Version {version} created from {short(source)}.",
            )
            return self._load_versions(conn, [(rid, version)])[0]

    def update_model_version(
        self, name: str, version: int, description: str | None, user_id: str
    ) -> ModelVersion:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name)
            self._require_version(conn, rid, name, version, lock=True)
            conn.execute(
                mv.update()
                .where(mv.c.model_id == rid, mv.c.version == version)
                .values(description=description, last_updated_timestamp=now)
            )
            _log(
                conn,
                rid,
                name,
                version,
                ActivityType.MODEL_VERSION_DESCRIPTION_UPDATED,
                user_id,
                now,
                comment=description,
            )
            return self._load_versions(conn, [(rid, version)])[0]

    def transition_model_version_stage(
        self,
        name: str,
        version: int,
        stage: str,
        archive_existing_versions: bool,
        user_id: str,
        comment: str | None = None,
    ) -> tuple[ModelVersion, list[ModelVersion]]:
        """Move a version; returns it and the versions archived along the way."""
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name, lock=True)
            return self._transition(
                conn, rid, name, version, stage, archive_existing_versions, user_id, comment
            )

    def delete_model_version(self, name: str, version: int, user_id: str) -> None:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name, lock=True)
            self._require_version(conn, rid, name, version)
            for table in (t.model_version_comments, t.transition_requests, t.model_version_tags):
                conn.execute(
                    table.delete().where(table.c.model_id == rid, table.c.version == version)
                )
            aliases = t.registered_model_aliases
            conn.execute(
                aliases.delete().where(aliases.c.model_id == rid, aliases.c.version == version)
            )
            conn.execute(mv.delete().where(mv.c.model_id == rid, mv.c.version == version))
            self._touch_model(conn, rid, now)
            _log(conn, rid, name, version, ActivityType.MODEL_VERSION_DELETED, user_id, now)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with translate_errors(), read_connection(self.engine) as conn:
            rid = self._model_id(conn, name)
            found = self._load_versions(conn, [(rid, version)])
            if not found:
                raise _version_not_found(name, version)
            return found[0]

    def set_model_version_tag(
        self, name: str, version: int, tag: RegistryTag, user_id: str
    ) -> None:
        now = now_ms()
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name)
            self._require_version(conn, rid, name, version, lock=True)
            _write_tags(conn, t.model_version_tags, {"model_id": rid, "version": version}, [tag])
            self._touch_version(conn, rid, version, now)
            _log(
                conn,
                rid,
                name,
                version,
                ActivityType.MODEL_VERSION_TAG_SET,
                user_id,
                now,
                system_comment=f"Tag '{tag.key}' set to '{short(tag.value)}'.",
            )

    def delete_model_version_tag(self, name: str, version: int, key: str, user_id: str) -> None:
        now = now_ms()
        tags = t.model_version_tags
        with translate_errors(), self.engine.begin() as conn:
            rid = self._model_id(conn, name)
            self._require_version(conn, rid, name, version, lock=True)
            deleted = conn.execute(
                tags.delete().where(
                    tags.c.model_id == rid, tags.c.version == version, tags.c.key == key
                )
            ).rowcount
            if not deleted:
                raise NotFound(
                    f"No tag with key '{key}' on model version (name={name}, version={version}).",
                    name=name,
                    key=key,
                )
            self._touch_version(conn, rid, version, now)
            _log(
                conn,
                rid,
                name,
                version,
                ActivityType.MODEL_VERSION_TAG_DELETED,
                user_id,
                now,
                system_comment=f"Tag '{key}' deleted.",
            )

    def search_model_versions(
        self,
        filter_string: str | None,
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> PagedList[ModelVersion]:
        offset = decode_page_token(page_token)
        query = model_versions_query(filter_string, order_by)
        with translate_errors(), read_connection(self.engine) as conn:
            keys = [(r[0], r[1]) for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            more = len(keys) > max_results
            versions = self._load_versions(conn, keys[:max_results])
        return PagedList(versions, encode_page_token(offset + max_results) if more else None)

    # ============================================================== helpers
    def _model_id(self, conn: Connection, name: str, *, lock: bool = False) -> int:
        query = sa.select(rm.c.id).where(rm.c.name == name)
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        model_id = conn.execute(query).scalar()
        if model_id is None:
            raise _model_not_found(name)
        return int(model_id)

    def _require_version(
        self, conn: Connection, model_id: int, name: str, version: int, *, lock: bool = False
    ) -> str:
        """The version's current stage; raises NotFound when it does not exist."""
        query = sa.select(mv.c.current_stage).where(
            mv.c.model_id == model_id, mv.c.version == version
        )
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        stage = conn.execute(query).scalar()
        if stage is None:
            raise _version_not_found(name, version)
        return str(stage)

    def _touch_model(self, conn: Connection, model_id: int, now: int) -> None:
        conn.execute(rm.update().where(rm.c.id == model_id).values(last_updated_timestamp=now))

    def _touch_version(self, conn: Connection, model_id: int, version: int, now: int) -> None:
        conn.execute(
            mv.update()
            .where(mv.c.model_id == model_id, mv.c.version == version)
            .values(last_updated_timestamp=now)
        )

    def _transition(
        self,
        conn: Connection,
        model_id: int,
        name: str,
        version: int,
        stage: str,
        archive_existing: bool,
        user_id: str,
        comment: str | None,
    ) -> tuple[ModelVersion, list[ModelVersion]]:
        now = now_ms()
        before = self._require_version(conn, model_id, name, version)
        archived: list[int] = []
        if archive_existing and stage in (Stage.STAGING.value, Stage.PRODUCTION.value):
            archived = [
                int(v)
                for (v,) in conn.execute(
                    sa.select(mv.c.version).where(
                        mv.c.model_id == model_id,
                        mv.c.current_stage == stage,
                        mv.c.version != version,
                    )
                )
            ]
            if archived:
                conn.execute(
                    mv.update()
                    .where(mv.c.model_id == model_id, mv.c.version.in_(archived))
                    .values(current_stage=Stage.ARCHIVED.value, last_updated_timestamp=now)
                )
                for other in archived:
                    _log(
                        conn,
                        model_id,
                        name,
                        other,
                        ActivityType.SYSTEM_TRANSITION,
                        user_id,
                        now,
                        from_stage=stage,
                        to_stage=Stage.ARCHIVED.value,
                        system_comment=f"Archived because version {version} entered {stage}.",
                    )
        conn.execute(
            mv.update()
            .where(mv.c.model_id == model_id, mv.c.version == version)
            .values(current_stage=stage, last_updated_timestamp=now)
        )
        self._touch_model(conn, model_id, now)
        _log(
            conn,
            model_id,
            name,
            version,
            ActivityType.APPLIED_TRANSITION,
            user_id,
            now,
            from_stage=before,
            to_stage=stage,
            comment=comment,
        )
        loaded = self._load_versions(
            conn, [(model_id, version), *((model_id, a) for a in archived)]
        )
        return loaded[0], loaded[1:]

    def _names(self, conn: Connection, model_ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        ids = sorted(set(model_ids))
        for i in range(0, len(ids), _CHUNK):
            for model_id, name in conn.execute(
                sa.select(rm.c.id, rm.c.name).where(rm.c.id.in_(ids[i : i + _CHUNK]))
            ):
                out[int(model_id)] = str(name)
        return out

    def _load_versions(
        self, conn: Connection, keys: Sequence[tuple[int, int]]
    ) -> list[ModelVersion]:
        """Versions with tags and aliases, in the order of ``keys`` (missing ones dropped)."""
        if not keys:
            return []
        model_ids = sorted({k[0] for k in keys})
        names = self._names(conn, model_ids)
        wanted = set(keys)
        rows: dict[tuple[int, int], Any] = {}
        tags: dict[tuple[int, int], list[RegistryTag]] = defaultdict(list)
        aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
        mvt, al = t.model_version_tags, t.registered_model_aliases
        for i in range(0, len(model_ids), _CHUNK):
            chunk = model_ids[i : i + _CHUNK]
            versions = sorted({k[1] for k in keys if k[0] in set(chunk)})
            for row in conn.execute(
                sa.select(mv).where(mv.c.model_id.in_(chunk), mv.c.version.in_(versions))
            ):
                if (row.model_id, row.version) in wanted:
                    rows[(row.model_id, row.version)] = row
            for model_id, version, key, value in conn.execute(
                sa.select(mvt.c.model_id, mvt.c.version, mvt.c.key, mvt.c.value)
                .where(mvt.c.model_id.in_(chunk), mvt.c.version.in_(versions))
                .order_by(mvt.c.model_id, mvt.c.version, mvt.c.key)
            ):
                tags[(model_id, version)].append(RegistryTag(key, value))
            for model_id, alias, version in conn.execute(
                sa.select(al.c.model_id, al.c.alias, al.c.version)
                .where(al.c.model_id.in_(chunk))
                .order_by(al.c.model_id, al.c.alias)
            ):
                aliases[(model_id, version)].append(alias)
        return [
            ModelVersion(
                name=names[row.model_id],
                version=str(row.version),
                creation_timestamp=row.creation_timestamp,
                last_updated_timestamp=row.last_updated_timestamp,
                source=row.source,
                current_stage=row.current_stage,
                status=row.status,
                user_id=row.user_id,
                description=row.description,
                run_id=row.run_id,
                run_link=row.run_link,
                status_message=row.status_message,
                model_id=row.logged_model_id,
                storage_location=row.storage_location,
                tags=tuple(tags.get(key, ())),
                aliases=tuple(aliases.get(key, ())),
            )
            for key in keys
            if (row := rows.get(key)) is not None
        ]

    def _latest(
        self, conn: Connection, model_ids: Sequence[int], stages: Sequence[str]
    ) -> dict[int, list[ModelVersion]]:
        """The newest version in each of ``stages`` (all stages when empty), per model."""
        if not model_ids:
            return {}
        wanted = list(stages) or [s.value for s in Stage]
        newest = (
            sa.select(mv.c.model_id, mv.c.current_stage, sa.func.max(mv.c.version).label("v"))
            .where(mv.c.model_id.in_(list(model_ids)), mv.c.current_stage.in_(wanted))
            .group_by(mv.c.model_id, mv.c.current_stage)
        )
        keys = sorted((int(r.model_id), int(r.v)) for r in conn.execute(newest))
        out: dict[int, list[ModelVersion]] = defaultdict(list)
        by_key = dict(zip(keys, self._load_versions(conn, keys), strict=True))
        for key in keys:
            out[key[0]].append(by_key[key])
        return dict(out)

    def _load_models(self, conn: Connection, model_ids: Sequence[int]) -> list[RegisteredModel]:
        rows: dict[int, Any] = {}
        tags: dict[int, list[RegistryTag]] = defaultdict(list)
        aliases: dict[int, list[ModelAlias]] = defaultdict(list)
        rmt, al = t.registered_model_tags, t.registered_model_aliases
        for i in range(0, len(model_ids), _CHUNK):
            chunk = list(model_ids[i : i + _CHUNK])
            for row in conn.execute(sa.select(rm).where(rm.c.id.in_(chunk))):
                rows[row.id] = row
            for model_id, key, value in conn.execute(
                sa.select(rmt.c.model_id, rmt.c.key, rmt.c.value)
                .where(rmt.c.model_id.in_(chunk))
                .order_by(rmt.c.model_id, rmt.c.key)
            ):
                tags[model_id].append(RegistryTag(key, value))
            for model_id, alias, version in conn.execute(
                sa.select(al.c.model_id, al.c.alias, al.c.version)
                .where(al.c.model_id.in_(chunk))
                .order_by(al.c.model_id, al.c.alias)
            ):
                aliases[model_id].append(ModelAlias(alias, str(version)))
        latest = self._latest(conn, list(rows), ())
        return [
            RegisteredModel(
                name=row.name,
                creation_timestamp=row.creation_timestamp,
                last_updated_timestamp=row.last_updated_timestamp,
                user_id=row.user_id,
                description=row.description,
                latest_versions=tuple(latest.get(model_id, ())),
                tags=tuple(tags.get(model_id, ())),
                aliases=tuple(aliases.get(model_id, ())),
            )
            for model_id in model_ids
            if (row := rows.get(model_id)) is not None
        ]


def _write_tags(
    conn: Connection, table: sa.Table, owner: dict[str, Any], tags: Sequence[RegistryTag]
) -> None:
    rows = [{**owner, "key": k, "value": v} for k, v in {x.key: x.value for x in tags}.items()]
    upsert(conn, table, rows, keys=(*owner, "key"), update=("value",))


# -- search ------------------------------------------------------------------------------------------


def _tag_clause(table: sa.Table, owner: Any, c: Comparison, *extra: Any) -> ColumnElement[bool]:
    """A registry tag clause. ``!=`` holds when the owner has no tag with that value, so
    ``tags.`mlflow.prompt.is_prompt` != 'true'`` keeps the models that lack the tag."""
    if c.comparator is Comparator.NE:
        same = sa.exists().where(
            table.c.model_id == owner, *extra, table.c.key == c.field.key, table.c.value == c.value
        )
        return ~same
    if not extra:
        return key_value_clause(table, owner, "model_id", c)
    has_key = sa.exists().where(table.c.model_id == owner, *extra, table.c.key == c.field.key)
    if c.comparator is Comparator.IS_NULL:
        return ~has_key
    if c.comparator is Comparator.IS_NOT_NULL:
        return has_key
    return has_key.where(compare(table.c.value, c.comparator, c.value))


def _rm_clause(c: Comparison) -> ColumnElement[bool]:
    if c.field.type is EntityType.TAG:
        return _tag_clause(t.registered_model_tags, rm.c.id, c)
    return compare(_RM_COLUMNS[c.field.key], c.comparator, c.value)


def _mv_clause(c: Comparison) -> ColumnElement[bool]:
    if c.field.type is EntityType.TAG:
        tags = t.model_version_tags
        return _tag_clause(tags, mv.c.model_id, c, tags.c.version == mv.c.version)
    col = _MV_COLUMNS[c.field.key]
    if c.field.key == "current_stage" and isinstance(c.value, str):
        return compare(sa.func.lower(col), c.comparator, c.value.lower())
    if col.nullable:
        return sa.and_(col.is_not(None), compare(col, c.comparator, c.value))
    return compare(col, c.comparator, c.value)


def registered_models_query(
    filter_string: str | None, order_by: Sequence[OrderKey]
) -> sa.Select[Any]:
    """Select the ids of the registered models matching the filter; default order ``name ASC``."""
    expr = parse_filter(filter_string, "registered_models")
    query = sa.select(rm.c.id)
    if expr is not None:
        query = query.where(combine_clauses(expr, _rm_clause))
    terms = [order_term(_RM_COLUMNS[k.field.key], k.ascending, False) for k in order_by]
    if not any(k.field.key == "name" for k in order_by):
        terms.append(rm.c.name.asc())
    return query.order_by(*terms)


def model_versions_query(filter_string: str | None, order_by: Sequence[OrderKey]) -> sa.Select[Any]:
    """Select ``(model_id, version)`` of matching versions. The default order is
    ``last_updated_timestamp DESC, name ASC, version_number DESC``, MLflow's."""
    expr = parse_filter(filter_string, "model_versions")
    query = sa.select(mv.c.model_id, mv.c.version).select_from(
        mv.join(rm, rm.c.id == mv.c.model_id)
    )
    if expr is not None:
        query = query.where(combine_clauses(expr, _mv_clause))
    terms: list[ColumnElement[Any]] = []
    for k in order_by:
        col = _MV_COLUMNS[k.field.key]
        terms.append(order_term(col, k.ascending, bool(col.nullable)))
    if not order_by:
        terms.append(NullsLast(mv.c.last_updated_timestamp, descending=True))
    terms += [rm.c.name.asc(), mv.c.version.desc()]
    return query.order_by(*terms)


__all__ = ["SqlRegistryStore", "model_versions_query", "registered_models_query"]
