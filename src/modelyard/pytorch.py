"""``modelyard.pytorch``: save and load PyTorch modules (CPU) and state dicts.

import modelyard.pytorch

modelyard.pytorch.save_model(net, "model", input_example=x)   # torch.export, no pickle
net = modelyard.pytorch.load_model("model")
"""

from __future__ import annotations

import os
from typing import Any

from modelyard.models.flavors.pytorch import FLAVOR, load_state_dict, save_state_dict
from modelyard.models.manifest import Model
from modelyard.models.pyfunc import load_flavor


def save_model(pytorch_model: Any, path: str | os.PathLike[str], **options: Any) -> Model:
    """Save ``pytorch_model`` to the directory ``path``.

    Options: ``serialization_format`` (``"pt2"``, the default, needs ``input_example``;
    ``"pickle"`` saves the whole module with ``torch.save``), ``signature``, ``input_example``,
    ``code_paths``, ``pip_requirements``, ``extra_pip_requirements``, ``metadata``.
    """
    return FLAVOR.save(path, pytorch_model, **options)


def load_model(model_uri: str | os.PathLike[str], *, allow_pickle: bool | None = None) -> Any:
    """The ``torch.nn.Module`` saved at ``model_uri`` (a local path or ``file://`` URI)."""
    return load_flavor("pytorch", model_uri, allow_pickle=allow_pickle)


__all__ = ["load_model", "load_state_dict", "save_model", "save_state_dict"]
