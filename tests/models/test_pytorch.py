"""The pytorch flavor on CPU: pt2 (torch.export) by default, whole-module pickle on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import modelyard.pyfunc
import modelyard.pytorch
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.models import Model


class TwoLayer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(3, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


@pytest.fixture
def net() -> TwoLayer:
    torch.manual_seed(0)
    return TwoLayer().eval()


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)


def _expected(net: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(batch)).numpy()


def test_pt2_round_trip_keeps_the_batch_dimension_free(tmp_path: Path, net, batch) -> None:
    manifest = modelyard.pytorch.save_model(net, tmp_path / "m", input_example=batch[:1])
    assert (tmp_path / "m" / "data" / "model.pt2").is_file()
    assert not list((tmp_path / "m").rglob("*.pth"))
    assert manifest.flavors["python_function"]["loader_module"] == "mlflow.pytorch"
    assert manifest.flavors["pytorch"]["pytorch_version"] == torch.__version__
    spec = manifest.signature.inputs.specs[0]
    assert (spec.dtype, spec.shape) == ("float32", (-1, 3))
    assert manifest.signature.outputs.specs[0].shape == (-1, 2)
    reqs = (tmp_path / "m" / "requirements.txt").read_text()
    assert f"torch=={torch.__version__}" in reqs

    module = modelyard.pytorch.load_model(tmp_path / "m")
    with torch.no_grad():
        np.testing.assert_allclose(
            module(torch.from_numpy(batch)).numpy(), _expected(net, batch), rtol=1e-5
        )
    model = modelyard.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_allclose(model.predict(batch), _expected(net, batch), rtol=1e-5)
    with pytest.raises(InvalidInput, match=r"expected \[-1, 3\].*got \[5, 4\]"):
        model.predict(np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(InvalidInput, match="expected float32, got float64"):
        model.predict(batch.astype(np.float64))


def test_dataframe_in_dataframe_out_without_signature(tmp_path: Path, net, batch) -> None:
    modelyard.pytorch.save_model(net, tmp_path / "m", input_example=batch)
    manifest = Model.load(tmp_path / "m")
    manifest.signature = None
    manifest.save(tmp_path / "m")
    model = modelyard.pyfunc.load_model(tmp_path / "m")
    assert model.signature is None
    out = model.predict(pd.DataFrame(batch.astype(np.float64)))
    assert isinstance(out, pd.DataFrame)
    np.testing.assert_allclose(out.to_numpy(), _expected(net, batch), rtol=1e-5)


def test_pt2_needs_an_input_example(tmp_path: Path, net) -> None:
    with pytest.raises(InvalidInput, match="needs an input_example") as info:
        modelyard.pytorch.save_model(net, tmp_path / "m")
    assert "serialization_format='pickle'" in info.value.message
    with pytest.raises(InvalidInput, match=r"torch\.nn\.Module"):
        modelyard.pytorch.save_model(object(), tmp_path / "n", serialization_format="pickle")


def test_whole_module_pickle_loads_only_with_opt_in(tmp_path: Path, net, batch) -> None:
    modelyard.pytorch.save_model(net, tmp_path / "m", serialization_format="pickle")
    data = tmp_path / "m" / "data"
    assert (data / "model.pth").is_file()
    assert (data / "pickle_module_info.txt").read_text() == "modelyard.models.flavors.torch_pickle"
    with pytest.raises(PermissionDenied) as info:
        modelyard.pytorch.load_model(tmp_path / "m")
    assert "data/model.pth" in info.value.message and "allow_pickle=True" in info.value.message
    module = modelyard.pytorch.load_model(tmp_path / "m", allow_pickle=True)
    assert isinstance(module, TwoLayer)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(), _expected(net, batch))


def test_unknown_pickle_module_is_refused(tmp_path: Path, net) -> None:
    modelyard.pytorch.save_model(net, tmp_path / "m", serialization_format="pickle")
    (tmp_path / "m" / "data" / "pickle_module_info.txt").write_text("os")
    with pytest.raises(InvalidInput, match="names the pickle module 'os'"):
        modelyard.pytorch.load_model(tmp_path / "m", allow_pickle=True)


def test_state_dict_round_trip_without_opt_in(tmp_path: Path, net, batch) -> None:
    file = modelyard.pytorch.save_state_dict(net.state_dict(), tmp_path / "sd")
    assert file.name == "state_dict.pth"
    fresh = TwoLayer()
    fresh.load_state_dict(modelyard.pytorch.load_state_dict(tmp_path / "sd"))
    with torch.no_grad():
        np.testing.assert_allclose(fresh(torch.from_numpy(batch)).numpy(), _expected(net, batch))
    torch.save({"weights": net.state_dict(), "extra": TwoLayer()}, tmp_path / "mixed.pth")
    with pytest.raises(InvalidInput, match="weights_only=True"):
        modelyard.pytorch.load_state_dict(tmp_path / "mixed.pth")
    with pytest.raises(NotFound, match=r"No state_dict\.pth"):
        modelyard.pytorch.load_state_dict(tmp_path / "nowhere")


def test_missing_model_data_names_the_file(tmp_path: Path, net, batch) -> None:
    modelyard.pytorch.save_model(net, tmp_path / "m", input_example=batch)
    (tmp_path / "m" / "data" / "model.pt2").unlink()
    with pytest.raises(NotFound, match=r"data/model\.pt2 \(or data/model\.pth\) is missing"):
        modelyard.pyfunc.load_model(tmp_path / "m")
