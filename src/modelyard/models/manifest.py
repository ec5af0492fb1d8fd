"""The ``MLmodel`` manifest at the root of every model directory (reference §3).

:class:`Model` reads and writes every key MLflow 3.17 writes. Keys it does not know are kept in
:attr:`Model.extra`, written back unchanged and otherwise ignored, so a manifest from a newer MLflow
survives a round trip. ``mlflow_version`` names the MLflow release whose format is written, so that
MLflow's own reader (which compares that version) accepts our models; ``modelyard_version`` says
which modelyard wrote it.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelyard.errors import InvalidInput, NotFound
from modelyard.models.signature import ModelSignature

MLMODEL_FILE = "MLmodel"
#: The MLflow release whose MLmodel format modelyard writes.
MLFLOW_FORMAT_VERSION = "3.17.2"
PYFUNC = "python_function"

_KNOWN = (
    "artifact_path",
    "flavors",
    "run_id",
    "model_uuid",
    "model_id",
    "utc_time_created",
    "mlflow_version",
    "modelyard_version",
    "signature",
    "saved_input_example_info",
    "model_size_bytes",
    "metadata",
    "is_signature_from_type_hint",
    "type_hint_from_example",
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _version() -> str:
    from modelyard import __version__

    return __version__


@dataclass
class Model:
    """An ``MLmodel`` manifest: flavors, identity, signature, example and free metadata."""

    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_path: str | None = None
    run_id: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    model_id: str | None = None
    utc_time_created: str = field(default_factory=_now)
    mlflow_version: str | None = MLFLOW_FORMAT_VERSION
    modelyard_version: str | None = field(default_factory=_version)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    metadata: dict[str, Any] | None = None
    is_signature_from_type_hint: bool | None = False
    type_hint_from_example: bool | None = False
    #: keys this version does not know, kept as read
    extra: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- flavors

    def add_flavor(self, name: str, **config: Any) -> Model:
        self.flavors[name] = config
        return self

    @property
    def pyfunc_conf(self) -> dict[str, Any] | None:
        return self.flavors.get(PYFUNC)

    def flavor_conf(self, name: str, model_dir: str | os.PathLike[str] = "") -> dict[str, Any]:
        conf = self.flavors.get(name)
        if conf is None:
            where = f" at {model_dir}" if model_dir else ""
            raise NotFound(
                f"The model{where} has no {name!r} flavor (it has: {sorted(self.flavors)}).",
                flavor=name,
            )
        return conf

    # -------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            {
                "flavors": self.flavors,
                "model_uuid": self.model_uuid,
                "model_id": self.model_id,
                "utc_time_created": self.utc_time_created,
                "mlflow_version": self.mlflow_version,
                "modelyard_version": self.modelyard_version,
                "is_signature_from_type_hint": self.is_signature_from_type_hint,
                "type_hint_from_example": self.type_hint_from_example,
            }
        )
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), default_flow_style=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        flavors = data.get("flavors") or {}
        if not isinstance(flavors, dict) or not all(isinstance(v, dict) for v in flavors.values()):
            raise InvalidInput("MLmodel: 'flavors' must be a mapping of flavor name to settings.")
        signature = data.get("signature")
        return cls(
            flavors=flavors,
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            model_uuid=data.get("model_uuid") or uuid.uuid4().hex,
            model_id=data.get("model_id"),
            utc_time_created=str(data.get("utc_time_created") or ""),
            mlflow_version=data.get("mlflow_version"),
            modelyard_version=data.get("modelyard_version"),
            signature=ModelSignature.from_dict(signature) if isinstance(signature, dict) else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            model_size_bytes=data.get("model_size_bytes"),
            metadata=data.get("metadata"),
            is_signature_from_type_hint=data.get("is_signature_from_type_hint"),
            type_hint_from_example=data.get("type_hint_from_example"),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read ``MLmodel`` from a model directory (or the path of the file itself).

        Raises :class:`NotFound` naming the missing file and :class:`InvalidInput` for YAML that
        does not parse or is not a manifest.
        """
        path = Path(path)
        file = path / MLMODEL_FILE if path.is_dir() else path
        if not file.is_file():
            where = path if path.is_dir() else path.parent
            raise NotFound(
                f"No {MLMODEL_FILE} file in {where}: a model directory needs one at its root.",
                path=str(file),
            )
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InvalidInput(f"{file} is not valid YAML: {e}", path=str(file)) from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{file} is not an MLmodel manifest (expected a YAML mapping).")
        return cls.from_dict(data)

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        file = Path(model_dir) / MLMODEL_FILE
        file.write_text(self.to_yaml(), encoding="utf-8")
        return file


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went and what its manifest says."""

    model_uri: str
    run_id: str
    artifact_path: str
    model_uuid: str
    utc_time_created: str
    flavors: dict[str, dict[str, Any]]
    signature: ModelSignature | None
    metadata: dict[str, Any] | None
    registered_model_version: str | None = None
    model_id: str | None = None


def directory_size(path: str | os.PathLike[str]) -> int:
    """Total size in bytes of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


__all__ = [
    "MLFLOW_FORMAT_VERSION",
    "MLMODEL_FILE",
    "PYFUNC",
    "Model",
    "ModelInfo",
    "directory_size",
]
