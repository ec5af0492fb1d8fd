"""The PyTorch flavor (CPU), in MLflow 3.17's layout under ``data/``.

Two formats, by ``serialization_format``:

* ``pt2`` (the default): the module traced with ``torch.export`` from the ``input_example`` and
  saved with ``torch.export.save`` to ``data/model.pt2``; the batch dimension stays free;
* ``pickle``: the whole module written with ``torch.save`` to ``data/model.pth`` (the pickle module
  named in ``data/pickle_module_info.txt``, cloudpickle-based so classes defined in ``__main__``
  survive). Loading it unpickles code, so it needs the pickle opt-in, and then uses
  ``torch.load(weights_only=False)``.

State dicts (:func:`save_state_dict`, :func:`load_state_dict`) hold only tensors and always load with
``torch.load(weights_only=True)``, with no opt-in.

``MLmodel`` gets a ``pytorch`` flavor (``model_data``, ``pytorch_version``, ``code``) and a
``python_function`` flavor with ``loader_module: mlflow.pytorch``, which modelyard answers for too.
Through ``predict`` a DataFrame goes in as a float32 tensor and comes back as a DataFrame; arrays come
back as arrays.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, NotFound
from modelyard.models import environment
from modelyard.models.environment import ENV_CONF
from modelyard.models.examples import split_example
from modelyard.models.manifest import PYFUNC, Model
from modelyard.models.safety import optional_import, require_pickle_opt_in
from modelyard.models.saving import PipRequirements, copy_code_paths, finish_model, new_model_dir
from modelyard.models.signature import ModelSignature, infer_signature

FLAVOR_NAME = "pytorch"
LOADER_MODULE = "mlflow.pytorch"
DATA_DIR = "data"
PICKLED_FILE = "model.pth"
EXPORTED_FILE = "model.pt2"
STATE_DICT_FILE = "state_dict.pth"
PICKLE_MODULE_INFO = "pickle_module_info.txt"
PICKLE_MODULE = "modelyard.models.flavors.torch_pickle"
#: pickle modules a saved model may name; importing any other module named by a file is refused
KNOWN_PICKLE_MODULES = (PICKLE_MODULE, "mlflow.pytorch.pickle_module", "pickle", "cloudpickle")


def _torch() -> Any:
    return optional_import("torch", "The pytorch flavor")


def _as_tensor(torch: Any, data: Any) -> Any:
    import numpy as np

    if isinstance(data, torch.Tensor):
        return data
    array = np.asarray(data)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array))


class PytorchPredictor:
    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np

        torch = _torch()
        frame_type = None
        try:
            import pandas as pd

            if isinstance(data, pd.DataFrame):
                frame_type = pd.DataFrame
                data = data.to_numpy(dtype=np.float32)
        except ImportError:
            pass
        with torch.no_grad():
            output = self.module(_as_tensor(torch, data))
        result = output.detach().cpu().numpy() if isinstance(output, torch.Tensor) else output
        if frame_type is not None and isinstance(result, np.ndarray):
            return frame_type(result if result.ndim > 1 else result.reshape(-1, 1))
        return result


class PytorchFlavor:
    name = FLAVOR_NAME
    loader_modules = (LOADER_MODULE, "modelyard.pytorch", "modelyard.models.flavors.pytorch")

    def save(
        self,
        path: str | os.PathLike[str],
        model: Any,
        *,
        serialization_format: str | None = None,
        signature: ModelSignature | None = None,
        input_example: Any = None,
        code_paths: Sequence[str | os.PathLike[str]] | None = None,
        pip_requirements: PipRequirements = None,
        extra_pip_requirements: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Model:
        torch = _torch()
        if not isinstance(model, torch.nn.Module):
            raise InvalidInput(
                f"pytorch save_model needs a torch.nn.Module, got {type(model).__name__}."
            )
        fmt = serialization_format or "pt2"
        if fmt not in ("pt2", "pickle"):
            raise InvalidInput(f"serialization_format must be 'pt2' or 'pickle', got {fmt!r}.")
        data, params = split_example(input_example)
        if fmt == "pt2" and data is None:
            raise InvalidInput(
                "Saving a PyTorch model in the pt2 format traces it, so it needs an input_example "
                "(an array or tensor of one batch). Pass input_example=..., or "
                "serialization_format='pickle' to save the whole module with torch.save (loading "
                "that needs the pickle opt-in)."
            )
        model_dir = new_model_dir(path)
        code = copy_code_paths(model_dir, code_paths)
        data_dir = model_dir / DATA_DIR
        data_dir.mkdir()
        model.eval()
        packages = ["torch"]
        if fmt == "pt2":
            example = _as_tensor(torch, data)
            if example.ndim and example.shape[0] == 1:
                # torch.export fixes dimensions of size 1; trace a batch of two to keep it free
                example = torch.cat([example, example])
            dynamic = ({0: torch.export.Dim.AUTO},) if example.ndim else None
            exported = torch.export.export(model, (example,), dynamic_shapes=dynamic)
            torch.export.save(exported, data_dir / EXPORTED_FILE)
        else:
            pickle_module = importlib.import_module(PICKLE_MODULE)
            (data_dir / PICKLE_MODULE_INFO).write_text(PICKLE_MODULE)
            torch.save(model, data_dir / PICKLED_FILE, pickle_module=pickle_module)
            packages.append("cloudpickle")

        if signature is None and data is not None:
            try:
                output = PytorchPredictor(model).predict(data)
            except Exception:
                output = None
            signature = infer_signature(data, output, params)

        manifest = Model()
        pyfunc_conf: dict[str, Any] = {
            "config": {"device": None},
            "data": DATA_DIR,
            "env": dict(ENV_CONF),
            "loader_module": LOADER_MODULE,
            "python_version": environment.python_version(),
        }
        if fmt == "pickle":
            pyfunc_conf["pickle_module_name"] = PICKLE_MODULE
        if code:
            pyfunc_conf["code"] = code
        manifest.add_flavor(PYFUNC, **pyfunc_conf)
        manifest.add_flavor(
            FLAVOR_NAME, code=code, model_data=DATA_DIR, pytorch_version=str(torch.__version__)
        )
        return finish_model(
            model_dir,
            manifest,
            signature=signature,
            input_example=input_example,
            default_requirements=environment.infer_requirements(packages, code_paths or []),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )

    def load(
        self, model_dir: Path, manifest: Model, *, allow_pickle: bool | None = None, **_: Any
    ) -> Any:
        torch = _torch()
        conf = manifest.flavors.get(FLAVOR_NAME) or {}
        pyfunc = manifest.pyfunc_conf or {}
        data_dir = model_dir / str(conf.get("model_data") or pyfunc.get("data") or DATA_DIR)
        if data_dir.is_file():
            pickled, exported = data_dir, None
            data_dir = data_dir.parent
        else:
            pickled, exported = data_dir / PICKLED_FILE, data_dir / EXPORTED_FILE
        if exported is not None and exported.is_file():
            return torch.export.load(exported).module()
        if not pickled.is_file():
            raise NotFound(
                f"The model file {DATA_DIR}/{EXPORTED_FILE} (or {DATA_DIR}/{PICKLED_FILE}) is "
                f"missing from {model_dir}.",
                path=str(data_dir),
            )
        require_pickle_opt_in(
            allow_pickle, f"{data_dir.name}/{pickled.name}", "torch.save (pickle)"
        )
        info = data_dir / PICKLE_MODULE_INFO
        module_name = info.read_text().strip() if info.is_file() else "pickle"
        if module_name not in KNOWN_PICKLE_MODULES:
            raise InvalidInput(
                f"{PICKLE_MODULE_INFO} names the pickle module {module_name!r}, which modelyard "
                f"does not use to load models (known: {', '.join(KNOWN_PICKLE_MODULES)})."
            )
        pickle_module = importlib.import_module(module_name)
        module = torch.load(pickled, weights_only=False, pickle_module=pickle_module)
        module.eval()
        return module

    def load_pyfunc(self, model_dir: Path, manifest: Model, **options: Any) -> PytorchPredictor:
        return PytorchPredictor(self.load(model_dir, manifest, **options))


FLAVOR = PytorchFlavor()


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a state dict (tensors only) to ``path/state_dict.pth``."""
    torch = _torch()
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / STATE_DICT_FILE
    torch.save(dict(state_dict), file)
    return file


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state dict written by :func:`save_state_dict` (or MLflow's), tensors only."""
    torch = _torch()
    path = Path(path)
    file = path / STATE_DICT_FILE if path.is_dir() else path
    if not file.is_file():
        raise NotFound(f"No {STATE_DICT_FILE} in {path}.", path=str(file))
    try:
        state: dict[str, Any] = torch.load(file, weights_only=True)
    except Exception as e:
        raise InvalidInput(
            f"{file.name} is not a plain state dict (it loads only with weights_only=True): {e}"
        ) from None
    return state


__all__ = ["FLAVOR", "PytorchFlavor", "PytorchPredictor", "load_state_dict", "save_state_dict"]
