"""Interop with the real MLflow 3.17.2 package, both ways, with identical predictions.

MLflow side: ``mlflow.<flavor>.save_model`` writes, modelyard loads; modelyard writes,
``mlflow.pyfunc.load_model`` (and ``mlflow.<flavor>.load_model``) loads. MLflow gates its own
unpickling (and, for sklearn, skops too) behind ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``, which is
``true`` by default in 3.17.2; modelyard's custom-model loader, which MLflow calls for modelyard's
Python models, follows ``MODELYARD_ALLOW_PICKLE`` instead.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import mlflow.pyfunc
import mlflow.pytorch
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard.pyfunc
import modelyard.pytorch
import modelyard.sklearn
from modelyard.errors import PermissionDenied


@pytest.fixture
def floats() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})


#: MLflow asks for type hints on predict; these models are written without them on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*Add type hints to the `predict` method:UserWarning"
)


@pytest.fixture
def forest(floats: pd.DataFrame):
    """A pipeline whose every type skops trusts by default."""
    return make_pipeline(StandardScaler(), Ridge(alpha=0.5)).fit(
        floats, floats["a"] * 2 - floats["b"]
    )


@pytest.fixture
def trees(floats: pd.DataFrame) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=5, random_state=0).fit(
        floats, floats["a"] * 2 - floats["b"]
    )


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 3)

    def forward(self, x):
        return torch.tanh(self.lin(x))


@pytest.fixture
def net() -> Net:
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(4).normal(size=(6, 2)).astype(np.float32)


class MlflowShift(mlflow.pyfunc.PythonModel):
    # MLflow warns about missing type hints for this class inside its own simplefilter("once"),
    # so pytest reports it although it is not an error.
    def load_context(self, context):
        self.shift = float(Path(context.artifacts["shift"]).read_text())

    def predict(self, context, model_input, params=None):
        return model_input + self.shift * (params or {}).get("times", 1)


class ModelyardShift(modelyard.pyfunc.PythonModel):
    def load_context(self, context):
        self.shift = float(Path(context.artifacts["shift"]).read_text())

    def predict(self, context, model_input, params=None):
        return model_input + self.shift * (params or {}).get("times", 1)


# ---------------------------------------------------------------------------- MLflow -> modelyard


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle", "pickle"])
def test_mlflow_sklearn_models_load_in_modelyard(tmp_path: Path, floats, forest, fmt: str) -> None:
    mlflow.sklearn.save_model(
        forest, tmp_path / "m", serialization_format=fmt, input_example=floats.head(3)
    )
    expected = forest.predict(floats)
    opt_in = fmt != "skops"
    if opt_in:
        with pytest.raises(PermissionDenied, match=f"stored with {fmt}"):
            modelyard.pyfunc.load_model(tmp_path / "m")
    model = modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=opt_in or None)
    np.testing.assert_array_equal(model.predict(floats), expected)
    assert model.signature.inputs.names() == ["a", "b"]
    estimator = modelyard.sklearn.load_model(tmp_path / "m", allow_pickle=opt_in or None)
    np.testing.assert_array_equal(estimator.predict(floats), expected)


def test_tree_models_need_their_skops_types_trusted_on_both_sides(
    tmp_path: Path, floats, trees
) -> None:
    # skops does not trust sklearn's Tree by default; MLflow needs skops_trusted_types to save one
    tree_type = ["sklearn.tree._tree.Tree"]
    mlflow.sklearn.save_model(trees, tmp_path / "theirs", skops_trusted_types=tree_type)
    with pytest.raises(PermissionDenied, match=r"sklearn\.tree\._tree\.Tree"):
        modelyard.pyfunc.load_model(tmp_path / "theirs")
    expected = trees.predict(floats)
    ours = modelyard.pyfunc.load_model(tmp_path / "theirs", skops_trusted_types=tree_type)
    np.testing.assert_array_equal(ours.predict(floats), expected)
    # modelyard records the untrusted types it wrote, so MLflow loads its tree models unchanged
    manifest = modelyard.sklearn.save_model(trees, tmp_path / "ours")
    assert manifest.flavors["sklearn"]["skops_trusted_types"] == tree_type
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(floats), expected
    )


def test_mlflow_pytorch_pt2_model_loads_in_modelyard(tmp_path: Path, net, batch) -> None:
    mlflow.pytorch.save_model(net, tmp_path / "m", input_example=batch)
    with torch.no_grad():
        expected = net(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(
        modelyard.pyfunc.load_model(tmp_path / "m").predict(batch), expected, rtol=1e-6
    )
    module = modelyard.pytorch.load_model(tmp_path / "m")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(), expected, rtol=1e-6)


def test_mlflow_pytorch_pickled_model_loads_in_modelyard_with_opt_in(
    tmp_path: Path, net, batch
) -> None:
    mlflow.pytorch.save_model(net, tmp_path / "m", serialization_format="pickle")
    with pytest.raises(PermissionDenied, match=r"data/model\.pth"):
        modelyard.pytorch.load_model(tmp_path / "m")
    with torch.no_grad():
        expected = net(torch.from_numpy(batch)).numpy()
    model = modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_allclose(model.predict(batch), expected, rtol=1e-6)


def test_mlflow_python_model_loads_in_modelyard(tmp_path: Path, floats) -> None:
    shift = tmp_path / "shift.txt"
    shift.write_text("1.5")
    mlflow.pyfunc.save_model(
        tmp_path / "m",
        python_model=MlflowShift(),
        artifacts={"shift": str(shift)},
        input_example=(floats.head(2), {"times": 2}),
    )
    with pytest.raises(PermissionDenied, match=r"python_model\.pkl"):
        modelyard.pyfunc.load_model(tmp_path / "m")
    model = modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=True)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    pd.testing.assert_frame_equal(model.predict(floats), theirs.predict(floats))
    pd.testing.assert_frame_equal(model.predict(floats, params={"times": 3}), floats + 4.5)


def test_mlflow_models_from_code_load_in_modelyard(tmp_path: Path) -> None:
    code = tmp_path / "mlflow_model.py"
    code.write_text(
        textwrap.dedent(
            """
            import mlflow
            from mlflow.pyfunc import PythonModel

            class Upper(PythonModel):
                def predict(self, context, model_input, params=None):
                    return [s.upper() for s in model_input["text"]]

            mlflow.models.set_model(Upper())
            """
        )
    )
    frame = pd.DataFrame({"text": ["shoe", "hat"]})
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=str(code), input_example=frame)
    model = modelyard.pyfunc.load_model(tmp_path / "m")  # nothing is unpickled
    assert model.predict(frame) == ["SHOE", "HAT"]
    assert model.predict(frame) == mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(frame)


# ---------------------------------------------------------------------------- modelyard -> MLflow


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle", "pickle"])
def test_modelyard_sklearn_models_load_in_mlflow(tmp_path: Path, floats, forest, fmt: str) -> None:
    modelyard.sklearn.save_model(
        forest, tmp_path / "m", serialization_format=fmt, input_example=floats.head(3)
    )
    expected = forest.predict(floats)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(theirs.predict(floats), expected)
    assert theirs.metadata.signature.inputs.input_names() == ["a", "b"]
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(str(tmp_path / "m")).predict(floats), expected
    )
    # MLflow's own signature enforcement reads our signature
    with pytest.raises(MlflowException, match="b"):
        theirs.predict(floats[["a"]])


def test_mlflow_pickle_gate_also_covers_skops(
    tmp_path: Path, floats, forest, monkeypatch: pytest.MonkeyPatch
) -> None:
    modelyard.sklearn.save_model(forest, tmp_path / "m")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(MlflowException, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.pyfunc.load_model(str(tmp_path / "m"))
    # modelyard loads the skops file: every type in it is one skops trusts
    np.testing.assert_array_equal(
        modelyard.pyfunc.load_model(tmp_path / "m").predict(floats), forest.predict(floats)
    )


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_modelyard_pytorch_models_load_in_mlflow(tmp_path: Path, net, batch, fmt: str) -> None:
    modelyard.pytorch.save_model(net, tmp_path / "m", serialization_format=fmt, input_example=batch)
    with torch.no_grad():
        expected = net(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(batch), expected, rtol=1e-6
    )
    module = mlflow.pytorch.load_model(str(tmp_path / "m"))
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(
        modelyard.pyfunc.load_model(tmp_path / "m", allow_pickle=fmt == "pickle").predict(batch),
        expected,
        rtol=1e-6,
    )


def test_modelyard_python_model_loads_in_mlflow(
    tmp_path: Path, floats, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "shift.txt"
    shift.write_text("0.5")
    modelyard.pyfunc.save_model(
        tmp_path / "m",
        python_model=ModelyardShift(),
        artifacts={"shift": shift},
        input_example=(floats.head(2), {"times": 2}),
    )
    # MLflow calls modelyard's loader, which keeps modelyard's pickle rule
    with pytest.raises(PermissionDenied, match="MODELYARD_ALLOW_PICKLE"):
        mlflow.pyfunc.load_model(str(tmp_path / "m"))
    monkeypatch.setenv("MODELYARD_ALLOW_PICKLE", "true")
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    ours = modelyard.pyfunc.load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(theirs.predict(floats), ours.predict(floats))
    pd.testing.assert_frame_equal(theirs.predict(floats, params={"times": 1}), floats + 0.5)
    assert theirs.metadata.signature.params.params[0].default == 2


def test_modelyard_models_from_code_load_in_mlflow(tmp_path: Path) -> None:
    code = tmp_path / "model.py"
    code.write_text(
        textwrap.dedent(
            """
            import modelyard.pyfunc

            class Lengths(modelyard.pyfunc.PythonModel):
                def predict(self, model_input, params=None):
                    return [len(s) for s in model_input["text"]]

            modelyard.pyfunc.set_model(Lengths())
            """
        )
    )
    frame = pd.DataFrame({"text": ["shoe", "umbrella"]})
    modelyard.pyfunc.save_model(tmp_path / "m", python_model=code, input_example=frame)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert (
        theirs.predict(frame)
        == [4, 8]
        == modelyard.pyfunc.load_model(tmp_path / "m").predict(frame)
    )
