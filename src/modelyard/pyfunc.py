"""``modelyard.pyfunc``: save custom Python models and load any model as a generic function.

import modelyard.pyfunc

modelyard.pyfunc.save_model("model", python_model=MyModel(), artifacts={"knn": "knn.skops"})
model = modelyard.pyfunc.load_model("model")
model.predict(frame, params={"k": 5})
"""

from __future__ import annotations

import os
from typing import Any

from modelyard.models import pyfunc as _pyfunc
from modelyard.models.flavors.python_model import (
    FunctionModel,
    PythonModel,
    PythonModelContext,
    save_model,
    set_model,
)
from modelyard.models.pyfunc import PyFuncModel
from modelyard.models.signature import infer_signature


def load_model(
    model_uri: str | os.PathLike[str], *, allow_pickle: bool | None = None, **options: Any
) -> PyFuncModel:
    """Load a model from a local path or ``file://`` URI as a :class:`PyFuncModel`.

    ``allow_pickle=True`` (or ``MODELYARD_ALLOW_PICKLE=true``) opts in to models stored with
    pickle; trust the source first.
    """
    return _pyfunc.load_model(model_uri, allow_pickle=allow_pickle, **options)


__all__ = [
    "FunctionModel",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "infer_signature",
    "load_model",
    "save_model",
    "set_model",
]
