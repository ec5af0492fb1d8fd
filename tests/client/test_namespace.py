"""``import modelyard`` stays light, and its public namespace is curated, sorted and complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import modelyard

HEAVY = ("sqlalchemy", "fastapi", "starlette", "pandas", "httpx", "requests", "urllib3", "numpy")


def _modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_import_modelyard_loads_no_heavy_module():
    modules = _modules_after("import modelyard")
    assert "modelyard" in modules
    assert _heavy(modules) == []


def test_import_client_package_and_fluent_names_loads_no_heavy_module():
    # Touching the fluent API resolves the lazy names but still needs no driver, web stack or pandas.
    modules = _modules_after(
        "import modelyard, modelyard.client\n"
        "modelyard.start_run, modelyard.log_metric, modelyard.ModelyardClient"
    )
    assert "modelyard.client.fluent" in modules
    assert _heavy(modules) == []


def test_http_stack_loads_only_for_an_http_uri_and_sqlalchemy_only_for_a_database(tmp_path):
    code = (
        "from modelyard.client.tracking import ModelyardClient\n"
        "c = ModelyardClient('http://127.0.0.1:9')\n"
    )
    modules = _modules_after(code)
    assert "httpx" in modules
    assert [m for m in modules if m.startswith(("sqlalchemy", "fastapi", "pandas"))] == []

    code = (
        "from modelyard.client.tracking import ModelyardClient\n"
        f"c = ModelyardClient('sqlite:///{tmp_path / 'x.db'}')\n"
        "c.create_experiment('e')\n"
    )
    modules = _modules_after(code)
    assert "sqlalchemy" in modules
    assert [m for m in modules if m.startswith(("httpx", "fastapi", "starlette", "pandas"))] == []


def test_all_is_sorted_unique_and_every_name_resolves():
    names = modelyard.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(modelyard, name) is not None, name


def test_all_lists_every_lazy_name_and_the_fluent_api():
    from modelyard.client import fluent

    assert dir(modelyard) == modelyard.__all__
    lazy = {n for n in vars(modelyard).get("_LAZY", {})}
    assert lazy == {n for n in modelyard.__all__ if not n.startswith("__")}
    assert set(fluent.__all__) <= set(modelyard.__all__)
    assert modelyard.start_run is fluent.start_run
    assert modelyard.ModelyardClient.__name__ == "ModelyardClient"


def test_unknown_attribute_is_an_attribute_error():
    try:
        modelyard.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_tracking_uri_precedence_argument_then_modelyard_then_mlflow_then_default(tmp_path):
    code = "import modelyard; print(modelyard.get_tracking_uri())"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}

    def uri(**env: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**base, **env},
        )
        return out.stdout.strip()

    assert uri() == "sqlite:///modelyard.db"
    assert uri(MLFLOW_TRACKING_URI="http://mlflow:5000") == "http://mlflow:5000"
    assert (
        uri(MLFLOW_TRACKING_URI="http://mlflow:5000", MODELYARD_TRACKING_URI="http://yard:5000")
        == "http://yard:5000"
    )
    set_first = "import modelyard; modelyard.set_tracking_uri('postgresql://h/db'); print(modelyard.get_tracking_uri())"
    out = subprocess.run(
        [sys.executable, "-c", set_first],
        capture_output=True,
        text=True,
        check=True,
        env={**base, "MODELYARD_TRACKING_URI": "http://yard:5000"},
    )
    assert out.stdout.strip() == "postgresql://h/db"
