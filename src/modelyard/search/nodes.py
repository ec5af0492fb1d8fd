"""The typed syntax tree of a search filter and of ``order_by`` items.

The parser produces these frozen dataclasses after resolving prefixes and aliases, so every consumer
(the SQL compiler, a future in-memory matcher) sees canonical names only: ``Field(EntityType.ATTRIBUTE,
"start_time")`` whether the user wrote ``created``, ``attr.start_time`` or ``attributes.`Created```.

::

    Expr = Comparison | And | Or | Not
    Comparison(field, comparator, value)
        value: str | int | float                     for = != < <= > >= LIKE ILIKE
               tuple[str, ...]                       for IN and NOT IN
               None                                  for IS NULL and IS NOT NULL
    OrderKey(field, ascending)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, TypeAlias

#: What is being searched. Each kind has its own identifiers (see :mod:`modelyard.search.fields`).
Kind: TypeAlias = Literal[
    "runs", "experiments", "logged_models", "registered_models", "model_versions"
]


class EntityType(str, enum.Enum):
    """What an identifier refers to: the part before the dot, after alias resolution."""

    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    DATASET = "dataset"


class Comparator(str, enum.Enum):
    """A comparison operator, spelled as in the filter (keywords upper-case)."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


#: The comparators that take no value, and those that take a parenthesised list.
NULL_COMPARATORS = frozenset({Comparator.IS_NULL, Comparator.IS_NOT_NULL})
LIST_COMPARATORS = frozenset({Comparator.IN, Comparator.NOT_IN})

Value: TypeAlias = str | int | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Field:
    """A resolved identifier: ``Field(EntityType.METRIC, "avg score")`` for ``metric.`avg score```."""

    type: EntityType
    key: str

    def __str__(self) -> str:
        return (
            f"{self.type.value}.{self.key}" if self.type is not EntityType.ATTRIBUTE else self.key
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """One clause ``<field> <comparator> <value>``, already checked against the field's rules."""

    field: Field
    comparator: Comparator
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    """All operands hold (two or more)."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds (two or more). A modelyard superset of MLflow's grammar."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not hold: the exact complement, never SQL's unknown."""

    operand: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``order_by`` item. NULLs (and NaN metrics) sort last in both directions."""

    field: Field
    ascending: bool = True


__all__ = [
    "LIST_COMPARATORS",
    "NULL_COMPARATORS",
    "And",
    "Comparator",
    "Comparison",
    "EntityType",
    "Expr",
    "Field",
    "Kind",
    "Not",
    "Or",
    "OrderKey",
    "Value",
]
