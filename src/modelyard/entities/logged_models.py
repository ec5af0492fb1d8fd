"""Logged models (MLflow 3): a model saved from a run or on its own, with its own id, params and tags.

A logged model's files live under ``<experiment artifact location>/models/<model_id>/artifacts``.
Its id is ``m-`` and 32 hex characters. It starts ``PENDING`` while the client uploads its files and
is finalized ``READY`` (or ``UPLOAD_FAILED``). Runs point at the models they produced through
:class:`ModelOutput` rows (``runs/outputs``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from modelyard.entities.tracking import LifecycleStage


class LoggedModelStatus(str, enum.Enum):
    """Wire names, in proto number order (``LOGGED_MODEL_PENDING`` = 1 ...)."""

    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True, slots=True)
class LoggedModelTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class LoggedModelParam:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_uri: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str = LoggedModelStatus.PENDING.value
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    tags: tuple[LoggedModelTag, ...] = ()
    params: tuple[LoggedModelParam, ...] = ()

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}

    @property
    def param_dict(self) -> dict[str, str]:
        return {p.key: p.value for p in self.params}


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """A run produced the model ``model_id`` at ``step``."""

    model_id: str
    step: int = 0
