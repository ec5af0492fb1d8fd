"""The filter and order_by parser: grammar, aliases, typed values, errors with positions, limits."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelyard.errors import InvalidInput, MalformedFilter
from modelyard.search import (
    And,
    Comparator,
    Comparison,
    EntityType,
    Field,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from modelyard.search.parser import MAX_CLAUSES, MAX_DEPTH, MAX_LENGTH, MAX_LIST_VALUES

M, P, T, A, D = (
    EntityType.METRIC,
    EntityType.PARAM,
    EntityType.TAG,
    EntityType.ATTRIBUTE,
    EntityType.DATASET,
)
C = Comparator


def cmp(etype: EntityType, key: str, op: Comparator, value: object) -> Comparison:
    return Comparison(Field(etype, key), op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", cmp(M, "acc", C.GT, 0.9)),
        ("metric.acc>=1", cmp(M, "acc", C.GE, 1.0)),
        ("metrics.`avg score` < -1.5e3", cmp(M, "avg score", C.LT, -1500.0)),
        ("metrics.loss <= .5", cmp(M, "loss", C.LE, 0.5)),
        ("metrics.loss != 1.", cmp(M, "loss", C.NE, 1.0)),
        ("metrics.loss = +3", cmp(M, "loss", C.EQ, 3.0)),
        ("metrics.loss == 3", cmp(M, "loss", C.EQ, 3.0)),
        ("metrics.loss <> 3", cmp(M, "loss", C.NE, 3.0)),
        ("metrics.val-loss > 1", cmp(M, "val-loss", C.GT, 1.0)),
        ("metrics.1st > 1", cmp(M, "1st", C.GT, 1.0)),
        ("metrics.a/b:c > 1", cmp(M, "a/b:c", C.GT, 1.0)),
        ("params.model = 'cnn'", cmp(P, "model", C.EQ, "cnn")),
        ('param.model = "cnn"', cmp(P, "model", C.EQ, "cnn")),
        ("parameter.model != 'cnn'", cmp(P, "model", C.NE, "cnn")),
        ("parameters.model LIKE 'c%'", cmp(P, "model", C.LIKE, "c%")),
        ("params.\"a b\" ILIKE 'C%'", cmp(P, "a b", C.ILIKE, "C%")),
        ("params.a.b = 'x'", cmp(P, "a.b", C.EQ, "x")),
        ("params.`a.b` = 'x'", cmp(P, "a.b", C.EQ, "x")),
        ("`params`.`a b` = 'x'", cmp(P, "a b", C.EQ, "x")),
        ("params.model IN ('a', 'b')", cmp(P, "model", C.IN, ("a", "b"))),
        ("params.x IS NULL", cmp(P, "x", C.IS_NULL, None)),
        ("tags.x is not null", cmp(T, "x", C.IS_NOT_NULL, None)),
        ("tag.'mlflow.user' = 'ann'", cmp(T, "mlflow.user", C.EQ, "ann")),
        ("tags.`mlflow.runName` = 'x'", cmp(T, "mlflow.runName", C.EQ, "x")),
        ("attributes.status = 'FINISHED'", cmp(A, "status", C.EQ, "FINISHED")),
        ("attribute.user_id ILIKE 'A%'", cmp(A, "user_id", C.ILIKE, "A%")),
        ("attr.artifact_uri LIKE '%s3%'", cmp(A, "artifact_uri", C.LIKE, "%s3%")),
        ("run.run_name = 'x'", cmp(A, "run_name", C.EQ, "x")),
        ("run_name = 'x'", cmp(A, "run_name", C.EQ, "x")),
        ("`Run name` = 'x'", cmp(A, "run_name", C.EQ, "x")),
        ("`Run Name` = 'x'", cmp(A, "run_name", C.EQ, "x")),
        ("attributes.`run name` = 'x'", cmp(A, "run_name", C.EQ, "x")),
        ("run_id IN ('a','b',)", cmp(A, "run_id", C.IN, ("a", "b"))),
        ("run_id NOT IN ('a')", cmp(A, "run_id", C.NOT_IN, ("a",))),
        ("created > 5", cmp(A, "start_time", C.GT, 5)),
        ("Created >= 1.5", cmp(A, "start_time", C.GE, 1.5)),
        ("attr.start_time < 1700000000000", cmp(A, "start_time", C.LT, 1700000000000)),
        ("end_time IS NULL", cmp(A, "end_time", C.IS_NULL, None)),
        ("lifecycle_stage = 'active'", cmp(A, "lifecycle_stage", C.EQ, "active")),
        ("datasets.name = 'mnist'", cmp(D, "name", C.EQ, "mnist")),
        ("dataset.digest IN ('d1', 'd2')", cmp(D, "digest", C.IN, ("d1", "d2"))),
        ("datasets.context LIKE 'train%'", cmp(D, "context", C.LIKE, "train%")),
        ("metrics.a > 1 AND", cmp(M, "a", C.GT, 1.0)),  # MLflow tolerates a trailing AND
        ("METRICS.a > 1", cmp(M, "a", C.GT, 1.0)),
        ("params.a like 'x'", cmp(P, "a", C.LIKE, "x")),
    ],
)
def test_runs_clauses(text, expected):
    assert parse_filter(text, "runs") == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'C:\\data\\new'", "C:\\data\\new"),  # other backslashes are kept
        ("'100%'", "100%"),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
        ("''", ""),
        ("'AND OR NOT ( ) , .'", "AND OR NOT ( ) , ."),
    ],
)
def test_string_literals(text, value):
    assert parse_filter(f"params.p = {text}", "runs") == cmp(P, "p", C.EQ, value)


def test_injection_attempts_are_plain_values():
    expr = parse_filter(
        "params.p = 'x'' OR ''1''=''1' AND tags.t = 'a; DROP TABLE runs; --'", "runs"
    )
    assert expr == And(
        (cmp(P, "p", C.EQ, "x' OR '1'='1"), cmp(T, "t", C.EQ, "a; DROP TABLE runs; --"))
    )
    with pytest.raises(MalformedFilter):
        parse_filter("params.p = 'x' OR 1=1", "runs")
    with pytest.raises(MalformedFilter):
        parse_filter("params.p = 'x'; DROP TABLE runs", "runs")
    with pytest.raises(MalformedFilter):
        parse_filter("params.p = 'x' -- comment", "runs")


def test_and_binds_tighter_than_or_and_parentheses_group():
    a, b, c = (cmp(P, k, C.EQ, "v") for k in "abc")
    assert parse_filter("params.a='v' OR params.b='v' AND params.c='v'", "runs") == Or(
        (a, And((b, c)))
    )
    assert parse_filter("(params.a='v' OR params.b='v') AND params.c='v'", "runs") == And(
        (Or((a, b)), c)
    )
    assert parse_filter("params.a='v' and (params.b='v' and params.c='v')", "runs") == And(
        (a, b, c)
    )
    assert parse_filter("((params.a = 'v'))", "runs") == a


def test_not():
    a, b = cmp(P, "a", C.EQ, "v"), cmp(P, "b", C.EQ, "v")
    assert parse_filter("NOT (params.a = 'v')", "runs") == Not(a)
    assert parse_filter("not (params.a = 'v' or params.b = 'v')", "runs") == Not(Or((a, b)))
    assert parse_filter("NOT NOT (params.a = 'v') AND params.b = 'v'", "runs") == And(
        (Not(Not(a)), b)
    )
    assert parse_filter("NOT params.a = 'v'", "runs") == Not(a)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_filter_is_no_filter(text):
    assert parse_filter(text, "runs") is None
    assert parse_filter(text, "experiments") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.a >> 1", "Invalid filter 'metrics.a >> 1': unexpected '>' at position 11"),
        ("metrics.a ! 1", "unexpected character '!' at position 10"),
        ("metrics.a 1", "unexpected '1' at position 10; expected a comparator"),
        ("metrics.a >", "unexpected end of input at position 11; expected a number"),
        ("(metrics.a > 1", "unexpected end of input at position 14; expected AND, OR or ')'"),
        ("metrics.a > 1)", "unexpected ')' at position 13; expected AND, OR or end of input"),
        ("metrics.a > 1 params.b = 'x'", "unexpected 'params.b' at position 14; expected AND, OR"),
        (
            "metrics.a > 1 AND AND params.b = 'x'",
            "unexpected 'AND' at position 18; expected an identifier",
        ),
        ("params.a = 'open", "unterminated quote ' opened at position 11"),
        ("params.`open = 'x'", "unterminated backtick ` opened at position 7"),
        ("metrics.a > 0x10", "invalid number '0x10' at position 12"),
        ("metrics.a > 1.2.3", "invalid number '1.2.3' at position 12"),
        ("metrics.a > nan", "unquoted value 'nan' at position 12"),
        (
            "run_name = x",
            "unquoted value 'x' at position 11; expected a string in single or double quotes",
        ),
        ("metrics.a = 'x'", "metric 'a' must be compared with a number, got 'x' at position 12"),
        ("params.a = 1", "param 'a' must be compared with a quoted string, got 1 at position 11"),
        ("tags.a > 'x'", "'>' is not supported for tag 'a' at position 7"),
        ("metrics.a IS NULL", "'IS NULL' is not supported for metric 'a' at position 10"),
        ("metrics.a LIKE 1", "'LIKE' is not supported for metric 'a' at position 10"),
        (
            "start_time LIKE '5'",
            "'LIKE' is not supported for attribute 'start_time' at position 11",
        ),
        ("start_time IN (1)", "'IN' is not supported for attribute 'start_time' at position 11"),
        (
            "created = '5'",
            "attribute 'start_time' must be compared with a number, got '5' at position 10",
        ),
        ("run_id IN ()", "empty list; IN needs at least one quoted string at position 10"),
        ("run_id IN ('a' 'b')", "unexpected 'b' at position 15; expected ',' or ')'"),
        (
            "run_id IN ('a', 1)",
            "unexpected '1' at position 16; expected a quoted string in the list",
        ),
        ("run_id IN 'a'", "'IN' needs a list at position 10"),
        (
            "run_id = ('a')",
            "a list is only allowed after IN or NOT IN, not after '=' at position 9",
        ),
        ("params.a IS 'x'", "unexpected 'x' at position 12; expected NULL or NOT NULL"),
        ("params.a IS NOT 'x'", "unexpected 'x' at position 16; expected NULL"),
        (
            "foo = 'x'",
            "unknown attribute 'foo' for runs at position 0; expected one of the attributes",
        ),
        ("bogus.x = 'y'", "unknown prefix 'bogus' at position 0; expected one of the prefixes"),
        (
            "datasets.foo = 'x'",
            "unknown dataset key 'foo' at position 0; expected one of the keys context",
        ),
        ("metrics. = 1", "unexpected '=' at position 9; expected a key after '.'"),
        ("metrics. `a` = 1", "unexpected `a` at position 9; expected a key after '.'"),
        ("= 1", "unexpected '=' at position 0; expected an identifier"),
        ("'run_name' = 'x'", "unexpected 'run_name' at position 0; expected an identifier"),
        ("params.a = 'x' OR", "unexpected end of input at position 17; expected an identifier"),
        ("()", "unexpected ')' at position 1; expected an identifier"),
        ("params.a = 'x\x00'", "NUL character in string at position 11"),
        ("params.a = '\ud800'", "string is not valid Unicode text at position 11"),
        ("metrics.a > 1 ; metrics.b > 2", "unexpected character ';' at position 14"),
    ],
)
def test_errors_say_where(text, message):
    with pytest.raises(MalformedFilter) as info:
        parse_filter(text, "runs")
    assert message in info.value.message
    assert info.value.message.startswith("Invalid filter '")


def test_malformed_filter_is_an_mlflow_400():
    with pytest.raises(MalformedFilter) as info:
        parse_filter("metrics.a >> 1", "runs")
    err = info.value
    assert isinstance(err, InvalidInput)
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.http_status == 400
    assert err.to_dict() == {"error_code": "INVALID_PARAMETER_VALUE", "message": err.message}
    assert err.context == {"filter": "metrics.a >> 1", "position": 11}


def test_long_filters_are_shortened_in_messages():
    text = "params.a = '" + "x" * 5000 + "' AND bogus"
    with pytest.raises(MalformedFilter) as info:
        parse_filter(text, "runs")
    assert len(info.value.message) < 600
    assert "at position 5018" in info.value.message


def test_limits():
    deep = "(" * (MAX_DEPTH + 1) + "params.a = 'x'" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(MalformedFilter, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_filter(deep, "runs")
    nots = "NOT " * (MAX_DEPTH + 1) + "params.a = 'x'"
    with pytest.raises(MalformedFilter, match="nesting deeper"):
        parse_filter(nots, "runs")
    ok = "(" * (MAX_DEPTH - 1) + "params.a = 'x'" + ")" * (MAX_DEPTH - 1)
    assert parse_filter(ok, "runs") == cmp(P, "a", C.EQ, "x")

    many = " OR ".join(f"params.a = '{i}'" for i in range(MAX_CLAUSES + 1))
    with pytest.raises(MalformedFilter, match=f"more than {MAX_CLAUSES} clauses"):
        parse_filter(many, "runs")
    enough = " OR ".join(f"params.a = '{i}'" for i in range(MAX_CLAUSES))
    assert len(parse_filter(enough, "runs").operands) == MAX_CLAUSES  # type: ignore[union-attr]

    ids = ",".join(f"'{i}'" for i in range(MAX_LIST_VALUES + 1))
    with pytest.raises(MalformedFilter, match="list values"):
        parse_filter(f"run_id IN ({ids})", "runs")
    run_ids = ", ".join(f"'{i:032x}'" for i in range(MAX_LIST_VALUES))
    assert len(parse_filter(f"run_id IN ({run_ids})", "runs").value) == MAX_LIST_VALUES  # type: ignore[union-attr]

    with pytest.raises(MalformedFilter, match=f"longer than {MAX_LENGTH} characters"):
        parse_filter("params.a = '" + "x" * MAX_LENGTH + "'", "runs")
    with pytest.raises(MalformedFilter, match="longer than"):
        parse_order_by(["params.`" + "x" * MAX_LENGTH + "`"], "runs")


def test_experiment_filters():
    assert parse_filter("name LIKE 'exp%'", "experiments") == cmp(A, "name", C.LIKE, "exp%")
    assert parse_filter("attribute.name = 'x'", "experiments") == cmp(A, "name", C.EQ, "x")
    assert parse_filter("experiment_id IN ('1', '2')", "experiments") == cmp(
        A, "experiment_id", C.IN, ("1", "2")
    )
    assert parse_filter("experiment_id = '1'", "experiments") == cmp(A, "experiment_id", C.EQ, "1")
    assert parse_filter("creation_time > 5", "experiments") == cmp(A, "creation_time", C.GT, 5)
    assert parse_filter("last_update_time <= 5", "experiments") == cmp(
        A, "last_update_time", C.LE, 5
    )
    assert parse_filter("tags.k IS NULL", "experiments") == cmp(T, "k", C.IS_NULL, None)
    assert parse_filter("tags.k ILIKE 'v%' OR name = 'a'", "experiments") == Or(
        (cmp(T, "k", C.ILIKE, "v%"), cmp(A, "name", C.EQ, "a"))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.a > 1", "cannot filter on metrics when searching experiments at position 0"),
        ("params.a = 'x'", "cannot filter on params when searching experiments"),
        ("datasets.name = 'x'", "cannot filter on datasets when searching experiments"),
        ("status = 'x'", "unknown attribute 'status' for experiments"),
        ("experiment_id = 1", "must be compared with a quoted string, got 1"),
        ("name IS NULL", "'IS NULL' is not supported for attribute 'name'"),
        ("creation_time = 'x'", "must be compared with a number"),
    ],
)
def test_experiment_filter_errors(text, message):
    with pytest.raises(MalformedFilter, match=message.replace("(", r"\(")):
        parse_filter(text, "experiments")


def test_order_by():
    assert parse_order_by(
        ["metrics.acc DESC", "params.`a b` asc", "created", "`Run name`"], "runs"
    ) == [
        OrderKey(Field(M, "acc"), ascending=False),
        OrderKey(Field(P, "a b"), ascending=True),
        OrderKey(Field(A, "start_time"), ascending=True),
        OrderKey(Field(A, "run_name"), ascending=True),
    ]
    assert parse_order_by(["tags.t", "attributes.run_id desc", "end_time"], "runs") == [
        OrderKey(Field(T, "t")),
        OrderKey(Field(A, "run_id"), ascending=False),
        OrderKey(Field(A, "end_time")),
    ]
    assert parse_order_by([], "runs") == []
    assert parse_order_by(["name", "experiment_id DESC", "tags.k"], "experiments") == [
        OrderKey(Field(A, "name")),
        OrderKey(Field(A, "experiment_id"), ascending=False),
        OrderKey(Field(T, "k")),
    ]


@pytest.mark.parametrize(
    ("items", "kind", "message"),
    [
        ([""], "runs", "Invalid order_by clause '': empty order_by item at position 0"),
        (
            ["metrics.a DESC ASC"],
            "runs",
            "unexpected 'ASC' at position 15; expected ASC, DESC or end of input",
        ),
        (["metrics.a sideways"], "runs", "unexpected 'sideways' at position 10"),
        (["foo"], "runs", "unknown attribute 'foo' for runs"),
        (["datasets.name"], "runs", "cannot order by datasets when searching runs"),
        (["metrics.a", "metric.a DESC"], "runs", "metric.a appears more than once in order_by"),
        (["created", "start_time"], "runs", "start_time appears more than once"),
        (["metrics.a"], "experiments", "cannot order by metrics when searching experiments"),
        (["status"], "experiments", "unknown attribute 'status' for experiments"),
        (["metrics.`a"], "runs", "unterminated backtick"),
    ],
)
def test_order_by_errors(items, kind, message):
    with pytest.raises(MalformedFilter, match=message.replace("(", r"\(")):
        parse_order_by(items, kind)


def test_wrong_types_are_clear_errors():
    with pytest.raises(MalformedFilter, match="expected a string, got int"):
        parse_filter(5, "runs")  # type: ignore[arg-type]
    with pytest.raises(MalformedFilter, match="expected a string, got NoneType"):
        parse_order_by([None], "runs")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown search kind"):
        parse_filter("name = 'x'", "models")  # type: ignore[arg-type]


def test_long_quoted_strings_and_escapes():
    big = "x" * 100_000
    assert parse_filter(f"params.a = '{big}'", "runs") == cmp(P, "a", C.EQ, big)
    escaped = "a''b\\'c\\\\d\\e" * 1000  # '' and \' are quotes, \\ one backslash, \e kept
    assert parse_filter(f"params.a = '{escaped}'", "runs") == cmp(
        P, "a", C.EQ, "a'b'c\\d\\e" * 1000
    )
    assert parse_filter('params.`we``ird` = "q""\\""', "runs") == cmp(P, "we`ird", C.EQ, 'q""')


def test_parser_does_not_load_sqlalchemy():
    code = (
        "import sys; from modelyard.search import parse_filter; "
        "parse_filter(\"metrics.a > 1 or params.b = 'c'\", 'runs'); "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'pandas', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
