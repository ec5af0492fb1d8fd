"""Logged models (MLflow 3, reference §1.8): validation and defaults over a :class:`LoggedModelStore`.

The REST server and the in-process client both call this class. A model is created ``PENDING`` in an
experiment (optionally from a run), its files are uploaded to its ``artifact_uri`` by the client, and
it is finalized ``READY`` or ``UPLOAD_FAILED``; ``runs/outputs`` links it to the run that made it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from modelyard.entities import (
    LoggedModel,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
    ModelOutput,
    PagedList,
    Param,
    RunTag,
)
from modelyard.errors import InvalidInput
from modelyard.search import OrderKey, parse_order_by
from modelyard.service import validation as v
from modelyard.service.run_names import generate_run_name
from modelyard.store.base import LoggedModelStore

MAX_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
MAX_SEARCH_RESULTS = 1000
DEFAULT_SEARCH_RESULTS = 100
MAX_PAIRS_PER_REQUEST = 100
_MODEL_ID_RE = re.compile(r"^m-[0-9a-zA-Z][\w\-]{0,61}$")
_FINAL_STATUSES = (LoggedModelStatus.READY.value, LoggedModelStatus.UPLOAD_FAILED.value)


def _validate_model_id(model_id: object) -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise InvalidInput(f"Invalid value {model_id!r} for parameter 'model_id' supplied.")
    return model_id


def order_keys(items: Sequence[tuple[str, bool]]) -> list[OrderKey]:
    """``(field_name, ascending)`` pairs of a search request as parsed order keys."""
    keys = parse_order_by([name for name, _ in items], "logged_models")
    return [OrderKey(k.field, asc) for k, (_, asc) in zip(keys, items, strict=True)]


def _limited(text: str | None, limit: int, what: str) -> str | None:
    if text is not None and len(text) > limit:
        raise InvalidInput(f"The {what} is {len(text)} characters long; the limit is {limit}.")
    return text


class LoggedModelService:
    """Logged models, validated. Holds a store; holds no other state."""

    def __init__(self, store: LoggedModelStore, *, truncate_long_values: bool = True) -> None:
        self.store = store
        self.truncate_long_values = truncate_long_values

    def _params(self, params: Sequence[LoggedModelParam]) -> list[LoggedModelParam]:
        if len(params) > MAX_PAIRS_PER_REQUEST:
            raise InvalidInput(
                f"A request may carry at most {MAX_PAIRS_PER_REQUEST} params; got {len(params)}."
            )
        out = []
        for p in params:
            checked = v.validate_param(Param(p.key, p.value), self.truncate_long_values)
            out.append(LoggedModelParam(checked.key, checked.value))
        return out

    def _tags(self, tags: Sequence[LoggedModelTag]) -> list[LoggedModelTag]:
        if len(tags) > MAX_PAIRS_PER_REQUEST:
            raise InvalidInput(
                f"A request may carry at most {MAX_PAIRS_PER_REQUEST} tags; got {len(tags)}."
            )
        out = []
        for t in tags:
            checked = v.validate_tag(RunTag(t.key, t.value), self.truncate_long_values)
            out.append(LoggedModelTag(checked.key, checked.value))
        return out

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        model_type: str | None = None,
        source_run_id: str | None = None,
        params: Sequence[LoggedModelParam] = (),
        tags: Sequence[LoggedModelTag] = (),
    ) -> LoggedModel:
        experiment_id = v.validate_experiment_id(experiment_id)
        if source_run_id:
            v.validate_run_id(source_run_id)
        if name is not None and not name.strip():
            raise InvalidInput("Invalid logged model name: it must not be blank.")
        return self.store.create_logged_model(
            experiment_id,
            _limited(name, MAX_NAME_LENGTH, "model name") or generate_run_name(),
            _limited(model_type or None, MAX_MODEL_TYPE_LENGTH, "model type"),
            source_run_id or None,
            self._params(params),
            self._tags(tags),
        )

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return self.store.get_logged_model(_validate_model_id(model_id), allow_deleted)

    def finalize_logged_model(
        self, model_id: str, status: str, status_message: str | None = None
    ) -> LoggedModel:
        if status not in _FINAL_STATUSES:
            raise InvalidInput(
                f"Invalid value {status!r} for parameter 'status' supplied: a logged model is "
                f"finalized as one of {', '.join(_FINAL_STATUSES)}."
            )
        return self.store.finalize_logged_model(
            _validate_model_id(model_id), status, status_message
        )

    def delete_logged_model(self, model_id: str) -> None:
        self.store.delete_logged_model(_validate_model_id(model_id))

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> LoggedModel:
        return self.store.set_logged_model_tags(_validate_model_id(model_id), self._tags(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(_validate_model_id(model_id), v.validate_key(key, "tag"))

    def log_logged_model_params(self, model_id: str, params: Sequence[LoggedModelParam]) -> None:
        self.store.log_logged_model_params(_validate_model_id(model_id), self._params(params))

    def log_outputs(self, run_id: str, outputs: Sequence[ModelOutput]) -> None:
        v.validate_run_id(run_id)
        if not outputs:
            raise InvalidInput("Missing value for required parameter 'models'.")
        for o in outputs:
            _validate_model_id(o.model_id)
            if o.step < 0:
                raise InvalidInput(f"Invalid value {o.step} for parameter 'models.step' supplied.")
        self.store.log_outputs(run_id, outputs)

    def get_run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[ModelOutput]]:
        return self.store.get_run_outputs(run_ids)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[tuple[str, bool]] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """``order_by`` is ``(field_name, ascending)`` pairs, as the REST request carries them."""
        if not experiment_ids:
            raise InvalidInput("Missing value for required parameter 'experiment_ids'.")
        ids = [v.validate_experiment_id(e) for e in experiment_ids]
        limit = v.validate_max_results(
            DEFAULT_SEARCH_RESULTS if max_results is None else max_results, MAX_SEARCH_RESULTS
        )
        return self.store.search_logged_models(
            ids, filter_string or None, order_keys(order_by), limit, page_token
        )
