"""Search filters and ``order_by``: text -> typed syntax tree. Pure Python; no SQLAlchemy here.

MLflow's grammar (``metrics.acc > 0.9 AND params.model = 'cnn'``) plus ``OR``, parentheses and
``NOT (...)``. ``modelyard.store.sql.search`` compiles the tree to SQL; see ``docs/search.md``.

>>> parse_filter("metrics.acc > 0.9 and params.model = 'cnn'", "runs")  # doctest: +NORMALIZE_WHITESPACE
And(operands=(Comparison(field=Field(type=<EntityType.METRIC: 'metric'>, key='acc'),
                         comparator=<Comparator.GT: '>'>, value=0.9),
              Comparison(field=Field(type=<EntityType.PARAM: 'param'>, key='model'),
                         comparator=<Comparator.EQ: '='>, value='cnn')))
"""

from __future__ import annotations

from modelyard.search.nodes import (
    And,
    Comparator,
    Comparison,
    EntityType,
    Expr,
    Field,
    Kind,
    Not,
    Or,
    OrderKey,
)
from modelyard.search.parser import parse_filter, parse_order_by

__all__ = [
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
    "parse_filter",
    "parse_order_by",
]
