"""Flavors: the ways a model is stored, behind one small protocol, registered by entry points.

A flavor is an object with a ``name`` (its key under ``flavors:`` in ``MLmodel``), the
``loader_modules`` it answers for (the ``python_function`` ``loader_module`` values, MLflow's among
them, so MLflow's models load here), and three methods:

* ``save(path, model, **options) -> Model`` writes a model directory;
* ``load(model_dir, manifest, **options)`` gives back the native object (an estimator, a module);
* ``load_pyfunc(model_dir, manifest, **options)`` gives something with ``predict(data, params)``.

The registry is the built-ins of :data:`DEFAULT_FLAVORS` plus every entry point of the group
``modelyard.flavors`` (name = the flavor name, value = ``module:attribute`` of a flavor object).
Built-ins are entry points too, only listed here instead of in package metadata; an installed entry
point with a built-in's name replaces it. Nothing is imported until a flavor is asked for.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modelyard.errors import InvalidInput, ModelyardError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from modelyard.models.manifest import Model

#: The entry point group through which packages add flavors.
ENTRY_POINT_GROUP = "modelyard.flavors"

#: Built-in flavors, as ``name -> "module:attribute"``, registered exactly like entry points.
DEFAULT_FLAVORS: dict[str, str] = {
    "python_function": "modelyard.models.flavors.python_model:FLAVOR",
    "sklearn": "modelyard.models.flavors.sklearn:FLAVOR",
    "pytorch": "modelyard.models.flavors.pytorch:FLAVOR",
}


@runtime_checkable
class Predictor(Protocol):
    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


@runtime_checkable
class Flavor(Protocol):
    name: str
    loader_modules: tuple[str, ...]

    def save(self, path: str | Path, model: Any, **options: Any) -> Model: ...

    def load(self, model_dir: Path, manifest: Model, **options: Any) -> Any: ...

    def load_pyfunc(self, model_dir: Path, manifest: Model, **options: Any) -> Predictor: ...


@functools.cache
def _registry() -> dict[str, EntryPoint]:
    from importlib.metadata import EntryPoint, entry_points

    table = {
        name: EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
        for name, value in DEFAULT_FLAVORS.items()
    }
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        table[entry.name] = entry
    return table


def available_flavors() -> list[str]:
    """The names of every registered flavor, sorted."""
    return sorted(_registry())


@functools.cache
def get_flavor(name: str) -> Flavor:
    """The flavor registered as ``name``; :class:`InvalidInput` when there is none."""
    entry = _registry().get(name)
    if entry is None:
        raise InvalidInput(
            f"No flavor {name!r} is registered (registered: {', '.join(available_flavors())}). "
            f"A package can add one under the entry point group '{ENTRY_POINT_GROUP}'.",
            flavor=name,
        )
    try:
        flavor: Flavor = entry.load()
    except ModelyardError:
        raise
    except Exception as e:
        raise ModelyardError(
            f"The flavor {name!r} ({entry.value}) could not be loaded: {type(e).__name__}: {e}"
        ) from e
    return flavor


def flavor_for_loader(loader_module: str) -> Flavor:
    """The flavor that answers for a ``python_function`` ``loader_module``."""
    for name in available_flavors():
        flavor = get_flavor(name)
        if loader_module in flavor.loader_modules:
            return flavor
    raise InvalidInput(
        f"No registered flavor can load models whose loader_module is {loader_module!r} "
        f"(registered flavors: {', '.join(available_flavors())}).",
        loader_module=loader_module,
    )


__all__ = [
    "DEFAULT_FLAVORS",
    "ENTRY_POINT_GROUP",
    "Flavor",
    "Predictor",
    "available_flavors",
    "flavor_for_loader",
    "get_flavor",
]
