"""Models: the MLmodel format, signatures, input examples, environments and flavors.

This package knows nothing about tracking: it reads and writes model directories. Logging a model
to a run and loading one by ``runs:/`` URI live in the public modules ``modelyard.pyfunc``,
``modelyard.sklearn`` and ``modelyard.pytorch``, which sit above both this package and the client.

numpy, pandas, scikit-learn and torch are imported only when a function needs them.
"""

from __future__ import annotations

from modelyard.models.manifest import MLFLOW_FORMAT_VERSION, MLMODEL_FILE, Model
from modelyard.models.signature import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)

__all__ = [
    "MLFLOW_FORMAT_VERSION",
    "MLMODEL_FILE",
    "ColSpec",
    "DataType",
    "Model",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "infer_signature",
]
