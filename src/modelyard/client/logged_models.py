"""Logged models (MLflow 3, reference §1.8) from Python: :class:`LoggedModelsMixin` gives
:class:`~modelyard.client.tracking.ModelyardClient` MLflow's ``create_logged_model``,
``get_logged_model``, ``finalize_logged_model``, ``delete_logged_model``, ``set_logged_model_tags``,
``delete_logged_model_tag``, ``search_logged_models`` and ``log_outputs``.

Like the registry, the calls go to the tracking backend's database in this process
(:class:`~modelyard.service.logged_models.LoggedModelService` over the same engine) or to the REST
API through the HTTP backend's session. The files of a model are uploaded to its ``artifact_uri``
with :meth:`LoggedModelsMixin.log_model_artifacts`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelyard.entities import (
    LoggedModel,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
    ModelOutput,
    PagedList,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.client.artifacts import RunArtifacts
    from modelyard.client.backend import TrackingBackend
    from modelyard.service.logged_models import LoggedModelService
    from modelyard.settings import Settings

_STATUS_ALIASES = {
    "READY": LoggedModelStatus.READY.value,
    "UPLOAD_FAILED": LoggedModelStatus.UPLOAD_FAILED.value,
    "PENDING": LoggedModelStatus.PENDING.value,
}


def _pairs(values: Mapping[str, Any] | None, kind: type) -> list[Any]:
    return [kind(str(k), "" if v is None else str(v)) for k, v in (values or {}).items()]


def _status(status: LoggedModelStatus | str) -> str:
    text = status.value if isinstance(status, LoggedModelStatus) else str(status)
    return _STATUS_ALIASES.get(text.upper(), text)


def _order_by(order_by: Sequence[Any] | None) -> list[tuple[str, bool]]:
    """``order_by`` as MLflow's client takes it: dicts ``{"field_name", "ascending"}`` or strings
    ``"field [ASC|DESC]"``."""
    out: list[tuple[str, bool]] = []
    for item in order_by or ():
        if isinstance(item, Mapping):
            out.append((str(item.get("field_name", "")), bool(item.get("ascending", True))))
            continue
        if not isinstance(item, str):
            raise InvalidInput(f"Invalid order_by item {item!r}: a string or a dict is required.")
        words = item.strip().rsplit(None, 1)
        if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
            out.append((words[0], words[1].upper() == "ASC"))
        else:
            out.append((item.strip(), True))
    return out


class LoggedModelsMixin:
    """Logged-model methods of :class:`~modelyard.client.tracking.ModelyardClient`."""

    _backend: TrackingBackend
    _settings: Settings
    _logged_models: LoggedModelService | None = None

    if TYPE_CHECKING:

        @property
        def artifacts(self) -> RunArtifacts: ...

    # ---------------------------------------------------------------- plumbing
    def _lm_service(self) -> LoggedModelService | None:
        """The in-process service, or ``None`` when the backend is a server."""
        from modelyard.client.local import LocalBackend

        if not isinstance(self._backend, LocalBackend):
            return None
        if self._logged_models is None:
            from modelyard.service.logged_models import LoggedModelService
            from modelyard.store.sql import logged_model_store_for

            self._logged_models = LoggedModelService(
                logged_model_store_for(self._backend.service.store),
                truncate_long_values=bool(self._settings.truncate_long_values),
            )
        return self._logged_models

    def _lm_http(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._backend._call(method, path, body, **kw)  # type: ignore[attr-defined]
        return result

    @staticmethod
    def _lm_from(data: Mapping[str, Any]) -> LoggedModel:
        from modelyard.schemas.logged_models import logged_model_from_dict

        return logged_model_from_dict(data.get("model") or {})

    # ---------------------------------------------------------------- calls
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A new logged model (status ``LOGGED_MODEL_PENDING``) in ``experiment_id``."""
        svc = self._lm_service()
        if svc is not None:
            return svc.create_logged_model(
                str(experiment_id),
                name,
                model_type,
                source_run_id,
                _pairs(params, LoggedModelParam),
                _pairs(tags, LoggedModelTag),
            )
        body: dict[str, Any] = {"experiment_id": str(experiment_id)}
        for key, value in (
            ("name", name),
            ("model_type", model_type),
            ("source_run_id", source_run_id),
        ):
            if value is not None:
                body[key] = value
        if params:
            body["params"] = [
                {"key": p.key, "value": p.value} for p in _pairs(params, LoggedModelParam)
            ]
        if tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in _pairs(tags, LoggedModelTag)]
        return self._lm_from(self._lm_http("POST", "logged-models", body, idempotent=False))

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The logged model ``model_id`` (``m-...``)."""
        svc = self._lm_service()
        if svc is not None:
            return svc.get_logged_model(model_id, allow_deleted)
        query = {"allow_deleted": "true"} if allow_deleted else None
        return self._lm_from(
            self._lm_http("GET", f"logged-models/{quote(model_id, safe='')}", query=query)
        )

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus | str) -> LoggedModel:
        """Mark the upload of a model done: ``READY`` or ``UPLOAD_FAILED`` (short or wire names)."""
        wire = _status(status)
        svc = self._lm_service()
        if svc is not None:
            return svc.finalize_logged_model(model_id, wire)
        path = f"logged-models/{quote(model_id, safe='')}"
        return self._lm_from(self._lm_http("PATCH", path, {"status": wire}))

    def delete_logged_model(self, model_id: str) -> None:
        svc = self._lm_service()
        if svc is not None:
            svc.delete_logged_model(model_id)
            return
        self._lm_http("DELETE", f"logged-models/{quote(model_id, safe='')}")

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, Any]) -> LoggedModel:
        """Set (overwrite) ``tags`` on the model; returns the model."""
        pairs = _pairs(tags, LoggedModelTag)
        svc = self._lm_service()
        if svc is not None:
            return svc.set_logged_model_tags(model_id, pairs)
        path = f"logged-models/{quote(model_id, safe='')}/tags"
        body = {"tags": [{"key": t.key, "value": t.value} for t in pairs]}
        return self._lm_from(self._lm_http("PATCH", path, body))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        svc = self._lm_service()
        if svc is not None:
            svc.delete_logged_model_tag(model_id, key)
            return
        path = f"logged-models/{quote(model_id, safe='')}/tags/{quote(key, safe='')}"
        self._lm_http("DELETE", path)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[Any] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of the logged models of ``experiment_ids`` matching ``filter_string``
        (``name = 'model' AND source_run_id = '...'``, ``params.x``, ``tags.x``, ...). ``order_by``
        items are ``"field [ASC|DESC]"`` strings or ``{"field_name", "ascending"}`` dicts."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        ids = [str(e) for e in experiment_ids]
        keys = _order_by(order_by)
        svc = self._lm_service()
        if svc is not None:
            return svc.search_logged_models(ids, filter_string, keys, max_results, page_token)
        body: dict[str, Any] = {"experiment_ids": ids}
        if filter_string:
            body["filter"] = filter_string
        if keys:
            body["order_by"] = [{"field_name": f, "ascending": a} for f, a in keys]
        if max_results is not None:
            body["max_results"] = max_results
        if page_token:
            body["page_token"] = page_token
        data = self._lm_http("POST", "logged-models/search", body)
        from modelyard.schemas.logged_models import logged_model_from_dict

        models = [logged_model_from_dict(m) for m in data.get("models") or ()]
        return PagedList(models, data.get("next_page_token") or None)

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput | str]) -> None:
        """Record that run ``run_id`` produced ``models`` (:class:`ModelOutput`, or model ids at
        step 0)."""
        outputs = [m if isinstance(m, ModelOutput) else ModelOutput(str(m), 0) for m in models]
        svc = self._lm_service()
        if svc is not None:
            svc.log_outputs(run_id, outputs)
            return
        body = {
            "run_id": run_id,
            "models": [{"model_id": o.model_id, "step": o.step} for o in outputs],
        }
        self._lm_http("POST", "runs/outputs", body)

    def log_model_artifacts(self, model_id: str, local_dir: str | os.PathLike[str]) -> None:
        """Upload the files under ``local_dir`` to the logged model's ``artifact_uri``."""
        from modelyard.client.artifacts import Transfer, local_tree

        model = self.get_logged_model(model_id)
        items = local_tree(os.fspath(local_dir), None)
        if not items:
            return
        store = self.artifacts.store(model.artifact_uri)
        Transfer(
            store,
            max_workers=self.artifacts.max_workers,
            backoff_s=float(self._settings.http_backoff_s),
        ).upload(items)


__all__ = ["LoggedModelsMixin"]
