"""The generic ``python_function`` interface: load any model directory, call ``predict``.

:func:`load_model` reads ``MLmodel``, picks the flavor that answers for the ``python_function``
``loader_module`` (MLflow's loader names included, so MLflow's models load too) and wraps what it
returns in :class:`PyFuncModel`, whose ``predict(data, params=None)`` checks the input and the params
against the model's signature first. It takes a local path or a ``file://`` URI; resolving
``runs:/`` and ``models:/`` URIs is the job of the public modules (``modelyard.pyfunc``), which sit
above the tracking client.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelyard.errors import InvalidInput, NotFound
from modelyard.models.examples import load_input_example
from modelyard.models.flavors import Predictor, flavor_for_loader, get_flavor
from modelyard.models.flavors.python_model import (
    FunctionModel,
    PythonModel,
    PythonModelContext,
    PythonModelPredictor,
    add_code_to_path,
    save_model,
    set_model,
)
from modelyard.models.manifest import PYFUNC, Model
from modelyard.models.signature import ModelSignature, enforce_params, enforce_schema


def local_model_dir(path_or_uri: str | os.PathLike[str]) -> Path:
    """The local directory of a model given as a path or a ``file://`` URI."""
    text = os.fspath(path_or_uri)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        text = unquote(parsed.path)
    elif len(parsed.scheme) > 1:
        raise InvalidInput(
            f"Cannot load {text!r} here: only local paths and file:// URIs are read by "
            "modelyard.models; use modelyard.pyfunc.load_model for runs:/ and models:/ URIs.",
            uri=text,
        )
    path = Path(text)
    if not path.exists():
        raise NotFound(f"No model at {path}: the directory does not exist.", path=str(path))
    if path.is_file():
        if path.name == "MLmodel":
            return path.parent
        raise InvalidInput(f"{path} is a file; a model is a directory with an MLmodel file.")
    return path


class PyFuncModel:
    """A loaded model behind one ``predict(data, params=None)``, its signature enforced."""

    def __init__(self, model_dir: Path, manifest: Model, impl: Predictor) -> None:
        self.model_dir = model_dir
        self.metadata = manifest
        self._impl = impl

    @property
    def signature(self) -> ModelSignature | None:
        return self.metadata.signature

    @property
    def loader_module(self) -> str:
        return str((self.metadata.pyfunc_conf or {}).get("loader_module"))

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on a DataFrame, a numpy array, a dict or a list.

        With a signature the input is checked and converted first (:class:`InvalidInput` names
        the column or tensor and the expected type) and missing params get their defaults.
        """
        signature = self.signature
        if signature is not None and signature.inputs is not None:
            data = enforce_schema(data, signature.inputs)
        params = enforce_params(params, signature.params if signature else None)
        return self._impl.predict(data, params=params or None)

    def unwrap_python_model(self) -> Any:
        """The loaded :class:`PythonModel` of a custom model."""
        if not isinstance(self._impl, PythonModelPredictor):
            raise InvalidInput("This model is not a custom Python model.")
        return self._impl.python_model

    def get_raw_model(self) -> Any:
        """The underlying object: the estimator, the torch module or the Python model."""
        if isinstance(self._impl, PythonModelPredictor):
            return self._impl.python_model
        return getattr(self._impl, "model", getattr(self._impl, "module", self._impl))

    def input_example(self) -> Any:
        """The saved input example, or ``None``."""
        return load_input_example(self.model_dir, self.metadata.saved_input_example_info)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={str(self.model_dir)!r})"


def load_model(
    path_or_uri: str | os.PathLike[str], *, allow_pickle: bool | None = None, **options: Any
) -> PyFuncModel:
    """Load the model at a local path (or ``file://`` URI) as a :class:`PyFuncModel`.

    ``allow_pickle=True`` (or the setting ``MODELYARD_ALLOW_PICKLE``) is needed for models whose
    files unpickle code; other ``options`` go to the flavor (``skops_trusted_types``, ...).
    """
    model_dir = local_model_dir(path_or_uri)
    manifest = Model.load(model_dir)
    conf = manifest.pyfunc_conf
    if conf is None:
        raise InvalidInput(
            f"The model at {model_dir} has no {PYFUNC!r} flavor, so it cannot be loaded as a "
            f"generic Python function (its flavors: {sorted(manifest.flavors)}).",
            path=str(model_dir),
        )
    loader = conf.get("loader_module")
    if not loader:
        raise InvalidInput(f"{model_dir}/MLmodel: the python_function flavor has no loader_module.")
    flavor = flavor_for_loader(str(loader))
    add_code_to_path(model_dir, conf)
    impl = flavor.load_pyfunc(model_dir, manifest, allow_pickle=allow_pickle, **options)
    return PyFuncModel(model_dir, manifest, impl)


def load_flavor(
    flavor_name: str,
    path_or_uri: str | os.PathLike[str],
    *,
    allow_pickle: bool | None = None,
    **options: Any,
) -> Any:
    """The native object of one flavor (an estimator, a torch module) from a local model."""
    model_dir = local_model_dir(path_or_uri)
    manifest = Model.load(model_dir)
    manifest.flavor_conf(flavor_name, model_dir)
    add_code_to_path(model_dir, manifest.flavors[flavor_name])
    return get_flavor(flavor_name).load(model_dir, manifest, allow_pickle=allow_pickle, **options)


__all__ = [
    "FunctionModel",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_flavor",
    "load_model",
    "local_model_dir",
    "save_model",
    "set_model",
]
