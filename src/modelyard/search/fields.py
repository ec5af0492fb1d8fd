"""Which identifiers each kind of search knows, their aliases, comparators and value types.

The rules follow MLflow's grammar (reference §2) with a few safe extensions: ``IN``/``NOT IN`` on every
string field (MLflow allows it for ``run_id``/``experiment_id`` only), ``IS NULL``/``IS NOT NULL`` on
nullable times, ``lifecycle_stage`` as a run attribute, prefixes and attribute names matched
case-insensitively, and ordering experiments by tag. An MLflow client never sends anything these rules
reject that MLflow would accept.

Each function raises :class:`RuleError` with a message naming the offending part; the parser adds the
filter text and the position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelyard.search.nodes import (
    LIST_COMPARATORS,
    NULL_COMPARATORS,
    Comparator,
    EntityType,
    Field,
    Kind,
    Value,
)


class RuleError(Exception):
    """A clause that parses but breaks the rules of its field; the parser turns it into MalformedFilter.

    ``hint`` (what would be valid) is shown after the position.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class NumberText:
    """A number as written in the filter, converted only once the field's type is known."""

    text: str


RawValue = str | NumberText | tuple[str, ...] | None

_C = Comparator
NUMERIC = frozenset({_C.EQ, _C.NE, _C.LT, _C.LE, _C.GT, _C.GE})
STRING = frozenset({_C.EQ, _C.NE, _C.LIKE, _C.ILIKE, _C.IN, _C.NOT_IN})
KEY_VALUE = STRING | NULL_COMPARATORS  # params and tags: a key may be absent
NULLABLE_NUMERIC = NUMERIC | NULL_COMPARATORS


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    numeric: bool
    comparators: frozenset[Comparator]
    orderable: bool = True


_PREFIXES: dict[str, EntityType] = {
    "metric": EntityType.METRIC,
    "metrics": EntityType.METRIC,
    "param": EntityType.PARAM,
    "params": EntityType.PARAM,
    "parameter": EntityType.PARAM,
    "parameters": EntityType.PARAM,
    "tag": EntityType.TAG,
    "tags": EntityType.TAG,
    "attribute": EntityType.ATTRIBUTE,
    "attributes": EntityType.ATTRIBUTE,
    "attr": EntityType.ATTRIBUTE,
    "run": EntityType.ATTRIBUTE,
    "dataset": EntityType.DATASET,
    "datasets": EntityType.DATASET,
}

_RUN_ATTRIBUTES: dict[str, AttributeSpec] = {
    "run_id": AttributeSpec(False, STRING),
    "run_name": AttributeSpec(False, STRING),
    "status": AttributeSpec(False, STRING),
    "user_id": AttributeSpec(False, STRING),
    "artifact_uri": AttributeSpec(False, STRING),
    "lifecycle_stage": AttributeSpec(False, STRING),
    "start_time": AttributeSpec(True, NULLABLE_NUMERIC),
    "end_time": AttributeSpec(True, NULLABLE_NUMERIC),
}
_RUN_ALIASES = {"created": "start_time", "run name": "run_name", "run_uuid": "run_id"}

_EXPERIMENT_ATTRIBUTES: dict[str, AttributeSpec] = {
    "name": AttributeSpec(False, STRING),
    "experiment_id": AttributeSpec(False, STRING),
    "creation_time": AttributeSpec(True, NULLABLE_NUMERIC),
    "last_update_time": AttributeSpec(True, NULLABLE_NUMERIC),
}

_LOGGED_MODEL_ATTRIBUTES: dict[str, AttributeSpec] = {
    "name": AttributeSpec(False, STRING),
    "model_id": AttributeSpec(False, STRING),
    "model_type": AttributeSpec(False, STRING),
    "status": AttributeSpec(False, STRING),
    "source_run_id": AttributeSpec(False, STRING),
    "creation_timestamp": AttributeSpec(True, NUMERIC),
    "last_updated_timestamp": AttributeSpec(True, NUMERIC),
}
_LOGGED_MODEL_ALIASES = {
    "creation_time": "creation_timestamp",
    "creation_timestamp_ms": "creation_timestamp",
    "last_updated_time": "last_updated_timestamp",
    "last_updated_timestamp_ms": "last_updated_timestamp",
    "run_id": "source_run_id",
}

_REGISTERED_MODEL_ATTRIBUTES: dict[str, AttributeSpec] = {
    "name": AttributeSpec(False, STRING),
    "creation_timestamp": AttributeSpec(True, NUMERIC),
    "last_updated_timestamp": AttributeSpec(True, NUMERIC),
}
_REGISTERED_MODEL_ALIASES = {
    "timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_time": "last_updated_timestamp",
}

_MODEL_VERSION_ATTRIBUTES: dict[str, AttributeSpec] = {
    "name": AttributeSpec(False, STRING),
    "run_id": AttributeSpec(False, STRING),
    "source_path": AttributeSpec(False, STRING),
    "current_stage": AttributeSpec(False, STRING),
    "model_id": AttributeSpec(False, STRING),
    "version_number": AttributeSpec(True, NUMERIC),
    "creation_timestamp": AttributeSpec(True, NUMERIC),
    "last_updated_timestamp": AttributeSpec(True, NUMERIC),
}
_MODEL_VERSION_ALIASES = {
    "version": "version_number",
    "source": "source_path",
    "stage": "current_stage",
    "timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_time": "last_updated_timestamp",
}

_DATASET_KEYS = ("context", "digest", "name")


@dataclass(frozen=True, slots=True)
class KindRules:
    attributes: dict[str, AttributeSpec]
    aliases: dict[str, str]
    filter_types: frozenset[EntityType]
    order_types: frozenset[EntityType]


RULES: dict[str, KindRules] = {
    "runs": KindRules(
        _RUN_ATTRIBUTES,
        _RUN_ALIASES,
        frozenset(EntityType),
        frozenset({EntityType.METRIC, EntityType.PARAM, EntityType.TAG, EntityType.ATTRIBUTE}),
    ),
    "experiments": KindRules(
        _EXPERIMENT_ATTRIBUTES,
        {},
        frozenset({EntityType.TAG, EntityType.ATTRIBUTE}),
        frozenset({EntityType.TAG, EntityType.ATTRIBUTE}),
    ),
    # Logged models keep no metrics of their own yet, so metrics.* is refused with a clear message.
    "logged_models": KindRules(
        _LOGGED_MODEL_ATTRIBUTES,
        _LOGGED_MODEL_ALIASES,
        frozenset({EntityType.PARAM, EntityType.TAG, EntityType.ATTRIBUTE}),
        frozenset({EntityType.PARAM, EntityType.TAG, EntityType.ATTRIBUTE}),
    ),
    # The registry: tags filter (``!=`` also matches a model without the tag, as the 3.x client's
    # ``tags.`mlflow.prompt.is_prompt` != 'true'`` needs); ordering by attributes only.
    "registered_models": KindRules(
        _REGISTERED_MODEL_ATTRIBUTES,
        _REGISTERED_MODEL_ALIASES,
        frozenset({EntityType.TAG, EntityType.ATTRIBUTE}),
        frozenset({EntityType.ATTRIBUTE}),
    ),
    "model_versions": KindRules(
        _MODEL_VERSION_ATTRIBUTES,
        _MODEL_VERSION_ALIASES,
        frozenset({EntityType.TAG, EntityType.ATTRIBUTE}),
        frozenset({EntityType.ATTRIBUTE}),
    ),
}


def rules_for(kind: str) -> KindRules:
    try:
        return RULES[kind]
    except KeyError:
        raise ValueError(f"unknown search kind {kind!r}; expected one of {sorted(RULES)}") from None


def resolve(kind: Kind, prefix: str | None, key: str, *, for_order: bool = False) -> Field:
    """The canonical field for ``prefix.key`` (``prefix`` None: an attribute)."""
    rules = rules_for(kind)
    if prefix is None:
        etype = EntityType.ATTRIBUTE
    else:
        etype_or_none = _PREFIXES.get(prefix.lower())
        if etype_or_none is None:
            valid = ", ".join(sorted(p for p, t in _PREFIXES.items() if t in rules.filter_types))
            raise RuleError(f"unknown prefix '{prefix}'", f"one of the prefixes {valid}")
        etype = etype_or_none
    allowed = rules.order_types if for_order else rules.filter_types
    if etype not in allowed:
        what = "order by" if for_order else "filter on"
        raise RuleError(f"cannot {what} {etype.value}s when searching {kind}")
    if not key:
        raise RuleError(f"empty {etype.value} key")
    if etype is EntityType.ATTRIBUTE:
        name = key.lower()
        name = rules.aliases.get(name, name)
        if name not in rules.attributes:
            valid = ", ".join(sorted([*rules.attributes, *rules.aliases]))
            raise RuleError(
                f"unknown attribute '{key}' for {kind}", f"one of the attributes {valid}"
            )
        return Field(etype, name)
    if etype is EntityType.DATASET and key not in _DATASET_KEYS:
        raise RuleError(
            f"unknown dataset key '{key}'", f"one of the keys {', '.join(_DATASET_KEYS)}"
        )
    return Field(etype, key)


def comparators_for(kind: Kind, field: Field) -> frozenset[Comparator]:
    if field.type is EntityType.METRIC:
        return NUMERIC
    if field.type in (EntityType.PARAM, EntityType.TAG):
        return KEY_VALUE
    if field.type is EntityType.DATASET:
        return STRING
    return rules_for(kind).attributes[field.key].comparators


def is_numeric(kind: Kind, field: Field) -> bool:
    if field.type is EntityType.METRIC:
        return True
    if field.type is EntityType.ATTRIBUTE:
        return rules_for(kind).attributes[field.key].numeric
    return False


def check_comparator(kind: Kind, field: Field, comparator: Comparator) -> None:
    allowed = comparators_for(kind, field)
    if comparator not in allowed:
        order = list(Comparator)
        names = " ".join(c.value for c in sorted(allowed, key=order.index))
        raise RuleError(
            f"'{comparator.value}' is not supported for {_describe(field)}", f"one of {names}"
        )


def convert_value(kind: Kind, field: Field, comparator: Comparator, raw: RawValue) -> Value:
    """Check the value written after ``comparator`` and convert it to the field's type."""
    if comparator in NULL_COMPARATORS:
        return None
    if comparator in LIST_COMPARATORS:
        if not isinstance(raw, tuple):
            raise RuleError(
                f"'{comparator.value}' needs a list",
                "a parenthesised list of quoted strings like ('a', 'b')",
            )
        return raw
    if isinstance(raw, tuple):
        raise RuleError(
            f"a list is only allowed after IN or NOT IN, not after '{comparator.value}'"
        )
    if is_numeric(kind, field):
        if not isinstance(raw, NumberText):
            raise RuleError(
                f"{_describe(field)} must be compared with a number, got '{raw}'", "a number"
            )
        return to_number(raw.text, integral=field.type is EntityType.ATTRIBUTE)
    if isinstance(raw, NumberText):
        raise RuleError(
            f"{_describe(field)} must be compared with a quoted string, got {raw.text}",
            f"a quoted string like '{raw.text}'",
        )
    assert isinstance(raw, str)
    return raw


def to_number(text: str, *, integral: bool) -> int | float:
    """``text`` as a number: an int for integral times when exact, else a finite-or-infinite float."""
    if integral:
        try:
            return int(text)
        except ValueError:
            pass
    value = float(text)
    if math.isnan(value):  # pragma: no cover - the tokenizer never produces 'nan'
        raise RuleError("NaN is not a valid comparison value")
    return value


def _describe(field: Field) -> str:
    if field.type is EntityType.ATTRIBUTE:
        return f"attribute '{field.key}'"
    return f"{field.type.value} '{field.key}'"
