"""The MLmodel manifest, input examples and environment files, checked against MLflow's reader."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.models
import numpy as np
import pandas as pd
import pytest
import yaml

from modelyard.errors import InvalidInput, NotFound
from modelyard.models import Model
from modelyard.models.environment import imported_modules, infer_requirements, write_environment
from modelyard.models.examples import load_input_example, save_input_example
from modelyard.models.signature import infer_signature


def test_manifest_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    model = Model(
        run_id="r" * 32, artifact_path="model", model_id="m-" + "a" * 32, metadata={"team": "recs"}
    )
    model.add_flavor("python_function", loader_module="x", env={"conda": "conda.yaml"})
    model.signature = infer_signature(pd.DataFrame({"a": [1.0]}), np.array([1]))
    model.extra["prompts"] = None
    model.extra["future_key"] = {"nested": [1, 2]}
    model.save(tmp_path)
    raw = yaml.safe_load((tmp_path / "MLmodel").read_text())
    assert raw["future_key"] == {"nested": [1, 2]}
    assert isinstance(raw["signature"]["inputs"], str)
    assert raw["mlflow_version"] == "3.17.2"
    again = Model.load(tmp_path)
    assert again == model
    assert again.to_dict() == model.to_dict()


def test_null_run_and_artifact_path_are_dropped(tmp_path: Path) -> None:
    Model().save(tmp_path)
    raw = yaml.safe_load((tmp_path / "MLmodel").read_text())
    assert "run_id" not in raw and "artifact_path" not in raw
    assert raw["model_id"] is None
    assert len(raw["model_uuid"]) == 32
    assert len(raw["utc_time_created"]) == len("2026-01-01 00:00:00.000000")


def test_mlflow_reads_our_manifest_and_we_read_mlflows(tmp_path: Path) -> None:
    ours = Model(run_id="abc", artifact_path="model", metadata={"k": "v"})
    ours.add_flavor("python_function", loader_module="m", python_version="3.11")
    ours.signature = infer_signature(np.zeros((2, 3), dtype=np.float32), params={"k": 1})
    ours.save(tmp_path)
    theirs = mlflow.models.Model.load(tmp_path / "MLmodel")
    assert theirs.run_id == "abc" and theirs.model_uuid == ours.model_uuid
    assert theirs.signature.inputs.to_json() == ours.signature.inputs.to_json()
    assert theirs.metadata == {"k": "v"}
    theirs.prompts_extra = "kept"  # an attribute MLflow does not define is written as a key
    theirs.save(tmp_path / "MLmodel")
    back = Model.load(tmp_path)
    assert back.extra["prompts_extra"] == "kept"
    assert back.signature == ours.signature
    assert back.flavors["python_function"]["loader_module"] == "m"


def test_missing_manifest_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"No MLmodel file in .*: a model directory needs one"):
        Model.load(tmp_path)


@pytest.mark.parametrize("text", ["flavors: [unclosed", "- just\n- a list\n", "flavors: [1, 2]\n"])
def test_bad_manifest_is_invalid_input(tmp_path: Path, text: str) -> None:
    (tmp_path / "MLmodel").write_text(text)
    with pytest.raises(InvalidInput, match="MLmodel"):
        Model.load(tmp_path)


def test_dataframe_example_layout_matches_mlflow(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [1, 0], "s": ["x", "y"]})
    info = save_input_example(tmp_path, frame)
    assert info == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    assert json.loads((tmp_path / "input_example.json").read_text()) == {
        "columns": ["a", "b", "s"],
        "data": [[1.0, 1, "x"], [2.0, 0, "y"]],
    }
    serving = json.loads((tmp_path / "serving_input_example.json").read_text())
    assert serving == {
        "dataframe_split": {"columns": ["a", "b", "s"], "data": [[1.0, 1, "x"], [2.0, 0, "y"]]}
    }
    pd.testing.assert_frame_equal(load_input_example(tmp_path, info), frame, check_dtype=False)


def test_tensor_and_params_example_layouts(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "t").mkdir()
    info = save_input_example(tmp_path / "t", array)
    assert info["type"] == "ndarray"
    assert json.loads((tmp_path / "t" / "serving_input_example.json").read_text()) == {
        "inputs": array.tolist()
    }
    np.testing.assert_array_equal(load_input_example(tmp_path / "t", info), array)

    (tmp_path / "p").mkdir()
    frame = pd.DataFrame({"a": [1.0]})
    info = save_input_example(tmp_path / "p", (frame, {"k": 5}))
    assert info["params"] == "true"
    assert json.loads((tmp_path / "p" / "input_example.json").read_text()) == {
        "inputs": {"columns": ["a"], "data": [[1.0]]},
        "params": {"k": 5},
    }
    assert json.loads((tmp_path / "p" / "serving_input_example.json").read_text())["params"] == {
        "k": 5
    }
    data, params = load_input_example(tmp_path / "p", info)
    assert params == {"k": 5} and data["a"].tolist() == [1.0]

    (tmp_path / "j").mkdir()
    info = save_input_example(tmp_path / "j", {"query": "shoes", "n": 3})
    assert info["type"] == "json_object"
    assert json.loads((tmp_path / "j" / "serving_input_example.json").read_text()) == {
        "inputs": {"query": "shoes", "n": 3}
    }


def test_requirements_are_pinned_to_installed_versions(tmp_path: Path) -> None:
    import sklearn

    code = tmp_path / "model_code.py"
    code.write_text(
        "import os\nimport numpy as np\nfrom sklearn.neighbors import NearestNeighbors\nfrom . import sibling\n"
    )
    assert imported_modules([code]) == {"os", "numpy", "sklearn"}
    reqs = infer_requirements(["skops"], [code])
    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert f"numpy=={np.__version__}" in reqs
    assert any(r.startswith("skops==") for r in reqs)
    assert any(r.startswith("modelyard==") for r in reqs)
    assert not any(r.startswith("os") for r in reqs)


def test_environment_files_match_mlflow_layout(tmp_path: Path) -> None:
    write_environment(tmp_path, default_requirements=["numpy==2.0.0", "modelyard==0.1.0"])
    assert (tmp_path / "requirements.txt").read_text().splitlines() == [
        "numpy==2.0.0",
        "modelyard==0.1.0",
    ]
    python_env = yaml.safe_load((tmp_path / "python_env.yaml").read_text())
    assert set(python_env) == {"python", "build_dependencies", "dependencies"}
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert python_env["build_dependencies"][0].startswith("pip")
    conda = yaml.safe_load((tmp_path / "conda.yaml").read_text())
    assert conda["channels"] == ["conda-forge"] and conda["name"] == "mlflow-env"
    assert conda["dependencies"][0] == f"python={python_env['python']}"
    assert conda["dependencies"][-1] == {"pip": ["numpy==2.0.0", "modelyard==0.1.0"]}
    # MLflow reads both files with its own environment classes.
    from mlflow.utils.environment import _PythonEnv

    env = _PythonEnv.from_yaml(str(tmp_path / "python_env.yaml"))
    assert env.python == python_env["python"]


def test_pip_requirements_override_and_extend(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    write_environment(
        tmp_path / "a", default_requirements=["x==1"], pip_requirements=["y==2", "# c", ""]
    )
    assert (tmp_path / "a" / "requirements.txt").read_text() == "y==2"
    (tmp_path / "b").mkdir()
    write_environment(tmp_path / "b", default_requirements=["x==1"], extra_pip_requirements=["z"])
    assert (tmp_path / "b" / "requirements.txt").read_text() == "x==1\nz"
    req_file = tmp_path / "reqs.txt"
    req_file.write_text("w==3\n")
    (tmp_path / "c").mkdir()
    write_environment(tmp_path / "c", default_requirements=[], pip_requirements=str(req_file))
    assert (tmp_path / "c" / "requirements.txt").read_text() == "w==3"
    with pytest.raises(InvalidInput, match="not both"):
        write_environment(
            tmp_path / "c",
            default_requirements=[],
            pip_requirements=["a"],
            extra_pip_requirements=["b"],
        )
