"""Tracking entities: experiments, runs, metrics, params, tags and dataset inputs.

Times are epoch milliseconds. Run ids are 32 hex characters; experiment ids are strings of digits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(str, enum.Enum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(str, enum.Enum):
    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE.value,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED.value,)
        return (LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value)


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: tuple[ExperimentTag, ...] = ()

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}


class Metric(NamedTuple):
    """One metric point. A named tuple rather than a dataclass: histories hold 100,000s of them."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    experiment_id: str
    name: str
    digest: str
    context: str | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    metrics: tuple[Metric, ...] = ()
    params: tuple[Param, ...] = ()
    tags: tuple[RunTag, ...] = ()

    @property
    def metric_dict(self) -> dict[str, float]:
        return {m.key: m.value for m in self.metrics}

    @property
    def param_dict(self) -> dict[str, str]:
        return {p.key: p.value for p in self.params}

    @property
    def tag_dict(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)


@dataclass(frozen=True, slots=True)
class PagedList(Generic[T]):
    """One page of results and the opaque token of the next page (``None`` on the last page)."""

    items: Sequence[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


class HistoryBucket(NamedTuple):
    """One bucket of a history (a single point when ``count == 1`` and the bounds are equal).

    ``first_*`` and ``last_*`` bound the steps and timestamps in the bucket; ``low``, ``high`` and
    ``mean`` are over its finite and infinite values (NaN points are counted in ``nan_count`` only).
    """

    first_step: int
    last_step: int
    first_timestamp: int
    last_timestamp: int
    low: float | None
    high: float | None
    mean: float | None
    count: int
    nan_count: int
