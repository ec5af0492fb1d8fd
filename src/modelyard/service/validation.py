"""Checks and limits for tracking data (reference §1.3), raising :class:`InvalidInput`.

These run in the service layer, so the same rules hold in-process and behind the server.
"""

from __future__ import annotations

import math
import posixpath
import re
import warnings
from collections.abc import Sequence

from modelyard.entities import Metric, Param, RunTag
from modelyard.errors import InvalidInput
from modelyard.store.artifacts.paths import fully_unquote
from modelyard.store.artifacts.paths import validate_artifact_location as _check_location

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_RUN_NAME_LENGTH = 250
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_DATASET_SOURCE_LENGTH = 65535
MAX_DATASET_SCHEMA_LENGTH = 1 << 20
MAX_DATASET_PROFILE_LENGTH = 16 << 20
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500
MAX_RUNS_SEARCH_RESULTS = 50000
MAX_EXPERIMENTS_SEARCH_RESULTS = 50000
MAX_BULK_HISTORY_RUNS = 100
MAX_BULK_INTERVAL_RESULTS = 2500
DBL_MAX = 1.7976931348623157e308

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")


def validate_key(key: object, what: str = "key") -> str:
    """A metric, param or tag key: ≤250 characters of ``[/\\w.\\- :]`` that normpath leaves alone."""
    if not isinstance(key, str) or key == "":
        raise InvalidInput(
            f"Invalid value {key!r} for parameter '{what}' supplied: a non-empty string is required."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"'{key[:40]}...' exceeds the maximum length of {MAX_KEY_LENGTH} characters for a {what}."
        )
    if not _KEY_RE.match(key):
        raise InvalidInput(
            f"Invalid {what} name: '{key}'. Names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith(("..", "/")):
        raise InvalidInput(
            f"Invalid {what} name: '{key}'. Names may be treated as files in certain cases, and must "
            "not resolve to other names when treated as such (no '..', leading '/' or '.' segments)."
        )
    return key


def validate_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidInput(f"Invalid value {run_id!r} for parameter 'run_id' supplied.")
    return run_id


def validate_experiment_id(experiment_id: object) -> str:
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.match(experiment_id):
        raise InvalidInput(
            f"Invalid value {experiment_id!r} for parameter 'experiment_id' supplied."
        )
    return experiment_id


def validate_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("Invalid experiment name: a non-empty string is required.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidInput(
            f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters."
        )
    return name


def validate_artifact_location(location: object) -> str | None:
    """An experiment's ``artifact_location``: None or "" for the default, else a safe location.

    Refused (reference §9): ``runs:``/``models:`` and unknown schemes, a query or fragment, ``..``
    segments, control characters, HTTP locations on private, loopback or link-local hosts, a
    network path without a scheme (``//proc/self/root``) and ``file:`` URIs that name a host. The
    checks run on the repeatedly URL-decoded text.
    """
    if location is None or location == "":
        return None
    if not isinstance(location, str):
        raise InvalidInput("Invalid value for parameter 'artifact_location': a string is required.")
    if location.startswith("runs:"):
        raise InvalidInput(
            "Invalid artifact location: 'runs:' URIs cannot be used as an experiment's "
            "artifact location."
        )
    _check_location(location)
    decoded = fully_unquote(location).replace("\\", "/")
    if decoded.startswith("//"):
        raise InvalidInput("Invalid artifact location: a path must not start with '//'.")
    lowered = decoded.lower()
    if lowered.startswith("file:"):
        rest = decoded[5:]
        if rest.startswith("//") and not rest[2:].lower().startswith(("/", "localhost/")):
            raise InvalidInput("Invalid artifact location: file: URIs must not name a host.")
        if rest.startswith("//") and rest[2:].startswith("//"):
            raise InvalidInput("Invalid artifact location: a path must not start with '//'.")
    return location


def _limit_value(value: str, limit: int, what: str, key: str, truncate: bool) -> str:
    if len(value) <= limit:
        return value
    if truncate:
        warnings.warn(
            f"The value of {what} '{key}' is {len(value)} characters long; it was truncated to "
            f"{limit} characters.",
            stacklevel=4,
        )
        return value[:limit]
    raise InvalidInput(
        f"{what.capitalize()} '{key}' has a value of length {len(value)}, which exceeds the "
        f"maximum of {limit} characters."
    )


def validate_param(param: Param, truncate: bool) -> Param:
    validate_key(param.key, "param")
    value = param.value
    if not isinstance(value, str):
        value = str(value)
    value = _limit_value(value, MAX_PARAM_VALUE_LENGTH, "param", param.key, truncate)
    return param if value is param.value else Param(param.key, value)


def validate_tag(tag: RunTag, truncate: bool) -> RunTag:
    validate_key(tag.key, "tag")
    value = tag.value
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    value = _limit_value(value, MAX_TAG_VALUE_LENGTH, "tag", tag.key, truncate)
    return tag if value is tag.value else RunTag(tag.key, value)


def validate_metric(metric: Metric) -> Metric:
    validate_key(metric.key, "metric")
    value = metric.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(
            f"Got invalid value {value!r} for metric '{metric.key}' (timestamp={metric.timestamp}). "
            "Please specify value as a valid double (64-bit floating point)"
        )
    timestamp = metric.timestamp
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise InvalidInput(
            f"Got invalid timestamp {timestamp!r} for metric '{metric.key}' (value={value}). "
            "Timestamp must be a non-negative long (64-bit integer)"
        )
    step = metric.step
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInput(
            f"Got invalid step {step!r} for metric '{metric.key}' (value={value}). "
            "Step must be a valid long (64-bit integer)."
        )
    return metric


def validate_batch_limits(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> None:
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
            f"Got {len(metrics)} metrics. Please split up metrics across multiple requests and try again."
        )
    if len(params) > MAX_PARAMS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_PARAMS_PER_BATCH} params. "
            f"Got {len(params)} params. Please split up params across multiple requests and try again."
        )
    if len(tags) > MAX_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_TAGS_PER_BATCH} tags. "
            f"Got {len(tags)} tags. Please split up tags across multiple requests and try again."
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params "
            f"and tags in total. Got {total}."
        )
    seen: dict[str, str] = {}
    for p in params:
        if p.key in seen and seen[p.key] != p.value:
            raise InvalidInput(
                f"Duplicate parameter keys have been submitted: '{p.key}'. Please ensure the request "
                "contains only one param value per param key."
            )
        seen[p.key] = p.value


def validate_max_results(value: object, limit: int, what: str = "max_results") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > limit:
        raise InvalidInput(
            f"Invalid value {value!r} for parameter '{what}' supplied. It must be an integer "
            f"between 1 and {limit}."
        )
    return value


def clamp_metric_value(value: float) -> float:
    """What the store keeps for ``value``: ±inf becomes ±DBL_MAX (NaN is flagged separately)."""
    if math.isinf(value):
        return DBL_MAX if value > 0 else -DBL_MAX
    return float(value)
