"""``modelyard.pytorch``: save, log and load PyTorch modules (CPU) and state dicts.

import modelyard.pytorch

modelyard.pytorch.save_model(net, "model", input_example=x)   # torch.export, no pickle
info = modelyard.pytorch.log_model(net, name="model", input_example=x)
net = modelyard.pytorch.load_model(info.model_uri)
"""

from __future__ import annotations

import os
from typing import Any

from modelyard.models.flavors.pytorch import FLAVOR, load_state_dict, save_state_dict
from modelyard.models.manifest import Model, ModelInfo
from modelyard.models.pyfunc import load_flavor
from modelyard.pyfunc import log_model_with, model_name, resolve_model_uri


def save_model(pytorch_model: Any, path: str | os.PathLike[str], **options: Any) -> Model:
    """Save ``pytorch_model`` to the directory ``path``.

    Options: ``serialization_format`` (``"pt2"``, the default, needs ``input_example``;
    ``"pickle"`` saves the whole module with ``torch.save``), ``signature``, ``input_example``,
    ``code_paths``, ``pip_requirements``, ``extra_pip_requirements``, ``metadata``.
    """
    return FLAVOR.save(path, pytorch_model, **options)


def log_model(
    pytorch_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    **options: Any,
) -> ModelInfo:
    """Save ``pytorch_model`` into the active run (or ``run_id``) as ``name``; options as :func:`save_model`."""
    return log_model_with(
        lambda path: FLAVOR.save(path, pytorch_model, **options),
        model_name(name, artifact_path),
        run_id=run_id,
        registered_model_name=registered_model_name,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    dst_path: str | None = None,
    allow_pickle: bool | None = None,
) -> Any:
    """The ``torch.nn.Module`` at ``model_uri``: a path or a ``file://``, ``runs:/`` or ``models:/`` URI."""
    return load_flavor("pytorch", resolve_model_uri(model_uri, dst_path), allow_pickle=allow_pickle)


__all__ = ["load_model", "load_state_dict", "log_model", "save_model", "save_state_dict"]
