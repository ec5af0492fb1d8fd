"""Bad input over every endpoint: always a 4xx with an MLflow error_code, never a 500 or a leak.

Missing and mistyped fields are generated from each endpoint's own field table, so a new endpoint is
covered as soon as it has a valid example request below. After every bad request the data stored
before it must still be there. The identity endpoints (:data:`AUTH_TABLES`) exist only with
``--auth``: they are sent, as the admin, to a server run with it (:class:`AuthSeeded`).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from typing import Any

import pytest

from modelyard.schemas import fields as F
from modelyard.server.routes import AUTH_TABLES, TRACKING_TABLES
from modelyard.server.rpc import Rpc

RUN = "<run>"
EXP = "<exp>"
MODEL = "<model>"
ROLE, GRANT, TOKEN = "<role>", "<grant>", "<token>"
_ALL = [rpc for table in (*TRACKING_TABLES, *AUTH_TABLES) for rpc in table]
#: The paths of the identity endpoints, sent to the ``--auth`` server.
AUTH_PATHS = {rpc.path for table in AUTH_TABLES for rpc in table}
_PATHS = Counter(rpc.path for rpc in _ALL)
#: Each endpoint by its path, or "METHOD path" where one path answers several methods.
RPCS: dict[str, Rpc] = {
    (rpc.path if _PATHS[rpc.path] == 1 else f"{rpc.methods[0]} {rpc.path}"): rpc for rpc in _ALL
}
_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def path_params(rpc: Rpc) -> set[str]:
    """Fields that travel in the URL (``logged-models/{model_id}``): always present, always text."""
    return set(_PATH_PARAM.findall(rpc.path))


#: A valid request for every endpoint (placeholders are replaced by the seeded ids).
VALID: dict[str, dict[str, Any]] = {
    "experiments/create": {
        "name": "fresh",
        "artifact_location": "/tmp/x",
        "tags": [{"key": "k", "value": "v"}],
    },
    "experiments/search": {
        "max_results": 10,
        "page_token": "",
        "filter": "name = 'seeded'",
        "order_by": ["name"],
        "view_type": "ALL",
    },
    "experiments/get": {"experiment_id": EXP},
    "experiments/get-by-name": {"experiment_name": "seeded"},
    "experiments/delete": {"experiment_id": EXP},
    "experiments/restore": {"experiment_id": EXP},
    "experiments/update": {"experiment_id": EXP, "new_name": "seeded"},
    "experiments/set-experiment-tag": {"experiment_id": EXP, "key": "k", "value": "v"},
    "experiments/delete-experiment-tag": {"experiment_id": EXP, "key": "k"},
    "experiments/search-datasets": {"experiment_ids": [EXP]},
    "runs/create": {
        "experiment_id": EXP,
        "user_id": "u",
        "run_name": "n",
        "start_time": 1,
        "tags": [{"key": "k", "value": "v"}],
    },
    "runs/update": {"run_id": RUN, "status": "RUNNING", "end_time": 2, "run_name": "seeded-run"},
    "runs/delete": {"run_id": RUN},
    "runs/restore": {"run_id": RUN},
    "runs/get": {"run_id": RUN},
    "runs/search": {
        "experiment_ids": [EXP],
        "filter": "",
        "run_view_type": "ALL",
        "max_results": 5,
        "order_by": ["start_time"],
        "page_token": "",
    },
    "runs/log-metric": {
        "run_id": RUN,
        "key": "m",
        "value": 1.0,
        "timestamp": 1,
        "step": 0,
        "model_id": "m-1",
        "dataset_name": "d",
        "dataset_digest": "x",
    },
    "runs/log-parameter": {"run_id": RUN, "key": "seeded_param", "value": "1"},
    "runs/set-tag": {"run_id": RUN, "key": "k", "value": "v"},
    "runs/delete-tag": {"run_id": RUN, "key": "k"},
    "runs/log-batch": {
        "run_id": RUN,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "params": [{"key": "seeded_param", "value": "1"}],
        "tags": [{"key": "k", "value": "v"}],
    },
    "runs/log-inputs": {
        "run_id": RUN,
        "datasets": [
            {
                "tags": [],
                "dataset": {"name": "d", "digest": "x", "source_type": "local", "source": "s"},
            }
        ],
    },
    "metrics/get-history": {"run_id": RUN, "metric_key": "m", "page_token": "", "max_results": 10},
    "metrics/get-history-bulk-interval": {
        "run_ids": [RUN],
        "metric_key": "m",
        "start_step": 0,
        "end_step": 5,
        "max_results": 10,
    },
    "metrics/get-history-bulk": {"run_id": [RUN], "metric_key": "m", "max_results": 10},
    "logged-models": {
        "experiment_id": EXP,
        "name": "n",
        "model_type": "t",
        "source_run_id": RUN,
        "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "k", "value": "v"}],
    },
    "logged-models/search": {
        "experiment_ids": [EXP],
        "filter": "name = 'seeded-model'",
        "datasets": [{"dataset_name": "d", "dataset_digest": "x"}],
        "max_results": 5,
        "order_by": [{"field_name": "name", "ascending": True}],
        "page_token": "",
    },
    "GET logged-models/{model_id}": {"model_id": MODEL, "allow_deleted": False},
    "PATCH logged-models/{model_id}": {"model_id": MODEL, "status": "LOGGED_MODEL_READY"},
    "DELETE logged-models/{model_id}": {"model_id": MODEL},
    "logged-models/{model_id}/tags": {"model_id": MODEL, "tags": [{"key": "k", "value": "v"}]},
    "logged-models/{model_id}/tags/{tag_key:path}": {"model_id": MODEL, "tag_key": "seeded"},
    "logged-models/{model_id}/params": {"model_id": MODEL, "params": [{"key": "p", "value": "1"}]},
    "runs/outputs": {"run_id": RUN, "models": [{"model_id": MODEL, "step": 0}]},
    # identity (seeded by AuthSeeded: seed-user has grants and is in seed-group, seed-other has none)
    "users/create": {"username": "fresh-user", "password": "fresh-pass-1", "is_admin": False},
    "users/get": {"username": "seed-user"},
    "users/list": {},
    "users/current": {},
    "users/update-password": {
        "username": "seed-user",
        "password": "new-pass-12",
        "current_password": "unused-for-an-admin",
    },
    "users/update-admin": {"username": "seed-user", "is_admin": True},
    "users/delete": {"username": "seed-user"},
    "experiments/permissions/create": {
        "experiment_id": EXP,
        "username": "seed-other",
        "permission": "READ",
    },
    "experiments/permissions/get": {"experiment_id": EXP, "username": "seed-user"},
    "experiments/permissions/update": {
        "experiment_id": EXP,
        "username": "seed-user",
        "permission": "EDIT",
    },
    "experiments/permissions/delete": {"experiment_id": EXP, "username": "seed-user"},
    "registered-models/permissions/create": {
        "name": "seed-model",
        "username": "seed-other",
        "permission": "READ",
    },
    "registered-models/permissions/get": {"name": "seed-model", "username": "seed-user"},
    "registered-models/permissions/update": {
        "name": "seed-model",
        "username": "seed-user",
        "permission": "MANAGE",
    },
    "registered-models/permissions/delete": {"name": "seed-model", "username": "seed-user"},
    "users/permissions/grant": {
        "username": "seed-other",
        "resource_type": "experiment",
        "resource_id": EXP,
        "permission": "USE",
    },
    "users/permissions/revoke": {
        "username": "seed-user",
        "resource_type": "experiment",
        "resource_id": EXP,
    },
    "users/permissions/get": {
        "username": "seed-user",
        "resource_type": "experiment",
        "resource_id": EXP,
    },
    "users/current/permissions": {},
    "users/permissions/list": {"username": "seed-user"},
    "roles/create": {"workspace": "default", "name": "fresh-role", "description": "d"},
    "roles/get": {"role_id": ROLE},
    "roles/list": {"workspace": "default"},
    "roles/update": {"role_id": ROLE, "name": "renamed-role", "description": "x"},
    "roles/delete": {"role_id": ROLE},
    "roles/permissions/add": {
        "role_id": ROLE,
        "resource_type": "registered_model",
        "resource_pattern": "seed-model",
        "permission": "READ",
    },
    "roles/permissions/remove": {"role_permission_id": GRANT},
    "roles/permissions/list": {"role_id": ROLE},
    "roles/permissions/update": {"role_permission_id": GRANT, "permission": "MANAGE"},
    "roles/assign": {"username": "seed-other", "role_id": ROLE},
    "roles/unassign": {"username": "seed-user", "role_id": ROLE},
    "users/roles/list": {"username": "seed-user"},
    "roles/users/list": {"role_id": ROLE},
    "access-tokens/create": {"name": "ci", "expires_in_days": 30.0, "username": "seed-user"},
    "access-tokens/list": {"username": "seed-user"},
    "access-tokens/revoke": {"token_id": TOKEN},
    "groups/create": {"name": "fresh-group", "description": "d"},
    "groups/get": {"name": "seed-group"},
    "groups/list": {},
    "groups/delete": {"name": "seed-group"},
    "groups/members/add": {"name": "seed-group", "username": "seed-other"},
    "groups/members/remove": {"name": "seed-group", "username": "seed-user"},
    "groups/permissions/grant": {
        "name": "seed-group",
        "resource_type": "registered_model",
        "resource_id": "seed-model",
        "permission": "EDIT",
    },
    "groups/permissions/revoke": {
        "name": "seed-group",
        "resource_type": "experiment",
        "resource_id": EXP,
    },
    "resource-permissions/list": {"resource_type": "experiment", "resource_id": EXP},
    "audit-events/list": {"max_results": 10, "page_token": "", "event": ["login"], "actor": "x"},
}

#: A value of the wrong type for each kind of field, as JSON.
WRONG_JSON = {
    F.STRING: 31,
    F.ID: {"id": 1},
    F.INT64: "abc",
    F.INT32: 1.5,
    F.DOUBLE: True,
    F.ENUM: "BOGUS",
    F.BOOL: "yes",
}
#: ... and as a query string (strings cannot be mistyped there).
WRONG_QUERY = {F.INT64: "abc", F.INT32: "1.5", F.DOUBLE: "x", F.ENUM: "BOGUS", F.BOOL: "yes"}
LEAKS = ("Traceback", "sqlalchemy", "SQLAlchemy", "SELECT", "INSERT", 'File "', ".py")


class Seeded:
    def __init__(self, api) -> None:
        self.api = api
        self.exp = api.experiment("seeded", tags=[{"key": "keep", "value": "me"}])
        self.run = api.run(self.exp, run_name="seeded-run")
        api.ok_post(
            "runs/log-batch",
            {
                "run_id": self.run,
                "metrics": [{"key": "acc", "value": 0.9, "timestamp": 5, "step": 1}],
                "params": [{"key": "seeded_param", "value": "1"}],
                "tags": [{"key": "seeded_tag", "value": "yes"}],
            },
        )
        self.model = api.ok_post(
            "logged-models",
            {"experiment_id": self.exp, "name": "seeded-model", "tags": [{"key": "seeded"}]},
        )["model"]["info"]["model_id"]
        self.placeholders: dict[str, Any] = {}

    def fill(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.placeholders:
            return self.placeholders[value]
        if value == RUN:
            return self.run
        if value == EXP:
            return self.exp
        if value == MODEL:
            return self.model
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def send(self, rpc: Rpc, request: dict[str, Any], prefix: str = "/api/2.0/mlflow"):
        request = dict(request)
        path = _PATH_PARAM.sub(lambda m: str(request.pop(m.group(1))), rpc.path)
        if rpc.version != "2.0":
            prefix = f"/api/{rpc.version}/mlflow"
        url = f"{'/ajax-api/2.0/mlflow' if rpc.ajax_only else prefix}/{path}"
        method = rpc.methods[0]
        if method == "GET":
            return self.api.client.get(url, params=request)
        return self.api.client.request(method, url, json=request)

    def assert_intact(self) -> None:
        run = self.api.ok_get("runs/get", {"run_id": self.run})["run"]
        assert run["info"]["lifecycle_stage"] == "active"
        assert run["info"]["run_name"] == "seeded-run"
        assert {"key": "acc", "value": 0.9, "timestamp": 5, "step": 1} in [
            {k: m[k] for k in ("key", "value", "timestamp", "step")} for m in run["data"]["metrics"]
        ]
        assert {"key": "seeded_param", "value": "1"} in run["data"]["params"]
        assert {"key": "seeded_tag", "value": "yes"} in run["data"]["tags"]
        experiment = self.api.ok_get("experiments/get", {"experiment_id": self.exp})["experiment"]
        assert experiment["name"] == "seeded"
        assert experiment["lifecycle_stage"] == "active"
        assert {"key": "keep", "value": "me"} in experiment["tags"]
        runs = self.api.ok_post(
            "runs/search", {"experiment_ids": [self.exp], "run_view_type": "ALL"}
        )
        assert [r["info"]["run_id"] for r in runs["runs"]] == [self.run]
        model = self.api.ok_get(f"logged-models/{self.model}")["model"]["info"]
        assert model["name"] == "seeded-model" and model["status"] == "LOGGED_MODEL_PENDING"
        assert model["tags"] == [{"key": "seeded", "value": ""}]


class AuthSeeded(Seeded):
    """:class:`Seeded` on a ``--auth`` server, as its admin, with users, a group (role), grants, a
    registered model and a token to name in the identity endpoints' examples."""

    def __init__(self, api) -> None:
        from modelyard.entities.auth import Permission, ResourceType
        from modelyard.service.auth import OPERATOR

        super().__init__(api)
        auth = api.client.app.state.auth
        exp, model = ResourceType.EXPERIMENT, ResourceType.REGISTERED_MODEL
        api.ok_post("registered-models/create", {"name": "seed-model"})
        for name in ("seed-user", "seed-other"):
            auth.create_user(OPERATOR, name, "seed-password")
        group = auth.create_group(OPERATOR, "seed-group")
        auth.add_member(OPERATOR, "seed-group", "seed-user")
        grant = auth.set_permission(OPERATOR, exp, self.exp, Permission.READ, group="seed-group")
        for resource_type, resource_id in ((exp, self.exp), (model, "seed-model")):
            auth.set_permission(
                OPERATOR, resource_type, resource_id, Permission.READ, username="seed-user"
            )
        _, token = auth.create_token(OPERATOR, "seeded", username="seed-user")
        self.placeholders = {ROLE: group.id, GRANT: grant.id, TOKEN: token.id}

    def assert_intact(self) -> None:
        super().assert_intact()
        user = self.api.ok_get("users/get", {"username": "seed-user"})["user"]
        assert user["groups"] == ["seed-group"]
        assert [p["permission"] for p in user["experiment_permissions"]] == ["READ"]


@pytest.fixture(scope="module")
def auth_seeded(module_api, tmp_path_factory) -> AuthSeeded:
    with _auth_api(type(module_api), tmp_path_factory.mktemp("auth-bad-input")) as api:
        yield AuthSeeded(api)


@pytest.fixture
def auth_fresh(module_api, tmp_path) -> AuthSeeded:
    with _auth_api(type(module_api), tmp_path) as api:
        yield AuthSeeded(api)


@contextlib.contextmanager
def _auth_api(api_class, root):
    """``api_class`` (the server conftest's ``Api``, taken from a fixture: a ``conftest`` import
    would find another directory's) over a ``--auth`` app, as its admin."""
    from starlette.testclient import TestClient

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        default_artifact_root=str(root / "artifacts"),
        artifacts_destination=str(root / "mlartifacts"),
        auth=True,
        auth_admin_password="bad-input-admin",
    )
    with TestClient(create_app(settings)) as client:
        client.auth = ("admin", "bad-input-admin")
        yield api_class(client)


def _seeded_for(request, path: str, fixture: str) -> Seeded:
    """The tracking fixture, or its ``--auth`` twin for an identity endpoint."""
    return request.getfixturevalue(f"auth_{fixture}" if path in AUTH_PATHS else fixture)


def assert_refused(response, status: int | None = None, code: str | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] and body["message"]
    if code is not None:
        assert body["error_code"] == code, body
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)
    return body


@pytest.fixture(scope="module")
def seeded(module_api) -> Seeded:
    """One seeded app for the whole module: every bad request must leave it as it was."""
    return Seeded(module_api)


@pytest.fixture
def fresh(api) -> Seeded:
    """A seeded app of its own, for valid requests (they change things)."""
    return Seeded(api)


def test_every_endpoint_has_a_valid_example():
    assert set(VALID) == set(RPCS)


@pytest.mark.parametrize("path", sorted(VALID))
def test_the_valid_example_is_accepted(request, path):
    fresh = _seeded_for(request, path, "fresh")
    rpc = RPCS[path]
    # what a few examples need to be true first
    if path == "experiments/delete-experiment-tag":
        fresh.api.ok_post(
            "experiments/set-experiment-tag",
            {"experiment_id": fresh.exp, "key": "k", "value": "v"},
        )
    if path == "runs/delete-tag":
        fresh.api.ok_post("runs/set-tag", {"run_id": fresh.run, "key": "k", "value": "v"})
    if path == "experiments/restore":
        fresh.api.ok_post("experiments/delete", {"experiment_id": fresh.exp})
    response = fresh.send(rpc, fresh.fill(VALID[path]))
    assert response.status_code == 200, response.text


def _missing_cases() -> list[tuple[str, str]]:
    return [
        (path, f.name)
        for path, rpc in sorted(RPCS.items())
        for f in rpc.request.fields
        if f.required and f.name not in path_params(rpc)
    ]


def _mistyped_cases() -> list[tuple[str, str]]:
    cases = []
    for path, rpc in sorted(RPCS.items()):
        wrong = WRONG_QUERY if rpc.methods[0] == "GET" else WRONG_JSON
        for f in rpc.request.fields:
            if f.name in path_params(rpc):
                continue
            if f.kind in wrong or (f.kind == F.MESSAGE and rpc.methods[0] != "GET"):
                cases.append((path, f.name))
    return cases


@pytest.mark.parametrize(("path", "field"), _missing_cases())
def test_missing_required_field(request, path, field):
    seeded = _seeded_for(request, path, "seeded")
    request = seeded.fill(VALID[path])
    request.pop(field)
    body = assert_refused(seeded.send(RPCS[path], request), 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == f"Missing value for required parameter '{field}'."
    seeded.assert_intact()


@pytest.mark.parametrize(("path", "field"), _mistyped_cases())
def test_mistyped_field(request, path, field):
    seeded = _seeded_for(request, path, "seeded")
    rpc = RPCS[path]
    spec = next(f for f in rpc.request.fields if f.name == field)
    request = seeded.fill(VALID[path])
    if spec.kind == F.MESSAGE:
        request[field] = 5 if spec.repeated else "not-an-object"
    else:
        wrong = (WRONG_QUERY if rpc.methods[0] == "GET" else WRONG_JSON)[spec.kind]
        request[field] = [wrong] if spec.repeated else wrong
    body = assert_refused(seeded.send(rpc, request), 400, "INVALID_PARAMETER_VALUE")
    assert body["message"].startswith("Invalid value ")
    assert f"for parameter '{field}" in body["message"]
    seeded.assert_intact()


def test_mistyped_message_text_matches_mlflow(seeded):
    response = seeded.api.post("runs/get-not-a-route", {})
    assert_refused(response, 404, "ENDPOINT_NOT_FOUND")
    response = seeded.api.post("runs/delete", {"run_id": 31})
    body = assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Invalid value 31 for parameter 'run_id' supplied."


def test_nested_mistyped_field_names_its_position(seeded):
    metrics = [{"key": "m", "value": 1, "timestamp": 1}] * 3 + [
        {"key": "m", "value": "high", "timestamp": 1}
    ]
    response = seeded.api.post("runs/log-batch", {"run_id": seeded.run, "metrics": metrics})
    body = assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Invalid value 'high' for parameter 'metrics[3].value' supplied."
    response = seeded.api.post("runs/log-batch", {"run_id": seeded.run, "params": [{"value": "v"}]})
    body = assert_refused(response, 400)
    assert body["message"] == "Missing value for required parameter 'params[0].key'."
    seeded.assert_intact()


# ---------------------------------------------------------------------------------------- batches
def _metrics(n: int) -> list[dict[str, Any]]:
    return [{"key": f"m{i % 7}", "value": i, "timestamp": i, "step": i} for i in range(n)]


@pytest.mark.parametrize(
    ("what", "batch"),
    [
        ("metrics", {"metrics": _metrics(1001)}),
        ("params", {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}),
        ("tags", {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}),
        ("total", {"metrics": _metrics(1000), "tags": [{"key": "t", "value": "v"}]}),
        ("duplicate", {"params": [{"key": "same", "value": "1"}, {"key": "same", "value": "2"}]}),
    ],
)
def test_oversized_or_inconsistent_batches_are_refused_whole(seeded, what, batch):
    response = seeded.api.post("runs/log-batch", {"run_id": seeded.run, **batch})
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    history = seeded.api.ok_get("metrics/get-history", {"run_id": seeded.run, "metric_key": "m0"})
    assert history == {}  # nothing of a refused batch was written
    seeded.assert_intact()


def test_changing_a_param_in_a_batch_is_refused(seeded):
    response = seeded.api.post(
        "runs/log-batch", {"run_id": seeded.run, "params": [{"key": "seeded_param", "value": "2"}]}
    )
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()


# ---------------------------------------------------------------------------------------- filters
MALFORMED_RUN_FILTERS = [
    "metrics.acc >",
    "metrics.acc > 'high'",
    "params.x = 'unterminated",
    "nonsense.key = 'x'",
    "attributes.bogus = 'x'",
    "((metrics.acc > 1)",
    "params.x = 'a' extra",
    "`",
    "tags.x IN 'notalist'",
    "= 'x'",
]


@pytest.mark.parametrize("bad_filter", MALFORMED_RUN_FILTERS)
def test_malformed_run_filter(seeded, bad_filter):
    response = seeded.api.post(
        "runs/search", {"experiment_ids": [seeded.exp], "filter": bad_filter}
    )
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()


@pytest.mark.parametrize(
    "bad_filter", ["name = ", "tags.k LIKE", "creation_time > 'x'", "metrics.m > 1", "nope = 'x'"]
)
def test_malformed_experiment_filter(seeded, bad_filter):
    response = seeded.api.get("experiments/search", {"filter": bad_filter})
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()


@pytest.mark.parametrize(
    "order_by",
    [
        "metrics.acc SIDEWAYS",
        "bogus_column",
        "start_time DESC DESC",
        "metrics.acc; DROP TABLE runs",
    ],
)
def test_malformed_order_by(seeded, order_by):
    response = seeded.api.post(
        "runs/search", {"experiment_ids": [seeded.exp], "order_by": [order_by]}
    )
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()


@pytest.mark.parametrize("token", ["not-a-token", "'; DROP TABLE runs; --", "eyJvZmZzZXQiOiAtNX0="])
def test_garbage_page_tokens(seeded, token):
    for response in (
        seeded.api.post("runs/search", {"experiment_ids": [seeded.exp], "page_token": token}),
        seeded.api.get("experiments/search", {"page_token": token}),
        seeded.api.get(
            "metrics/get-history",
            {"run_id": seeded.run, "metric_key": "acc", "page_token": token, "max_results": 1},
        ),
    ):
        assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()


# ---------------------------------------------------------------------------------------- injection
INJECTIONS = [
    "'; DROP TABLE runs; --",
    "x' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM metrics",
    "') UNION ALL (VALUES (1)) --",
]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_in_filters_finds_nothing_or_is_refused(seeded, evil):
    quoted = evil.replace("'", "\\'")
    candidates = [
        f"params.seeded_param = '{quoted}'",
        f"tags.`{evil}` = 'x'",
        f"attributes.run_name = '{quoted}'",
        f"metrics.acc > {evil}",
        evil,
    ]
    for candidate in candidates:
        response = seeded.api.post(
            "runs/search", {"experiment_ids": [seeded.exp], "filter": candidate}
        )
        if response.status_code == 200:
            assert response.json() == {}, candidate
        else:
            assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
        response = seeded.api.get("experiments/search", {"filter": f"name = '{quoted}'"})
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            assert_refused(response)
    seeded.assert_intact()


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_in_keys_and_ids_is_refused(seeded, evil):
    api = seeded.api
    for path, body in (
        ("runs/set-tag", {"run_id": seeded.run, "key": evil, "value": "v"}),
        ("runs/log-parameter", {"run_id": seeded.run, "key": evil, "value": "v"}),
        ("runs/log-metric", {"run_id": seeded.run, "key": evil, "value": 1, "timestamp": 1}),
        ("runs/delete-tag", {"run_id": seeded.run, "key": evil}),
        (
            "experiments/set-experiment-tag",
            {"experiment_id": seeded.exp, "key": evil, "value": "v"},
        ),
        ("runs/delete", {"run_id": evil}),
        ("experiments/delete", {"experiment_id": evil}),
        ("runs/create", {"experiment_id": evil}),
    ):
        assert_refused(api.post(path, body), 400, "INVALID_PARAMETER_VALUE")
    assert_refused(api.get("runs/get", {"run_id": evil}), 400)
    # a metric key is only looked up (a bound parameter): an odd one simply has no history
    assert api.ok_get("metrics/get-history", {"run_id": seeded.run, "metric_key": evil}) == {}
    seeded.assert_intact()


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_are_stored_verbatim_where_legal(seeded, evil):
    """Names and values may hold any text: they are bound parameters, never SQL."""
    api = seeded.api
    exp_id = api.experiment(f"exp {evil}")
    assert (
        api.ok_get("experiments/get-by-name", {"experiment_name": f"exp {evil}"})["experiment"][
            "experiment_id"
        ]
        == exp_id
    )
    api.ok_post("runs/set-tag", {"run_id": seeded.run, "key": "evil", "value": evil})
    found = api.ok_post(
        "runs/search",
        {
            "experiment_ids": [seeded.exp],
            "filter": "tags.evil = '" + evil.replace("'", "\\'") + "'",
        },
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [seeded.run]
    seeded.assert_intact()


# ---------------------------------------------------------------------------------------- bodies
@pytest.mark.parametrize(
    "raw",
    [
        b"{bad",
        b"[1, 2]",
        b'"just a string"',
        b"null",
        b"123",
        b"\xff\xfe{}",
        b'{"a": 1',
        b"[" * 100_000,
        b'"{\\"x"',
    ],
)
def test_non_json_or_non_object_bodies(seeded, raw):
    for path in ("runs/log-batch", "experiments/create", "runs/search"):
        response = seeded.api.client.post(
            f"/api/2.0/mlflow/{path}", content=raw, headers={"Content-Type": "application/json"}
        )
        assert_refused(response, 400)
    seeded.assert_intact()


# ---------------------------------------------------------------------------------------- ids and limits
UNKNOWN = "f" * 32


@pytest.mark.parametrize(
    ("method", "path", "request_"),
    [
        ("GET", "runs/get", {"run_id": UNKNOWN}),
        ("POST", "runs/update", {"run_id": UNKNOWN, "status": "FINISHED"}),
        ("POST", "runs/delete", {"run_id": UNKNOWN}),
        ("POST", "runs/restore", {"run_id": UNKNOWN}),
        ("POST", "runs/log-metric", {"run_id": UNKNOWN, "key": "m", "value": 1, "timestamp": 1}),
        ("POST", "runs/log-parameter", {"run_id": UNKNOWN, "key": "p", "value": "1"}),
        ("POST", "runs/set-tag", {"run_id": UNKNOWN, "key": "t", "value": "1"}),
        ("POST", "runs/delete-tag", {"run_id": UNKNOWN, "key": "t"}),
        ("POST", "runs/log-batch", {"run_id": UNKNOWN, "params": [{"key": "p", "value": "1"}]}),
        ("POST", "runs/log-inputs", {"run_id": UNKNOWN, "datasets": []}),
        ("GET", "metrics/get-history", {"run_id": UNKNOWN, "metric_key": "m"}),
        ("GET", "experiments/get", {"experiment_id": "987654"}),
        ("POST", "experiments/delete", {"experiment_id": "987654"}),
        ("POST", "experiments/restore", {"experiment_id": "987654"}),
        ("POST", "experiments/update", {"experiment_id": "987654", "new_name": "x"}),
        (
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": "987654", "key": "k", "value": "v"},
        ),
        ("POST", "runs/create", {"experiment_id": "987654"}),
    ],
)
def test_unknown_ids_are_404(seeded, method, path, request_):
    response = (
        seeded.api.get(path, request_) if method == "GET" else seeded.api.post(path, request_)
    )
    assert_refused(response, 404, "RESOURCE_DOES_NOT_EXIST")
    seeded.assert_intact()


@pytest.mark.parametrize(
    ("method", "path", "request_"),
    [
        ("POST", "runs/search", {"max_results": 50001}),
        ("POST", "runs/search", {"max_results": 0}),
        ("POST", "runs/search", {"max_results": 2**40}),
        ("GET", "experiments/search", {"max_results": 50001}),
        ("GET", "experiments/search", {"max_results": -1}),
        ("GET", "experiments/search", {"view_type": "SOME"}),
        ("POST", "runs/set-tag", {"key": "k" * 251, "value": "v"}),
        ("POST", "runs/log-metric", {"key": "m", "value": 1, "timestamp": -1}),
        ("POST", "runs/log-metric", {"key": "m", "value": 1, "timestamp": 2**64}),
        ("POST", "runs/log-metric", {"key": "../up", "value": 1, "timestamp": 1}),
        ("POST", "runs/update", {"status": "DONE"}),
        ("POST", "runs/update", {"run_name": "n" * 251}),
        ("POST", "experiments/create", {"name": ""}),
        ("POST", "experiments/create", {"name": "x" * 501}),
        (
            "GET",
            "metrics/get-history-bulk-interval",
            {"run_ids": ["a" * 32] * 101, "metric_key": "m"},
        ),
        ("GET", "metrics/get-history-bulk-interval", {"metric_key": "m", "start_step": 3}),
        (
            "GET",
            "metrics/get-history-bulk-interval",
            {"metric_key": "m", "start_step": 5, "end_step": 1},
        ),
        ("GET", "metrics/get-history-bulk-interval", {"metric_key": "m", "max_results": 2501}),
        (
            "GET",
            "metrics/get-history-bulk",
            {"run_id": [f"{i:032x}" for i in range(101)], "metric_key": "m"},
        ),
        ("GET", "metrics/get-history-bulk", {"metric_key": "m", "max_results": 25001}),
        (
            "POST",
            "runs/log-inputs",
            {
                "datasets": [
                    {
                        "dataset": {
                            "name": "d",
                            "digest": "x" * 37,
                            "source_type": "l",
                            "source": "s",
                        }
                    }
                ]
            },
        ),
        (
            "POST",
            "runs/log-inputs",
            {"datasets": [{"dataset": {"name": "d", "digest": "x", "source_type": "l"}}]},
        ),
    ],
)
def test_out_of_range_values(seeded, method, path, request_):
    request_ = dict(request_)
    if path.startswith("runs/") and path != "runs/search":
        request_.setdefault("run_id", seeded.run)
    if path == "metrics/get-history-bulk-interval":
        request_.setdefault("run_ids", [seeded.run])
    if path == "metrics/get-history-bulk":
        request_.setdefault("run_id", [seeded.run])
        response = seeded.api.client.get(f"/ajax-api/2.0/mlflow/{path}", params=request_)
    elif method == "GET":
        response = seeded.api.get(path, request_)
    else:
        response = seeded.api.post(path, request_)
    assert_refused(response, 400, "INVALID_PARAMETER_VALUE")
    seeded.assert_intact()
