"""Property-based fuzzing of every REST operation in the server's OpenAPI document (schemathesis).

The document is the server's own (``/api/2.0/modelyard/openapi.json``, generated from its route
tables); schemathesis draws requests from it, valid and invalid, and sends them to the app in-process.
No answer may be a 500, and every error must be an MLflow JSON error without internals. The run is kept
short and reproducible (a few examples per operation, derandomized); the ``/ajax-api`` twins of the
``/api`` operations share their handlers and are left out.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from security_helpers import settings_for

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
    response = case.call()
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
