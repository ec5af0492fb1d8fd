"""Steps every flavor's ``save`` shares: the target directory, code paths, example, environment."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.models.environment import write_environment
from modelyard.models.examples import save_input_example
from modelyard.models.manifest import Model, directory_size
from modelyard.models.signature import ModelSignature

CODE_DIR = "code"

PipRequirements = str | os.PathLike[str] | Sequence[str] | None


def new_model_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` for a new model; refuse a directory that already has files."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise AlreadyExists(f"Cannot save a model to {path}: it already exists and is not empty.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_into(src: str | os.PathLike[str], dest_dir: Path) -> Path:
    """Copy a file or directory into ``dest_dir``, keeping its base name."""
    src = Path(src)
    if not src.exists():
        raise NotFound(f"{src} does not exist.", path=str(src))
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)
    return dest


def copy_code_paths(
    model_dir: Path, code_paths: Sequence[str | os.PathLike[str]] | None
) -> str | None:
    """Copy ``code_paths`` under ``code/``; the sub-path for ``MLmodel`` or ``None``."""
    if not code_paths:
        return None
    if isinstance(code_paths, (str, os.PathLike)):
        raise InvalidInput("code_paths must be a list of paths, not a single path.")
    for item in code_paths:
        copy_into(item, model_dir / CODE_DIR)
    return CODE_DIR


def finish_model(
    model_dir: Path,
    manifest: Model,
    *,
    signature: ModelSignature | None,
    input_example: Any,
    default_requirements: Sequence[str],
    pip_requirements: PipRequirements = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Model:
    """Write the example, the environment files and ``MLmodel``; return the manifest."""
    manifest.signature = signature
    if metadata is not None:
        manifest.metadata = dict(metadata)
    if input_example is not None:
        manifest.saved_input_example_info = save_input_example(model_dir, input_example)
    write_environment(
        model_dir,
        default_requirements=default_requirements,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
    )
    manifest.model_size_bytes = directory_size(model_dir)
    manifest.save(model_dir)
    return manifest


__all__ = ["CODE_DIR", "copy_code_paths", "copy_into", "finish_model", "new_model_dir"]
