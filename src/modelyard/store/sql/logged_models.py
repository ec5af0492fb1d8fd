"""The SQL store of logged models (MLflow 3): create, finalize, tag, search and link them to runs.

It shares the tracking store's engine (one database, one schema). Inputs are already validated by
:class:`modelyard.service.logged_models.LoggedModelService`; this module keeps the invariants that need
the database: the experiment and the source run exist, deleted models are hidden unless asked for, and
a run output names a model that exists.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from modelyard.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
    ModelOutput,
    PagedList,
)
from modelyard.errors import InvalidInput, NotFound
from modelyard.search import parse_filter
from modelyard.search.nodes import Comparison, EntityType, OrderKey
from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import read_connection, translate_errors
from modelyard.store.sql.paging import decode_page_token, encode_page_token
from modelyard.store.sql.search import (
    NullsLast,
    combine_clauses,
    compare,
    experiment_id_ints,
    key_value_clause,
    order_term,
)
from modelyard.store.sql.upsert import insert_ignore, upsert

_CHUNK = 500

_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": t.logged_models.c.name,
    "model_id": t.logged_models.c.model_id,
    "model_type": t.logged_models.c.model_type,
    "status": t.logged_models.c.status,
    "source_run_id": t.logged_models.c.source_run_id,
    "creation_timestamp": t.logged_models.c.creation_timestamp_ms,
    "last_updated_timestamp": t.logged_models.c.last_updated_timestamp_ms,
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_model_id() -> str:
    return "m-" + uuid.uuid4().hex


def _not_found(model_id: str) -> NotFound:
    return NotFound(f"Logged model with ID '{model_id}' not found.", model_id=model_id)


class SqlLoggedModelStore:
    """A :class:`modelyard.store.base.LoggedModelStore` over SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ writes
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        model_type: str | None,
        source_run_id: str | None,
        params: Sequence[LoggedModelParam],
        tags: Sequence[LoggedModelTag],
    ) -> LoggedModel:
        model_id = new_model_id()
        now = _now_ms()
        ids = experiment_id_ints([experiment_id])
        with translate_errors(), self.engine.begin() as conn:
            exp = None
            if ids:
                exp = conn.execute(
                    sa.select(
                        t.experiments.c.artifact_location, t.experiments.c.lifecycle_stage
                    ).where(t.experiments.c.experiment_id == ids[0])
                ).first()
            if exp is None:
                raise NotFound(
                    f"No Experiment with id={experiment_id} exists", experiment_id=experiment_id
                )
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidInput(
                    f"Cannot create a logged model in the deleted experiment {experiment_id}.",
                    experiment_id=experiment_id,
                )
            if source_run_id is not None:
                run = conn.execute(
                    sa.select(t.runs.c.experiment_id).where(t.runs.c.run_uuid == source_run_id)
                ).first()
                if run is None:
                    raise NotFound(f"Run with id={source_run_id} not found", run_id=source_run_id)
            location = "/".join(
                [exp.artifact_location.rstrip("/"), "models", model_id, "artifacts"]
            )
            conn.execute(
                t.logged_models.insert().values(
                    model_id=model_id,
                    experiment_id=ids[0],
                    name=name,
                    artifact_location=location,
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    status="LOGGED_MODEL_PENDING",
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    model_type=model_type,
                    source_run_id=source_run_id,
                )
            )
            _write_pairs(conn, t.logged_model_params, model_id, params, overwrite=False)
            _write_pairs(conn, t.logged_model_tags, model_id, tags, overwrite=True)
            return self._load(conn, [model_id])[0]

    def finalize_logged_model(
        self, model_id: str, status: str, status_message: str | None = None
    ) -> LoggedModel:
        with translate_errors(), self.engine.begin() as conn:
            self._require(conn, model_id)
            conn.execute(
                t.logged_models.update()
                .where(t.logged_models.c.model_id == model_id)
                .values(
                    status=status,
                    status_message=status_message,
                    last_updated_timestamp_ms=_now_ms(),
                )
            )
            return self._load(conn, [model_id])[0]

    def delete_logged_model(self, model_id: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            self._require(conn, model_id)
            conn.execute(
                t.logged_models.update()
                .where(t.logged_models.c.model_id == model_id)
                .values(
                    lifecycle_stage=LifecycleStage.DELETED.value,
                    last_updated_timestamp_ms=_now_ms(),
                )
            )

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> LoggedModel:
        with translate_errors(), self.engine.begin() as conn:
            self._require(conn, model_id)
            _write_pairs(conn, t.logged_model_tags, model_id, tags, overwrite=True)
            self._touch(conn, model_id)
            return self._load(conn, [model_id])[0]

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        tags = t.logged_model_tags
        with translate_errors(), self.engine.begin() as conn:
            self._require(conn, model_id)
            deleted = conn.execute(
                tags.delete().where(tags.c.model_id == model_id, tags.c.key == key)
            ).rowcount
            if not deleted:
                raise NotFound(
                    f"No tag with key '{key}' on logged model '{model_id}'.", model_id=model_id
                )
            self._touch(conn, model_id)

    def log_logged_model_params(self, model_id: str, params: Sequence[LoggedModelParam]) -> None:
        with translate_errors(), self.engine.begin() as conn:
            self._require(conn, model_id)
            _write_pairs(conn, t.logged_model_params, model_id, params, overwrite=False)
            self._touch(conn, model_id)

    def log_outputs(self, run_id: str, outputs: Sequence[ModelOutput]) -> None:
        with translate_errors(), self.engine.begin() as conn:
            run = conn.execute(
                sa.select(t.runs.c.lifecycle_stage).where(t.runs.c.run_uuid == run_id)
            ).first()
            if run is None:
                raise NotFound(f"Run with id={run_id} not found", run_id=run_id)
            wanted = {o.model_id: o.step for o in outputs}
            found = set(
                conn.execute(
                    sa.select(t.logged_models.c.model_id).where(
                        t.logged_models.c.model_id.in_(list(wanted))
                    )
                ).scalars()
            )
            missing = [m for m in wanted if m not in found]
            if missing:
                raise _not_found(missing[0])
            upsert(
                conn,
                t.run_outputs,
                [{"run_uuid": run_id, "model_id": m, "step": s} for m, s in wanted.items()],
                keys=("run_uuid", "model_id"),
                update=("step",),
            )

    # ------------------------------------------------------------------ reads
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with translate_errors(), read_connection(self.engine) as conn:
            models = self._load(conn, [model_id])
        if not models or (
            models[0].lifecycle_stage != LifecycleStage.ACTIVE.value and not allow_deleted
        ):
            raise _not_found(model_id)
        return models[0]

    def get_run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[ModelOutput]]:
        """The models each run produced, in order of step then model id."""
        out: dict[str, list[ModelOutput]] = defaultdict(list)
        ro = t.run_outputs
        with translate_errors(), read_connection(self.engine) as conn:
            for i in range(0, len(run_ids), _CHUNK):
                rows = conn.execute(
                    sa.select(ro.c.run_uuid, ro.c.model_id, ro.c.step)
                    .where(ro.c.run_uuid.in_(list(run_ids[i : i + _CHUNK])))
                    .order_by(ro.c.run_uuid, ro.c.step, ro.c.model_id)
                ).all()
                for run_uuid, model_id, step in rows:
                    out[run_uuid].append(ModelOutput(model_id, step))
        return dict(out)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> PagedList[LoggedModel]:
        offset = decode_page_token(page_token)
        query = logged_models_query(experiment_ids, filter_string, order_by)
        with translate_errors(), read_connection(self.engine) as conn:
            ids = list(conn.execute(query.offset(offset).limit(max_results + 1)).scalars())
            more = len(ids) > max_results
            ids = ids[:max_results]
            models = self._load(conn, ids)
        token = encode_page_token(offset + max_results) if more else None
        return PagedList(models, token)

    # ------------------------------------------------------------------ helpers
    def _require(self, conn: Connection, model_id: str) -> None:
        stage = conn.execute(
            sa.select(t.logged_models.c.lifecycle_stage).where(
                t.logged_models.c.model_id == model_id
            )
        ).scalar()
        if stage != LifecycleStage.ACTIVE.value:
            raise _not_found(model_id)

    def _touch(self, conn: Connection, model_id: str) -> None:
        conn.execute(
            t.logged_models.update()
            .where(t.logged_models.c.model_id == model_id)
            .values(last_updated_timestamp_ms=_now_ms())
        )

    def _load(self, conn: Connection, model_ids: Sequence[str]) -> list[LoggedModel]:
        """Models with their tags and params, in the order of ``model_ids`` (missing ones dropped)."""
        lm = t.logged_models
        rows: dict[str, Any] = {}
        tags: dict[str, list[LoggedModelTag]] = defaultdict(list)
        params: dict[str, list[LoggedModelParam]] = defaultdict(list)
        for i in range(0, len(model_ids), _CHUNK):
            chunk = list(model_ids[i : i + _CHUNK])
            for row in conn.execute(sa.select(lm).where(lm.c.model_id.in_(chunk))):
                rows[row.model_id] = row
            for table, out, make in (
                (t.logged_model_tags, tags, LoggedModelTag),
                (t.logged_model_params, params, LoggedModelParam),
            ):
                for model_id, key, value in conn.execute(
                    sa.select(table.c.model_id, table.c.key, table.c.value)
                    .where(table.c.model_id.in_(chunk))
                    .order_by(table.c.model_id, table.c.key)
                ):
                    out[model_id].append(make(key, value))
        return [
            LoggedModel(
                model_id=row.model_id,
                experiment_id=str(row.experiment_id),
                name=row.name,
                artifact_uri=row.artifact_location,
                creation_timestamp_ms=row.creation_timestamp_ms,
                last_updated_timestamp_ms=row.last_updated_timestamp_ms,
                status=row.status,
                model_type=row.model_type,
                source_run_id=row.source_run_id,
                status_message=row.status_message,
                lifecycle_stage=row.lifecycle_stage,
                tags=tuple(tags.get(row.model_id, ())),
                params=tuple(params.get(row.model_id, ())),
            )
            for model_id in model_ids
            if (row := rows.get(model_id)) is not None
        ]


def _write_pairs(
    conn: Connection,
    table: sa.Table,
    model_id: str,
    pairs: Sequence[LoggedModelTag] | Sequence[LoggedModelParam],
    *,
    overwrite: bool,
) -> None:
    rows = [
        {"model_id": model_id, "key": k, "value": v}
        for k, v in {p.key: p.value for p in pairs}.items()
    ]
    if overwrite:
        upsert(conn, table, rows, keys=("model_id", "key"), update=("value",))
    else:
        insert_ignore(conn, table, rows)


# -- search ------------------------------------------------------------------------------------------


def _clause(c: Comparison) -> ColumnElement[bool]:
    lm = t.logged_models
    if c.field.type is EntityType.PARAM:
        return key_value_clause(t.logged_model_params, lm.c.model_id, "model_id", c)
    if c.field.type is EntityType.TAG:
        return key_value_clause(t.logged_model_tags, lm.c.model_id, "model_id", c)
    return compare(_COLUMNS[c.field.key], c.comparator, c.value)


def logged_models_query(
    experiment_ids: Sequence[str], filter_string: str | None, order_by: Sequence[OrderKey]
) -> sa.Select[Any]:
    """Select the ids of the active logged models in ``experiment_ids``, filtered and ordered.

    With no ``order_by`` the newest come first; the model id is always the last tiebreaker.
    """
    expr = parse_filter(filter_string, "logged_models")
    lm = t.logged_models
    ids = experiment_id_ints(experiment_ids)
    query = sa.select(lm.c.model_id).where(
        lm.c.experiment_id.in_(ids), lm.c.lifecycle_stage == LifecycleStage.ACTIVE.value
    )
    if expr is not None:
        query = query.where(combine_clauses(expr, _clause))
    source: sa.FromClause = lm
    terms: list[ColumnElement[Any]] = []
    for i, key in enumerate(order_by):
        if key.field.type is EntityType.ATTRIBUTE:
            col = _COLUMNS[key.field.key]
            terms.append(order_term(col, key.ascending, bool(col.nullable)))
            continue
        table = t.logged_model_params if key.field.type is EntityType.PARAM else t.logged_model_tags
        alias = table.alias(f"order_{i}")
        source = source.outerjoin(
            alias, sa.and_(alias.c.model_id == lm.c.model_id, alias.c.key == key.field.key)
        )
        terms.append(order_term(alias.c.value, key.ascending, nullable=True))
    if not order_by:
        terms.append(NullsLast(lm.c.creation_timestamp_ms, descending=True))
    terms.append(lm.c.model_id.asc())
    return query.select_from(source).order_by(*terms)
