"""``modelyard.sklearn``: save and load scikit-learn models (skops by default).

import modelyard.sklearn

modelyard.sklearn.save_model(estimator, "model", input_example=X[:5])
estimator = modelyard.sklearn.load_model("model")
"""

from __future__ import annotations

import os
from typing import Any

from modelyard.models.flavors.sklearn import FLAVOR, FORMATS
from modelyard.models.manifest import Model
from modelyard.models.pyfunc import load_flavor

SERIALIZATION_FORMATS = FORMATS


def save_model(sk_model: Any, path: str | os.PathLike[str], **options: Any) -> Model:
    """Save ``sk_model`` to the directory ``path``.

    Options: ``serialization_format`` (``"skops"``, or ``"cloudpickle"``/``"pickle"`` on request),
    ``signature``, ``input_example``, ``code_paths``, ``pip_requirements``,
    ``extra_pip_requirements``, ``metadata``, ``skops_trusted_types``, ``pyfunc_predict_fn``.
    """
    return FLAVOR.save(path, sk_model, **options)


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    allow_pickle: bool | None = None,
    skops_trusted_types: list[str] | None = None,
) -> Any:
    """The estimator saved at ``model_uri`` (a local path or ``file://`` URI)."""
    return load_flavor(
        "sklearn", model_uri, allow_pickle=allow_pickle, skops_trusted_types=skops_trusted_types
    )


__all__ = ["SERIALIZATION_FORMATS", "load_model", "save_model"]
