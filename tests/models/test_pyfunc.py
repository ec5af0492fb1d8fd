"""Custom Python models: both predict styles, artifacts, code paths, models from code, the registry."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import modelyard.pyfunc
from modelyard.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from modelyard.models import flavors
from modelyard.models.signature import DataType


class Scale(modelyard.pyfunc.PythonModel):
    """MLflow 2 style: predict(context, model_input, params)."""

    def load_context(self, context):
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context, model_input, params=None):
        return model_input * self.factor * (params or {}).get("boost", 1)


class Identity(modelyard.pyfunc.PythonModel):
    """MLflow 3 style: predict(model_input, params)."""

    def predict(self, model_input, params=None):
        return {"rows": len(model_input), "params": params}


def test_context_style_model_with_artifact_and_params(tmp_path: Path) -> None:
    factor = tmp_path / "factor.txt"
    factor.write_text("2.5")
    example = (pd.DataFrame({"x": [1.0, 2.0]}), {"boost": 2})
    manifest = modelyard.pyfunc.save_model(
        tmp_path / "m", python_model=Scale(), artifacts={"factor": factor}, input_example=example
    )
    conf = manifest.flavors["python_function"]
    assert conf["artifacts"] == {
        "factor": {"path": "artifacts/factor/factor.txt", "uri": str(factor)}
    }
    assert conf["python_model"] == "python_model.pkl"
    assert manifest.signature.params.params[0].name == "boost"
    assert manifest.signature.outputs is not None
    model = modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=True)
    out = model.predict(pd.DataFrame({"x": [4.0]}))
    assert out["x"].tolist() == [20.0]  # default boost=2 from the signature
    assert model.predict(pd.DataFrame({"x": [4.0]}), params={"boost": 1})["x"].tolist() == [10.0]
    with pytest.raises(InvalidInput, match="missing required column"):
        model.predict(pd.DataFrame({"y": [1.0]}))
    loaded_example, params = model.input_example()
    assert params == {"boost": 2} and loaded_example["x"].tolist() == [1.0, 2.0]


def test_mlflow3_style_model_and_inputs_of_every_kind(tmp_path: Path) -> None:
    modelyard.pyfunc.save_model(tmp_path / "m", python_model=Identity())
    model = modelyard.pyfunc.load_model(f"file://{tmp_path / 'm'}", allow_pickle=True)
    assert model.predict(pd.DataFrame({"a": [1, 2]})) == {"rows": 2, "params": None}
    assert model.predict(np.zeros((3, 2)))["rows"] == 3
    assert model.predict({"a": 1, "b": 2})["rows"] == 2
    assert model.predict([1, 2, 3, 4], params={"p": 1}) == {"rows": 4, "params": {"p": 1}}
    assert isinstance(model.unwrap_python_model(), Identity)


def test_plain_function_as_model(tmp_path: Path) -> None:
    def double(model_input):
        return [2 * v for v in model_input]

    modelyard.pyfunc.save_model(tmp_path / "m", python_model=double, input_example=[1, 2])
    model = modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=True)
    assert model.predict([3, 4]) == [6, 8]
    assert model.signature.inputs.specs[0].type is DataType.long


def test_pickled_python_model_needs_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modelyard.pyfunc.save_model(tmp_path / "m", python_model=Identity())
    with pytest.raises(PermissionDenied) as info:
        modelyard.pyfunc.load_model(tmp_path / "m")
    assert "allow_pickle=True" in info.value.message
    assert "MODELYARD_ALLOW_PICKLE=true" in info.value.message
    assert "python_model.pkl" in info.value.message
    with pytest.raises(PermissionDenied):
        modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=False)
    monkeypatch.setenv("MODELYARD_ALLOW_PICKLE", "true")
    assert modelyard.pyfunc.load_model(tmp_path / "m").predict([1])["rows"] == 1
    # an explicit False wins over the setting
    with pytest.raises(PermissionDenied):
        modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=False)


def _write_code_model(tmp_path: Path) -> tuple[Path, Path]:
    helpers = tmp_path / "src" / "price_rules"
    helpers.mkdir(parents=True)
    (helpers / "__init__.py").write_text("def clip(v, hi):\n    return [min(x, hi) for x in v]\n")
    code = tmp_path / "model_code.py"
    code.write_text(
        textwrap.dedent(
            """
            import json

            from price_rules import clip

            import modelyard.pyfunc


            class Capped(modelyard.pyfunc.PythonModel):
                def load_context(self, context):
                    with open(context.artifacts["limits"]) as f:
                        self.hi = json.load(f)["hi"]

                def predict(self, model_input, params=None):
                    return clip(list(model_input), self.hi)


            modelyard.pyfunc.set_model(Capped())
            """
        )
    )
    limits = tmp_path / "limits.json"
    limits.write_text('{"hi": 5}')
    return code, limits


def test_models_from_code_pickle_nothing_and_load_without_opt_in(tmp_path: Path) -> None:
    code, limits = _write_code_model(tmp_path)
    manifest = modelyard.pyfunc.save_model(
        tmp_path / "m",
        python_model=code,
        artifacts={"limits": limits},
        code_paths=[tmp_path / "src" / "price_rules"],
        input_example=[1, 9],
    )
    conf = manifest.flavors["python_function"]
    assert conf["model_code_path"] == "model_code.py"
    assert conf["code"] == "code"
    assert not list((tmp_path / "m").rglob("*.pkl"))
    assert (tmp_path / "m" / "code" / "price_rules" / "__init__.py").is_file()
    # a stale module of the same name, imported from elsewhere, must not shadow the model's code
    sys.modules["price_rules"] = types.ModuleType("price_rules")
    model = modelyard.pyfunc.load_model(tmp_path / "m")
    assert model.predict([1, 7, 3]) == [1, 5, 3]


def test_code_file_without_set_model_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "empty.py"
    code.write_text("x = 1\n")
    with pytest.raises(InvalidInput, match=r"did not call modelyard.pyfunc.set_model"):
        modelyard.pyfunc.save_model(tmp_path / "m", python_model=code)


def test_save_refuses_a_non_empty_directory_and_bad_models(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("")
    with pytest.raises(AlreadyExists, match="not empty"):
        modelyard.pyfunc.save_model(tmp_path / "m", python_model=Identity())
    with pytest.raises(InvalidInput, match="python_model must be"):
        modelyard.pyfunc.save_model(tmp_path / "n", python_model=42)
    with pytest.raises(NotFound, match="does not exist"):
        modelyard.pyfunc.save_model(
            tmp_path / "o", python_model=Identity(), artifacts={"a": tmp_path / "nope"}
        )


def test_incomplete_model_directories_name_the_missing_file(tmp_path: Path) -> None:
    code, limits = _write_code_model(tmp_path)
    modelyard.pyfunc.save_model(
        tmp_path / "m",
        python_model=code,
        artifacts={"limits": limits},
        code_paths=[tmp_path / "src" / "price_rules"],
    )
    with pytest.raises(NotFound, match="No model at"):
        modelyard.pyfunc.load_model(tmp_path / "absent")
    (tmp_path / "m" / "artifacts" / "limits" / "limits.json").unlink()
    with pytest.raises(
        NotFound, match=r"artifact 'limits' \(artifacts/limits/limits.json\) is missing"
    ):
        modelyard.pyfunc.load_model(tmp_path / "m")
    (tmp_path / "m" / "model_code.py").unlink()
    (tmp_path / "m" / "MLmodel").write_text(
        (tmp_path / "m" / "MLmodel").read_text().replace("    artifacts:\n", "    unused:\n")
    )
    with pytest.raises(NotFound, match=r"model code file model_code\.py is missing"):
        modelyard.pyfunc.load_model(tmp_path / "m")
    modelyard.pyfunc.save_model(tmp_path / "p", python_model=Identity())
    (tmp_path / "p" / "python_model.pkl").unlink()
    with pytest.raises(NotFound, match=r"model file python_model\.pkl is missing"):
        modelyard.pyfunc.load_model(tmp_path / "p", allow_pickle=True)
    (tmp_path / "p" / "MLmodel").unlink()
    with pytest.raises(NotFound, match="No MLmodel file"):
        modelyard.pyfunc.load_model(tmp_path / "p")


def test_manifest_without_pyfunc_or_with_unknown_loader(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"keras": {}}}))
    with pytest.raises(InvalidInput, match="has no 'python_function' flavor"):
        modelyard.pyfunc.load_model(tmp_path)
    (tmp_path / "MLmodel").write_text(
        yaml.safe_dump({"flavors": {"python_function": {"loader_module": "mlflow.keras"}}})
    )
    with pytest.raises(InvalidInput, match=r"loader_module is .mlflow\.keras."):
        modelyard.pyfunc.load_model(tmp_path)


def test_uri_schemes_other_than_file_are_refused_here(tmp_path: Path) -> None:
    from modelyard.models.pyfunc import load_model

    with pytest.raises(InvalidInput, match="runs:/"):
        load_model("s3://bucket/model")


def test_builtin_flavors_are_registered_as_entry_points() -> None:
    assert {"python_function", "sklearn", "pytorch"} <= set(flavors.available_flavors())
    for name in ("python_function", "sklearn", "pytorch"):
        flavor = flavors.get_flavor(name)
        assert isinstance(flavor, flavors.Flavor)
        assert flavor.name == name
    assert flavors.flavor_for_loader("mlflow.sklearn").name == "sklearn"
    assert flavors.flavor_for_loader("mlflow.pyfunc.model").name == "python_function"
    with pytest.raises(InvalidInput, match="No flavor 'onnx' is registered"):
        flavors.get_flavor("onnx")


def test_a_plugin_flavor_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "echo_flavor.py").write_text(
        textwrap.dedent(
            """
            class Echo:
                def predict(self, data, params=None):
                    return ("echo", data)

            class EchoFlavor:
                name = "echo"
                loader_modules = ("echo_flavor",)

                def save(self, path, model, **options):
                    raise NotImplementedError

                def load(self, model_dir, manifest, **options):
                    return Echo()

                def load_pyfunc(self, model_dir, manifest, **options):
                    return Echo()

            FLAVOR = EchoFlavor()
            """
        )
    )
    dist = plugin / "echo_flavor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-flavor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modelyard.flavors]\necho = echo_flavor:FLAVOR\n")
    monkeypatch.syspath_prepend(str(plugin))
    flavors._registry.cache_clear()
    flavors.get_flavor.cache_clear()
    try:
        assert "echo" in flavors.available_flavors()
        model_dir = tmp_path / "m"
        model_dir.mkdir()
        (model_dir / "MLmodel").write_text(
            yaml.safe_dump(
                {"flavors": {"python_function": {"loader_module": "echo_flavor"}, "echo": {}}}
            )
        )
        assert modelyard.pyfunc.load_model(model_dir).predict([1]) == ("echo", [1])
    finally:
        flavors._registry.cache_clear()
        flavors.get_flavor.cache_clear()
