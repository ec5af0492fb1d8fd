"""Opt-in for model files that unpickle arbitrary code, and imports of optional libraries.

Unpickling runs whatever code the file names, so a model saved with pickle, cloudpickle or a
whole-module ``torch.save`` loads only when the caller opts in: ``allow_pickle=True`` on the load
call, or the setting ``MODELYARD_ALLOW_PICKLE=true``. Without it :class:`PermissionDenied` says
exactly that.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from modelyard.errors import ModelyardError, PermissionDenied

ALLOW_PICKLE_ENV = "MODELYARD_ALLOW_PICKLE"


def pickle_allowed(allow_pickle: bool | None) -> bool:
    """The caller's choice, or the ``allow_pickle`` setting when the caller made none."""
    if allow_pickle is not None:
        return bool(allow_pickle)
    from modelyard.settings import load_settings

    return bool(load_settings().allow_pickle)


def require_pickle_opt_in(allow_pickle: bool | None, file: str, fmt: str) -> None:
    """Raise :class:`PermissionDenied` unless unpickling ``file`` was opted into."""
    if pickle_allowed(allow_pickle):
        return
    raise PermissionDenied(
        f"Refusing to load {file}: it is stored with {fmt}, which can run arbitrary code when "
        "loaded. If you trust where this model comes from, opt in with "
        f"load_model(..., allow_pickle=True) or set the environment variable {ALLOW_PICKLE_ENV}=true.",
        file=file,
    )


#: import name -> the extra that installs it
_EXTRAS = {
    "sklearn": "sklearn",
    "skops": "sklearn",
    "torch": "pytorch",
    "pandas": "pandas",
}


def optional_import(name: str, purpose: str) -> ModuleType:
    """Import an optional library, or raise with the pip command that installs it."""
    try:
        return import_module(name)
    except ImportError:
        top = name.split(".")[0]
        extra = _EXTRAS.get(top)
        fix = f"pip install 'modelyard[{extra}]'" if extra else f"pip install {top}"
        raise ModelyardError(f"{purpose} needs {top}, which is not installed: {fix}") from None


__all__ = ["ALLOW_PICKLE_ENV", "optional_import", "pickle_allowed", "require_pickle_opt_in"]
