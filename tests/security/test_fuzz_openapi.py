"""Property-based fuzzing of every REST operation in the server's OpenAPI document (schemathesis).

The document is the server's own (``/api/2.0/modelyard/openapi.json``, generated from its route
tables); schemathesis draws requests from it, valid and invalid, and sends them to the app in-process.
No answer may be a 500, and every error must be an MLflow JSON error without internals. The run is kept
short and reproducible (a few examples per operation, derandomized); the ``/ajax-api`` twins of the
``/api`` operations share their handlers and are left out.

Beside it, a dictionary fuzz sends the values that broke servers before (ids beyond int64, 9000-
character names, quotes, SQL and filter fragments, existing ids) in every field of every operation;
it found the 500s whose regression tests are in ``test_fuzz_regressions.py``.
"""

from __future__ import annotations

import base64
import os
import random
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from security_helpers import API, app_client_for, settings_for

from modelyard.server.app import create_app
from modelyard.server.openapi import OPENAPI_PATH

#: Examples per operation and generation mode: about a minute for the whole API on one core
#: (``MODELYARD_FUZZ_EXAMPLES=200`` for a deeper run by hand).
EXAMPLES = int(os.environ.get("MODELYARD_FUZZ_EXAMPLES", "5"))
LEAKS = ("Traceback", "sqlalchemy", "SELECT ", "INSERT ", "site-packages")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(settings_for(tmp))
    app.state.fuzz_tmp = str(tmp)
    return app


def _check(case, app, found: list[str]) -> None:
    _check_response(case, case.call(), app, found)


def _check_response(case, response, app, found: list[str]) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500 and response.status_code not in (501, 503):
        found.append(f"{where}: {response.text[:300]} (sent {case.query!r} {case.body!r})")
        return
    if response.status_code >= 400 and case.method != "HEAD":
        text = response.text
        try:
            body = response.json()
        except ValueError:
            found.append(f"{where}: not JSON: {text[:200]}")
            return
        if not isinstance(body, dict) or set(body) != {"error_code", "message"}:
            found.append(f"{where}: not an MLflow error: {text[:200]}")
        leaks = [leak for leak in (*LEAKS, app.state.fuzz_tmp) if leak in text]
        if leaks:
            found.append(f"{where}: leaks {leaks}: {text[:300]}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_500(fuzz_app, mode):
    schema = schemathesis.openapi.from_asgi(OPENAPI_PATH, fuzz_app)
    operations = [
        result.ok() for result in schema.exclude(path_regex=r"^/ajax-api/").get_all_operations()
    ]
    assert len(operations) > 80  # every RPC, the proxy, the downloads, the meta routes
    found: list[str] = []
    no_negatives: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            _check(case, fuzz_app, found)

        try:
            fuzz()
        except Unsatisfiable:  # nothing to break: no parameters, or only free-form strings
            assert mode is GenerationMode.NEGATIVE, operation.label
            no_negatives.append(operation.label)
    assert not found, "\n".join(sorted(set(found)))
    assert len(no_negatives) < len(operations) // 4, no_negatives


#: Values that broke servers before: existing ids (filled in at run time), empty and blank strings,
#: quotes and SQL, LIKE wildcards, ids beyond int64, long names, filter and order_by fragments.
NASTY_STRINGS = [
    "{run}", "{model_id}", "0", "1", "m", "", " ", "'", '"', "a' OR '1'='1", "%", "_", "*", "-1",
    "9" * 30, "null", "NaN", "x" * 9000, "tags.k = 'v'", "metrics.m > 1 OR params.p = 'x'",
    "attributes.start_time DESC", "name ASC, version DESC", "((", "\u00e9\u4e2d", "../../etc",
    "stage = 'Production'", "name LIKE '%'", "creation_timestamp > 0", "run_id IN ('a')",
]  # fmt: skip
NASTY_INTS = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 10**6]
NASTY_NUMBERS = [0.0, -1.5, 1e308, "NaN", "Infinity", 3]
REQUESTS_PER_OPERATION = int(os.environ.get("MODELYARD_FUZZ_REQUESTS", "20"))
ADMIN_PASSWORD = "fuzz-admin-password-0123"


def _nasty(schema: dict, components: dict, rng: random.Random, known: dict) -> object:
    if "$ref" in schema:
        return _nasty(components[schema["$ref"].rsplit("/", 1)[1]], components, rng, known)
    if "enum" in schema:
        return rng.choice([*schema["enum"], "BOGUS"])
    kind = schema.get("type")
    if kind == "string":
        return rng.choice(NASTY_STRINGS).format(**known)
    if kind == "integer":
        return rng.choice(NASTY_INTS)
    if kind == "number":
        return rng.choice(NASTY_NUMBERS)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_nasty(schema["items"], components, rng, known) for _ in range(rng.randint(0, 2))]
    if kind == "object":
        required = set(schema.get("required", ()))
        return {
            key: _nasty(sub, components, rng, known)
            for key, sub in schema.get("properties", {}).items()
            if key in required or rng.random() < 0.8
        }
    return None


@pytest.mark.slow
@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth-admin"])
def test_nasty_values_on_every_operation(tmp_path, auth):
    """A dictionary fuzz beside schemathesis: the values that broke servers before, in every field of
    every operation, against a server holding a run, a model version and a logged model; with
    ``--auth`` too, as the admin (who passes every rule, so the handlers behind it are reached)."""
    extra = {"auth": True, "auth_admin_password": ADMIN_PASSWORD} if auth else {}
    app = create_app(settings_for(tmp_path, **extra))
    app.state.fuzz_tmp = str(tmp_path)
    rng = random.Random(9)
    found: list[str] = []
    with app_client_for(app) as client:
        if auth:
            token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
            client.headers["Authorization"] = f"Basic {token}"
        run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()
        run_id = run["run"]["info"]["run_id"]
        client.post(f"{API}/registered-models/create", json={"name": "m"})
        client.post(
            f"{API}/model-versions/create",
            json={"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id},
        )
        logged = client.post(f"{API}/logged-models", json={"experiment_id": "0", "name": "lm"})
        known = {"run": run_id, "model_id": logged.json()["model"]["info"]["model_id"]}
        document = client.get(OPENAPI_PATH).json()
        components = document["components"]["schemas"]
        operations = [
            (path, method, op)
            for path, entry in document["paths"].items()
            if not path.startswith("/ajax-api/")
            for method, op in entry.items()
        ]
        assert len(operations) > 80
        for path, method, op in operations:
            for _ in range(REQUESTS_PER_OPERATION):
                url, query = path, {}
                for param in op.get("parameters", []):
                    value = _nasty(param["schema"], components, rng, known)
                    if param["in"] == "path":
                        url = url.replace("{" + param["name"] + "}", str(value) or "x")
                    elif value is not None and (param["required"] or rng.random() < 0.7):
                        query[param["name"]] = value
                kwargs: dict = {"params": query}
                content = op.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    kwargs["json"] = _nasty(
                        content["application/json"]["schema"], components, rng, known
                    )
                elif content:
                    kwargs["content"] = b"data"
                response = client.request(method.upper(), url, **kwargs)
                case = SimpleNamespace(
                    method=method.upper(), formatted_path=url, query=query, body=kwargs.get("json")
                )
                _check_response(case, response, app, found)
    assert not found, "\n".join(sorted(set(found))[:20])
