"""The environment a model needs: ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.

Requirements are pinned to the versions installed where the model is saved. They are the flavor's
own packages (``scikit-learn``, ``torch``, ...), modelyard, and the third-party packages that the
model's code imports (found by reading the ``import`` statements of the model's source file, the
models-from-code file and the ``code_paths``).
"""

from __future__ import annotations

import ast
import functools
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

import yaml

from modelyard.errors import InvalidInput

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

#: pyfunc ``env`` block that points at the two environment files
ENV_CONF = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}

#: Distributions never listed: the interpreter's own tooling.
_SKIP = {"pip", "setuptools", "wheel"}


def python_version() -> str:
    return platform.python_version()


@functools.cache
def _module_to_distributions() -> dict[str, list[str]]:
    return {k: list(v) for k, v in metadata.packages_distributions().items()}


def _installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pin(dist: str) -> str:
    """``name==installed version``, or the bare name when it is not installed."""
    version = _installed_version(dist)
    return dist if version is None else f"{dist}=={version}"


def imported_modules(files: Iterable[str | os.PathLike[str]]) -> set[str]:
    """Top-level module names imported by the Python files (and directories of them) given."""
    names: set[str] = set()
    for item in files:
        path = Path(item)
        sources = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for source in sources:
            if source.suffix != ".py" or not source.is_file():
                continue
            try:
                tree = ast.parse(source.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def distributions_for(modules: Iterable[str]) -> set[str]:
    """The installed distributions that provide ``modules``, leaving out the standard library."""
    table = _module_to_distributions()
    found: set[str] = set()
    for module in modules:
        if module in sys.stdlib_module_names or module == "__main__":
            continue
        for dist in table.get(module, []):
            found.add(dist)
    return found - _SKIP


def infer_requirements(
    packages: Iterable[str] = (), code_files: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """Pinned requirements: ``packages`` plus what ``code_files`` import, plus modelyard."""
    dists = {p for p in packages} | distributions_for(imported_modules(code_files))
    dists.add("modelyard")
    canonical = {d.lower().replace("_", "-"): d for d in sorted(dists)}
    return [pin(canonical[name]) for name in sorted(canonical)]


def _read_requirements(pip_requirements: str | os.PathLike[str] | Sequence[str]) -> list[str]:
    if isinstance(pip_requirements, (str, os.PathLike)):
        path = Path(pip_requirements)
        if not path.is_file():
            raise InvalidInput(f"pip_requirements file {path} does not exist.")
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = [str(r) for r in pip_requirements]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def write_environment(
    model_dir: str | os.PathLike[str],
    *,
    default_requirements: Sequence[str],
    pip_requirements: str | os.PathLike[str] | Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
) -> list[str]:
    """Write the three environment files; return the requirements written."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidInput("Pass pip_requirements or extra_pip_requirements, not both.")
    if pip_requirements is not None:
        requirements = _read_requirements(pip_requirements)
    else:
        requirements = list(default_requirements)
        for extra in _read_requirements(extra_pip_requirements or []):
            if extra not in requirements:
                requirements.append(extra)
    model_dir = Path(model_dir)
    (model_dir / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    build = [pin("pip"), pin("setuptools"), pin("wheel")]
    python_env = {
        "python": python_version(),
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (model_dir / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8"
    )
    pip_version = _installed_version("pip")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={python_version()}",
            f"pip<={pip_version}" if pip_version else "pip",
            {"pip": requirements},
        ],
        "name": "mlflow-env",
    }
    (model_dir / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=False), encoding="utf-8")
    return requirements


__all__ = [
    "CONDA_FILE",
    "ENV_CONF",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "distributions_for",
    "imported_modules",
    "infer_requirements",
    "pin",
    "python_version",
    "write_environment",
]
