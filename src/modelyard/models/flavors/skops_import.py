"""Importing ``skops.io`` without paying for its scan of scikit-learn, numpy and scipy each time.

On import, ``skops.io._trusted_types`` works out the names of the types skops trusts by default:

* every scikit-learn estimator (``sklearn.utils.all_estimators``, which imports all of
  scikit-learn, and with it torch when torch is installed, though no estimator lives in
  ``sklearn.externals.array_api_compat.torch``), plus a few internal types, one of which imports
  ``sklearn.ensemble``;
* every ufunc of numpy and ``scipy.special``, each looked for in every loaded module
  (``skops.io._utils.whichmodule``, tens of thousands of ``getattr`` calls);
* numpy's scalar types and random bit generators.

That is about 0.3 s of CPU (a quarter of a scoring server's start) before a scikit-learn model can
load, on every import. :func:`import_skops_io` runs that scan once and keeps its result (the
name lists, nothing else) in a small JSON file of the user's cache directory
(``$XDG_CACHE_HOME/modelyard`` or ``~/.cache/modelyard``), keyed by the versions of Python, skops,
scikit-learn, numpy and scipy and by the size and time of skops's own module. The next import hands
skops a stand-in ``skops.io._trusted_types`` holding the same lists, so the trusted types are
exactly the ones skops worked out; the check of a model's types is skops's own, unchanged.

A cached list is used only if it passes the same filters skops applies, and more: a name must be a
scikit-learn name (``sklearn.``), one of the builtins skops trusts, or a numpy or scipy name that
resolves, in the modules already loaded, to a ufunc, a numpy scalar type or a bit generator. A file
that fails any check (corrupt, edited, from another version) is ignored and the scan runs as usual,
which then writes it again; an unwritable cache directory only means the scan runs each time.
While the scan runs, that torch package is a placeholder with no subpackages (removed right after,
so anything that needs torch later imports the real one).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import Any

from modelyard.models.safety import optional_import

_MODULE = "skops.io._trusted_types"
_TORCH_PLACEHOLDER = "sklearn.externals.array_api_compat.torch"
#: the builtins skops trusts (its PRIMITIVE_TYPE_NAMES and CONTAINER_TYPE_NAMES)
_BUILTINS = frozenset(
    f"builtins.{t.__name__}" for t in (int, float, str, bool, list, set, map, tuple)
)
_FORMAT = 1
_LOCK = threading.Lock()


def import_skops_io(purpose: str = "Loading a skops model") -> types.ModuleType:
    """``skops.io``, imported with the trusted-type names from the cache when it is there.

    Safe to call from several threads at once: one imports, the others wait for it.
    """
    if "skops.io" in sys.modules:  # imported, or being imported (import waits until it is done)
        return importlib.import_module("skops.io")
    with _LOCK:
        if "skops.io" in sys.modules:
            return importlib.import_module("skops.io")
        return _import_skops_io(purpose)


def _import_skops_io(purpose: str) -> types.ModuleType:
    try:
        import numpy
        import scipy
        import sklearn
        import sklearn.utils
        import skops
    except ImportError:
        return optional_import("skops.io", purpose)  # raises with the pip command
    import scipy.special  # skops scans it; loaded first, so that cached names resolve

    key = _cache_key(skops, sklearn, numpy, scipy)
    path = _cache_path(key)
    lists = _read(path, key) if path is not None else None
    if lists is not None:
        return _import_with(lists, skops)
    module = _import_scanning(sklearn)
    if path is not None:
        _write(path, key, _lists_of(sys.modules.get(_MODULE)))
    return module


def _cache_key(skops: Any, sklearn: Any, numpy: Any, scipy: Any) -> dict[str, Any]:
    source = Path(skops.__file__).parent / "io" / "_trusted_types.py"
    try:
        stat = source.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
    except OSError:
        stamp = None
    return {
        "format": _FORMAT,
        "python": sys.version.split()[0],
        "skops": str(getattr(skops, "__version__", "")),
        "sklearn": str(sklearn.__version__),
        "numpy": str(numpy.__version__),
        "scipy": str(scipy.__version__),
        "source": stamp,
    }


def _cache_path(key: dict[str, Any]) -> Path | None:
    if key["source"] is None:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "modelyard"
    name = "-".join(str(key[k]) for k in ("skops", "sklearn", "numpy", "scipy", "python"))
    return root / f"skops-trusted-types-{name}.json"


def _read(path: Path, key: dict[str, Any]) -> dict[str, list[str]] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    lists = data.get("lists")
    if not isinstance(lists, dict) or not lists:
        return None
    import numpy as np
    from skops.utils._fixes import get_scipy_ufunc_wrapper_type

    wrapper = get_scipy_ufunc_wrapper_type()
    functions = (np.ufunc,) if wrapper is None else (np.ufunc, wrapper)
    types_ = (np.generic, np.random.BitGenerator)
    for name, values in lists.items():
        if not (isinstance(name, str) and name.isupper() and name.endswith("_NAMES")):
            return None
        if not isinstance(values, list):
            return None
        if not all(_acceptable(v, functions, types_) for v in values):
            return None
    return lists


def _acceptable(name: Any, functions: tuple[type, ...], types_: tuple[type, ...]) -> bool:
    """Whether ``name`` is a type name skops itself could have put in its trusted lists."""
    if not isinstance(name, str):
        return False
    if name.startswith("sklearn."):
        return True  # skops trusts its scikit-learn names by this same prefix
    if name.startswith("builtins."):
        return name in _BUILTINS
    if not name.startswith(("numpy", "scipy")):
        return False
    module_name, _, attr = name.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None or not attr:
        return False
    with warnings.catch_warnings():  # numpy.core's shims warn on access
        warnings.simplefilter("ignore")
        obj = getattr(module, attr, None)
    if isinstance(obj, functions):  # a numpy or scipy ufunc (scipy 2 wraps some of its own)
        return True
    return isinstance(obj, type) and issubclass(obj, types_)  # a scalar type, a bit generator


def _lists_of(module: types.ModuleType | None) -> dict[str, list[str]]:
    if module is None or not hasattr(module, "__file__"):
        return {}
    return {
        name: list(value)
        for name, value in vars(module).items()
        if name.isupper()
        and name.endswith("_NAMES")
        and isinstance(value, list)
        and all(isinstance(v, str) for v in value)
    }


def _import_with(lists: dict[str, list[str]], skops: Any) -> types.ModuleType:
    """Import ``skops.io`` over a stand-in ``_trusted_types`` holding ``lists``."""
    stand_in = types.ModuleType(_MODULE, "skops.io._trusted_types, its name lists from the cache")
    stand_in.__file__ = str(Path(skops.__file__).parent / "io" / "_trusted_types.py")
    stand_in.PRIMITIVES_TYPES = [int, float, str, bool]  # type: ignore[attr-defined]
    stand_in.CONTAINER_TYPES = [list, set, map, tuple]  # type: ignore[attr-defined]
    for name, values in lists.items():
        setattr(stand_in, name, list(values))
    stand_in.__getattr__ = _real_attribute  # type: ignore[attr-defined]  # anything else, computed
    sys.modules[_MODULE] = stand_in
    try:
        import skops.io
    except BaseException:
        sys.modules.pop(_MODULE, None)
        for name in [n for n in sys.modules if n.startswith("skops.io")]:
            sys.modules.pop(name, None)
        raise
    skops.io._trusted_types = stand_in  # type: ignore[attr-defined]
    return skops.io


_real: list[types.ModuleType] = []


def _real_attribute(name: str) -> Any:
    """An attribute the stand-in does not hold (a private list of type objects, say): taken from
    skops's real module, run once on demand outside ``sys.modules``."""
    if name.startswith("__"):
        raise AttributeError(name)
    if not _real:
        import importlib.util

        import skops

        file = Path(skops.__file__).parent / "io" / "_trusted_types.py"
        spec = importlib.util.spec_from_file_location(_MODULE, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _real.append(module)
    try:
        return getattr(_real[0], name)
    except AttributeError:
        raise AttributeError(f"module {_MODULE!r} has no attribute {name!r}") from None


def _import_scanning(sklearn: Any) -> types.ModuleType:
    """Import ``skops.io`` as usual (its scan runs), with torch kept out of the estimator scan."""
    stub = _TORCH_PLACEHOLDER not in sys.modules and "torch" not in sys.modules
    if stub:
        sys.modules[_TORCH_PLACEHOLDER] = types.ModuleType(_TORCH_PLACEHOLDER)
    try:
        import skops.io
    finally:
        if stub and not hasattr(sys.modules.get(_TORCH_PLACEHOLDER), "__file__"):
            sys.modules.pop(_TORCH_PLACEHOLDER, None)
    return skops.io


def _write(path: Path, key: dict[str, Any], lists: dict[str, list[str]]) -> None:
    if not lists:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"key": key, "lists": lists}))
        os.replace(partial, path)
    except OSError:
        pass


__all__ = ["import_skops_io"]
