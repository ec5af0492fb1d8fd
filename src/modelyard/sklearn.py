"""``modelyard.sklearn``: save, log and load scikit-learn models (skops by default).

import modelyard.sklearn

modelyard.sklearn.save_model(estimator, "model", input_example=X[:5])
info = modelyard.sklearn.log_model(estimator, name="model")      # into the active run
estimator = modelyard.sklearn.load_model(info.model_uri)
"""

from __future__ import annotations

import os
from typing import Any

from modelyard.models.flavors.sklearn import FLAVOR, FORMATS
from modelyard.models.manifest import Model, ModelInfo
from modelyard.models.pyfunc import load_flavor
from modelyard.pyfunc import log_model_with, model_name, resolve_model_uri

SERIALIZATION_FORMATS = FORMATS


def save_model(sk_model: Any, path: str | os.PathLike[str], **options: Any) -> Model:
    """Save ``sk_model`` to the directory ``path``.

    Options: ``serialization_format`` (``"skops"``, or ``"cloudpickle"``/``"pickle"`` on request),
    ``signature``, ``input_example``, ``code_paths``, ``pip_requirements``,
    ``extra_pip_requirements``, ``metadata``, ``skops_trusted_types``, ``pyfunc_predict_fn``.
    """
    return FLAVOR.save(path, sk_model, **options)


def log_model(
    sk_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    **options: Any,
) -> ModelInfo:
    """Save ``sk_model`` into the active run (or ``run_id``) as ``name``; options as :func:`save_model`."""
    return log_model_with(
        lambda path: FLAVOR.save(path, sk_model, **options),
        model_name(name, artifact_path),
        run_id=run_id,
        registered_model_name=registered_model_name,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    dst_path: str | None = None,
    allow_pickle: bool | None = None,
    skops_trusted_types: list[str] | None = None,
) -> Any:
    """The estimator at ``model_uri``: a path or a ``file://``, ``runs:/`` or ``models:/`` URI."""
    return load_flavor(
        "sklearn",
        resolve_model_uri(model_uri, dst_path),
        allow_pickle=allow_pickle,
        skops_trusted_types=skops_trusted_types,
    )


__all__ = ["SERIALIZATION_FORMATS", "load_model", "log_model", "save_model"]
