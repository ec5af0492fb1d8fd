"""Test helpers for the SQL search tests: a small dataset, a reference evaluator in plain Python, a
renderer from syntax tree back to filter text, and a random filter generator.

The reference evaluator states the intended semantics independently of SQL, so a differential test can
compare the SQL compiled for each backend against it on many random filters.
"""

from __future__ import annotations

import math
import random
import re
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from modelyard.search import And, Comparator, Comparison, EntityType, Expr, Field, Not, Or

DBL_MAX = sys.float_info.max
NAN = float("nan")
INF = float("inf")


@dataclass
class Run:
    name: str
    experiment_id: int
    status: str
    user_id: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str = "active"
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, str, str | None]] = field(
        default_factory=list
    )  # (name, digest, context)

    @property
    def run_id(self) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.experiment_id}/{self.name}").hex

    @property
    def run_name(self) -> str:
        return self.name

    @property
    def artifact_uri(self) -> str:
        scheme = "s3://bucket" if self.user_id == "bob" else "file:///tmp"
        return f"{scheme}/{self.experiment_id}/{self.run_id}/artifacts"


@dataclass
class Experiment:
    experiment_id: int
    name: str
    creation_time: int | None
    last_update_time: int | None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)


RUNS = [
    Run(
        "alpha",
        1,
        "FINISHED",
        "ann",
        100,
        200,
        metrics={"acc": 0.9, "loss": 0.5},
        params={"model": "cnn", "lr": "0.1"},
        tags={"team": "Vision", "note": "50% off"},
        inputs=[("mnist", "d1", "training")],
    ),
    Run(
        "Beta",
        1,
        "RUNNING",
        "bob",
        200,
        None,
        metrics={"acc": 0.5, "loss": NAN},
        params={"model": "rnn"},
        tags={"team": "vision"},
        inputs=[("mnist", "d1", "eval")],
    ),
    Run(
        "gamma",
        1,
        "FAILED",
        "ann",
        300,
        400,
        metrics={"acc": INF},
        params={"model": "CNN", "lr": "0.01"},
        tags={"note": "5_ off"},
    ),
    Run("delta", 1, "FINISHED", "carl", None, None, tags={"team": "audio"}),
    Run("epsilon", 1, "KILLED", "bob", 150, 160, lifecycle_stage="deleted", metrics={"acc": 0.7}),
    Run(
        "zeta",
        1,
        "FINISHED",
        "dan",
        250,
        260,
        metrics={"acc": -1.0, "loss": 2.0},
        params={"model": "cnn"},
        inputs=[("cifar", "d2", None)],
    ),
    Run(
        "eta",
        1,
        "FINISHED",
        "ann",
        250,
        300,
        metrics={"acc": -INF, "loss": NAN},
        params={"model": "it's"},
        tags={"a b": "x y"},
        inputs=[("cifar", "d2", "training"), ("mnist", "d1", "eval")],
    ),
    Run("alpha", 2, "FINISHED", "ann", 120, 130, metrics={"acc": 0.95}, params={"model": "cnn"}),
]

EXPERIMENTS = [
    Experiment(1, "vision-exp", 10, 50, tags={"owner": "ann", "stage": "prod"}),
    Experiment(2, "Audio_exp", 20, None, tags={"owner": "bob"}),
    Experiment(3, "archived", None, 5, lifecycle_stage="deleted", tags={"owner": "ann"}),
    Experiment(4, "vision-2", 20, 60, tags={"stage": "dev"}),
]


def stored_metric(value: float) -> tuple[float, bool]:
    """How the store keeps a metric value: NaN as (0, is_nan); ±inf clamped to ±DBL_MAX."""
    if math.isnan(value):
        return 0.0, True
    return max(-DBL_MAX, min(DBL_MAX, value)), False


# -- the reference semantics ------------------------------------------------------------------------


def like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def compare(actual: Any, op: Comparator, value: Any) -> bool:
    C = Comparator
    if op is C.EQ:
        return bool(actual == value)
    if op is C.NE:
        return bool(actual != value)
    if op is C.LT:
        return bool(actual < value)
    if op is C.LE:
        return bool(actual <= value)
    if op is C.GT:
        return bool(actual > value)
    if op is C.GE:
        return bool(actual >= value)
    if op is C.LIKE:
        return like_regex(value).fullmatch(actual) is not None
    if op is C.ILIKE:
        return like_regex(value.lower()).fullmatch(actual.lower()) is not None
    if op is C.IN:
        return actual in value
    if op is C.NOT_IN:
        return actual not in value
    raise AssertionError(op)


def _key_value(mapping: dict[str, str], c: Comparison) -> bool:
    present = c.field.key in mapping
    if c.comparator is Comparator.IS_NULL:
        return not present
    if c.comparator is Comparator.IS_NOT_NULL:
        return present
    return present and compare(mapping[c.field.key], c.comparator, c.value)


def _nullable(actual: Any, c: Comparison) -> bool:
    if c.comparator is Comparator.IS_NULL:
        return actual is None
    if c.comparator is Comparator.IS_NOT_NULL:
        return actual is not None
    return actual is not None and compare(actual, c.comparator, c.value)


def run_matches(run: Run, expr: Expr) -> bool:
    if isinstance(expr, And):
        return all(run_matches(run, e) for e in expr.operands)
    if isinstance(expr, Or):
        return any(run_matches(run, e) for e in expr.operands)
    if isinstance(expr, Not):
        return not run_matches(run, expr.operand)
    c = expr
    t = c.field.type
    if t is EntityType.METRIC:
        if c.field.key not in run.metrics:
            return False
        value, is_nan = stored_metric(run.metrics[c.field.key])
        return not is_nan and compare(value, c.comparator, stored_metric(float(c.value))[0])  # type: ignore[arg-type]
    if t is EntityType.PARAM:
        return _key_value(run.params, c)
    if t is EntityType.TAG:
        return _key_value(run.tags, c)
    if t is EntityType.DATASET:
        index = {"name": 0, "digest": 1, "context": 2}[c.field.key]
        return any(
            i[index] is not None and compare(i[index], c.comparator, c.value) for i in run.inputs
        )
    return _nullable(getattr(run, c.field.key), c)


def experiment_matches(exp: Experiment, expr: Expr) -> bool:
    if isinstance(expr, And):
        return all(experiment_matches(exp, e) for e in expr.operands)
    if isinstance(expr, Or):
        return any(experiment_matches(exp, e) for e in expr.operands)
    if isinstance(expr, Not):
        return not experiment_matches(exp, expr.operand)
    c = expr
    if c.field.type is EntityType.TAG:
        return _key_value(exp.tags, c)
    actual = getattr(exp, c.field.key)
    if c.field.key == "experiment_id":
        actual = str(actual)
    return _nullable(actual, c)


# -- rendering a tree back to text ------------------------------------------------------------------

_PREFIX = {
    EntityType.METRIC: "metrics",
    EntityType.PARAM: "params",
    EntityType.TAG: "tags",
    EntityType.DATASET: "datasets",
}


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, tuple):
        return "(" + ", ".join(render_value(v) for v in value) + ")"
    if isinstance(value, float) and math.isinf(value):
        return "1e400" if value > 0 else "-1e400"
    return repr(value)


def render_field(f: Field) -> str:
    if f.type is EntityType.ATTRIBUTE:
        return f.key
    return f"{_PREFIX[f.type]}.`{f.key}`"


def render(expr: Expr) -> str:
    if isinstance(expr, And):
        return " AND ".join(f"({render(e)})" for e in expr.operands)
    if isinstance(expr, Or):
        return " OR ".join(f"({render(e)})" for e in expr.operands)
    if isinstance(expr, Not):
        return f"NOT ({render(expr.operand)})"
    text = f"{render_field(expr.field)} {expr.comparator.value}"
    if expr.value is not None:
        text += f" {render_value(expr.value)}"
    return text


# -- random filters ---------------------------------------------------------------------------------

_C = Comparator
_NUMERIC = [_C.EQ, _C.NE, _C.LT, _C.LE, _C.GT, _C.GE]
_STRING = [_C.EQ, _C.NE, _C.LIKE, _C.ILIKE, _C.IN, _C.NOT_IN]
_STRINGS = [
    "cnn",
    "CNN",
    "rnn",
    "0.1",
    "0.01",
    "it's",
    "vision",
    "Vision",
    "audio",
    "50% off",
    "5_ off",
    "x y",
    "ann",
    "bob",
    "FINISHED",
    "RUNNING",
    "alpha",
    "Beta",
    "mnist",
    "cifar",
    "d1",
    "d2",
    "training",
    "eval",
    "active",
    "deleted",
    "nope",
]
_PATTERNS = ["%", "c%", "C%", "%n", "_nn", "%ta", "50\\%%", "5\\_%", "%off", "%i%", "s3://%", "%A%"]
_NUMBERS = [-INF, -1.0, 0.0, 0.5, 0.7, 0.9, 1.0, 2.0, INF]
_TIMES = [0, 100, 150, 200, 250, 300, 400, 1.5, 10**30]


def _string_value(rnd: random.Random, op: Comparator) -> Any:
    if op in (_C.LIKE, _C.ILIKE):
        return rnd.choice(_PATTERNS + _STRINGS)
    if op in (_C.IN, _C.NOT_IN):
        return tuple(rnd.sample(_STRINGS, rnd.randint(1, 3)))
    return rnd.choice(_STRINGS)


def random_run_clause(rnd: random.Random, run_ids: list[str]) -> Comparison:
    kind = rnd.choice(["metric", "param", "tag", "attr_str", "attr_time", "dataset", "run_id"])
    if kind == "metric":
        op = rnd.choice(_NUMERIC)
        return Comparison(
            Field(EntityType.METRIC, rnd.choice(["acc", "loss", "none"])), op, rnd.choice(_NUMBERS)
        )
    if kind in ("param", "tag"):
        etype = EntityType.PARAM if kind == "param" else EntityType.TAG
        keys = ["model", "lr", "none"] if kind == "param" else ["team", "note", "a b", "none"]
        op = rnd.choice([*_STRING, _C.IS_NULL, _C.IS_NOT_NULL])
        value = None if op in (_C.IS_NULL, _C.IS_NOT_NULL) else _string_value(rnd, op)
        return Comparison(Field(etype, rnd.choice(keys)), op, value)
    if kind == "attr_str":
        key = rnd.choice(["run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"])
        op = rnd.choice(_STRING)
        return Comparison(Field(EntityType.ATTRIBUTE, key), op, _string_value(rnd, op))
    if kind == "attr_time":
        op = rnd.choice([*_NUMERIC, _C.IS_NULL, _C.IS_NOT_NULL])
        value = None if op in (_C.IS_NULL, _C.IS_NOT_NULL) else rnd.choice(_TIMES)
        return Comparison(
            Field(EntityType.ATTRIBUTE, rnd.choice(["start_time", "end_time"])), op, value
        )
    if kind == "dataset":
        op = rnd.choice(_STRING)
        return Comparison(
            Field(EntityType.DATASET, rnd.choice(["name", "digest", "context"])),
            op,
            _string_value(rnd, op),
        )
    op = rnd.choice([_C.EQ, _C.NE, _C.IN, _C.NOT_IN])
    ids = rnd.sample(run_ids, 2)
    return Comparison(
        Field(EntityType.ATTRIBUTE, "run_id"),
        op,
        tuple(ids) if op in (_C.IN, _C.NOT_IN) else ids[0],
    )


def random_expr(rnd: random.Random, leaf: Any, depth: int = 3) -> Expr:
    if depth == 0 or rnd.random() < 0.35:
        result: Expr = leaf()
        return result
    shape = rnd.choice(["and", "or", "not"])
    if shape == "not":
        return Not(random_expr(rnd, leaf, depth - 1))
    operands = tuple(random_expr(rnd, leaf, depth - 1) for _ in range(rnd.randint(2, 3)))
    return And(operands) if shape == "and" else Or(operands)
