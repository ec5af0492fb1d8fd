"""The custom Python model flavor (``python_function`` with your own ``PythonModel``).

A model is a :class:`PythonModel` subclass with ``load_context(context)`` (``context.artifacts`` maps
each artifact name to a local path) and ``predict``, in either style:

* ``predict(self, context, model_input, params=None)`` (MLflow 2), or
* ``predict(self, model_input, params=None)`` (MLflow 3).

It is saved in one of two ways:

* **models from code** (recommended, nothing is pickled): ``python_model`` is the path of a Python
  file that calls :func:`set_model` with the model; the file is copied into the model directory
  and run again at load time;
* **pickled**: ``python_model`` is an instance (or a plain function), written with cloudpickle to
  ``python_model.pkl``. Loading it needs the pickle opt-in (see :mod:`modelyard.models.safety`).

``artifacts`` (files or directories) are copied under ``artifacts/`` and ``code_paths`` under
``code/``, which is put on ``sys.path`` before the model is loaded. This module is also the
``loader_module`` written into ``MLmodel``, so ``mlflow.pyfunc.load_model`` loads these models
through :func:`_load_pyfunc` when modelyard is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.models import environment
from modelyard.models.environment import ENV_CONF
from modelyard.models.examples import split_example
from modelyard.models.manifest import PYFUNC, Model
from modelyard.models.safety import optional_import, require_pickle_opt_in
from modelyard.models.saving import (
    PipRequirements,
    copy_code_paths,
    copy_into,
    finish_model,
    new_model_dir,
)
from modelyard.models.signature import ModelSignature, infer_signature

LOADER_MODULE = "modelyard.models.flavors.python_model"
MLFLOW_LOADER_MODULE = "mlflow.pyfunc.model"
MLFLOW_CODE_LOADER_MODULE = "mlflow.pyfunc.loaders.code_model"
PICKLE_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` receives: local paths of the artifacts and the model config."""

    def __init__(
        self, artifacts: Mapping[str, str], model_config: Mapping[str, Any] | None = None
    ) -> None:
        self._artifacts = dict(artifacts)
        self._model_config = dict(model_config or {})

    @property
    def artifacts(self) -> dict[str, str]:
        return dict(self._artifacts)

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self._model_config)

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self._artifacts!r})"


class PythonModel:
    """Base class of custom models: override ``predict`` and, if needed, ``load_context``."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load artifacts (``context.artifacts[name]`` is a local path) before predicting."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError("A PythonModel must implement predict().")


class FunctionModel(PythonModel):
    """A plain function ``f(model_input)`` (or ``f(model_input, params)``) used as a model."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:  # type: ignore[override]
        if "params" in inspect.signature(self.func).parameters:
            return self.func(model_input, params=params)
        return self.func(model_input)


# ---------------------------------------------------------------------------- models from code

_code_model = threading.local()


def set_model(model: Any) -> None:
    """Declare the model of a models-from-code file: a :class:`PythonModel` or a function."""
    if isinstance(model, PythonModel) or _looks_like_model(model):
        _code_model.value = model
    elif callable(model):
        _code_model.value = FunctionModel(model)
    else:
        raise InvalidInput(
            f"set_model() needs a PythonModel or a function, got {type(model).__name__}."
        )


def _looks_like_model(obj: Any) -> bool:
    return callable(getattr(obj, "predict", None)) and not inspect.isroutine(obj)


def _run_model_file(file: Path) -> Any:
    """Run a models-from-code file and return what it passed to :func:`set_model`."""
    if not file.is_file():
        raise NotFound(f"The model code file {file.name} is missing from {file.parent}.")
    _code_model.value = None
    mlflow_model_module = sys.modules.get("mlflow.models.model")
    if getattr(mlflow_model_module, "__mlflow_model__", None) is not None:
        mlflow_model_module.__mlflow_model__ = None  # type: ignore[union-attr]  # not a stale one
    name = f"_modelyard_model_code_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    model = getattr(_code_model, "value", None)
    _code_model.value = None
    if model is None:
        mlflow_model_module = sys.modules.get("mlflow.models.model")  # MLflow's own set_model
        model = getattr(mlflow_model_module, "__mlflow_model__", None)
        if model is not None:
            mlflow_model_module.__mlflow_model__ = None  # type: ignore[union-attr]
            if not _looks_like_model(model) and callable(model):
                model = FunctionModel(model)
    if model is None:
        raise InvalidInput(
            f"The model code file {file.name} did not call modelyard.pyfunc.set_model(...)."
        )
    return model


# ---------------------------------------------------------------------------- predicting


def call_predict(model: Any, context: Any, data: Any, params: dict[str, Any] | None) -> Any:
    """Call ``model.predict`` in whichever of the two styles it is written."""
    parameters = list(inspect.signature(model.predict).parameters.values())
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_context = bool(positional) and (
        positional[0].name == "context" or sum(1 for p in positional if p.default is p.empty) >= 2
    )
    takes_params = any(p.name == "params" for p in parameters) or any(
        p.kind is p.VAR_KEYWORD for p in parameters
    )
    args = (context, data) if takes_context else (data,)
    if takes_params:
        return model.predict(*args, params=params)
    return model.predict(*args)


class PythonModelPredictor:
    """A loaded custom model behind the generic ``predict(data, params)``."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return call_predict(self.python_model, self.context, data, params)


# ---------------------------------------------------------------------------- the flavor


def add_code_to_path(model_dir: Path, conf: Mapping[str, Any]) -> None:
    """Put the model's ``code`` directory (and its entries) on ``sys.path``."""
    code = conf.get("code")
    if not code:
        return
    code_dir = model_dir / str(code)
    if not code_dir.is_dir():
        raise NotFound(f"The model's code directory {code}/ is missing from {model_dir}.")
    entries = [str(code_dir)]
    for entry in sorted(code_dir.iterdir()):
        if entry.is_dir():
            entries.append(str(entry))
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # a module of the same name imported earlier from elsewhere would shadow the model's own code
    for item in code_dir.iterdir():
        name = item.stem if item.suffix == ".py" else item.name
        cached = sys.modules.get(name)
        origin = getattr(cached, "__file__", None) or ""
        if cached is not None and not Path(origin).resolve().is_relative_to(code_dir.resolve()):
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]


def _source_files(model: Any) -> list[str]:
    try:
        file = inspect.getsourcefile(type(model))
    except TypeError:
        return []
    return [file] if file and os.path.isfile(file) else []


class PythonModelFlavor:
    name = PYFUNC
    loader_modules = (LOADER_MODULE, MLFLOW_LOADER_MODULE, MLFLOW_CODE_LOADER_MODULE)

    def save(
        self,
        path: str | os.PathLike[str],
        model: Any = None,
        *,
        python_model: Any = None,
        artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
        code_paths: Sequence[str | os.PathLike[str]] | None = None,
        signature: ModelSignature | None = None,
        input_example: Any = None,
        pip_requirements: PipRequirements = None,
        extra_pip_requirements: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
    ) -> Model:
        python_model = model if python_model is None else python_model
        if python_model is None:
            raise InvalidInput(
                "save_model needs python_model: a PythonModel, a function or a .py file."
            )
        model_dir = new_model_dir(path)
        conf: dict[str, Any] = {"loader_module": LOADER_MODULE}
        code_files: list[str | os.PathLike[str]] = list(code_paths or [])
        packages: list[str] = []

        code = copy_code_paths(model_dir, code_paths)
        saved_artifacts: dict[str, dict[str, str]] = {}
        for art_name, art_path in (artifacts or {}).items():
            dest = copy_into(art_path, model_dir / ARTIFACTS_DIR / art_name)
            saved_artifacts[art_name] = {
                "path": dest.relative_to(model_dir).as_posix(),
                "uri": str(art_path),
            }
        context = PythonModelContext(
            {k: str(model_dir / v["path"]) for k, v in saved_artifacts.items()}, model_config
        )

        if isinstance(python_model, (str, os.PathLike)):
            source = Path(python_model)
            if source.suffix != ".py" or not source.is_file():
                raise InvalidInput(
                    f"python_model as a path must be an existing .py file that calls set_model(): {source}"
                )
            copy_into(source, model_dir)
            conf["model_code_path"] = source.name
            code_files.append(source)
            if code:
                add_code_to_path(model_dir, {"code": code})
            instance = _run_model_file(model_dir / source.name)
        else:
            instance = python_model
            if not isinstance(instance, PythonModel) and not _looks_like_model(instance):
                if not callable(instance):
                    raise InvalidInput(
                        "python_model must be a PythonModel, a function or the path of a .py file, "
                        f"got {type(instance).__name__}."
                    )
                instance = FunctionModel(instance)
            cloudpickle = optional_import("cloudpickle", "Saving a Python model object")
            with open(model_dir / PICKLE_FILE, "wb") as f:
                cloudpickle.dump(instance, f)
            conf["python_model"] = PICKLE_FILE
            conf["cloudpickle_version"] = cloudpickle.__version__
            code_files.extend(_source_files(instance))
            packages.append("cloudpickle")

        if signature is None and input_example is not None:
            signature = _infer_from_example(instance, context, input_example)
        elif input_example is None:
            # so that what load_context loads counts among the requirements
            with contextlib.suppress(Exception):
                instance.load_context(context)
        packages.extend(_packages_of_attributes(instance))

        conf.update(
            {
                "python_version": environment.python_version(),
                "env": dict(ENV_CONF),
                "code": code,
                "streamable": False,
            }
        )
        if saved_artifacts:
            conf["artifacts"] = saved_artifacts
        if model_config:
            conf["config"] = dict(model_config)
        manifest = Model().add_flavor(PYFUNC, **conf)
        return finish_model(
            model_dir,
            manifest,
            signature=signature,
            input_example=input_example,
            default_requirements=environment.infer_requirements(packages, code_files),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )

    def load(self, model_dir: Path, manifest: Model, **options: Any) -> Any:
        """The loaded :class:`PythonModel` itself (``load_context`` already called)."""
        return self.load_pyfunc(model_dir, manifest, **options).python_model

    def load_pyfunc(
        self,
        model_dir: Path,
        manifest: Model,
        *,
        allow_pickle: bool | None = None,
        model_config: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> PythonModelPredictor:
        conf = manifest.flavor_conf(PYFUNC, model_dir)
        add_code_to_path(model_dir, conf)
        artifacts = {}
        for art_name, info in (conf.get("artifacts") or {}).items():
            local = model_dir / str(info["path"])
            if not local.exists():
                raise NotFound(
                    f"The model's artifact {art_name!r} ({info['path']}) is missing from {model_dir}."
                )
            artifacts[art_name] = str(local)
        config = {**(conf.get("config") or {}), **(model_config or {})}
        context = PythonModelContext(artifacts, config)
        if conf.get("model_code_path"):
            python_model = _run_model_file(model_dir / Path(str(conf["model_code_path"])).name)
        else:
            file = model_dir / str(conf.get("python_model") or PICKLE_FILE)
            if not file.is_file():
                raise NotFound(
                    f"The model file {file.name} is missing from {model_dir}.", path=str(file)
                )
            require_pickle_opt_in(allow_pickle, file.name, "cloudpickle")
            cloudpickle = optional_import("cloudpickle", "Loading a pickled Python model")
            try:
                with open(file, "rb") as f:
                    python_model = cloudpickle.load(f)
            except ModuleNotFoundError as e:
                raise ModelyardError(
                    f"{file.name} refers to the module {e.name!r}, which is not installed here "
                    f"(see the model's requirements.txt)."
                ) from None
            except Exception as e:
                raise InvalidInput(
                    f"{file.name} could not be unpickled: {type(e).__name__}: {e}"
                ) from None
        python_model.load_context(context)
        return PythonModelPredictor(python_model, context)


def _packages_of_attributes(model: Any) -> set[str]:
    """Distributions of the objects a model holds (an estimator loaded in ``load_context``, say)."""
    modules = {type(model).__module__.split(".")[0]}
    for value in vars(model).values() if hasattr(model, "__dict__") else ():
        modules.add(type(value).__module__.split(".")[0])
    return environment.distributions_for(modules - {"builtins", "modelyard"})


def _infer_from_example(model: Any, context: PythonModelContext, example: Any) -> ModelSignature:
    """Signature from an example and the model's output on it (inputs only if predict fails)."""
    data, params = split_example(example)
    output = None
    try:
        model.load_context(context)
        output = call_predict(model, context, data, params)
    except Exception:  # the example need not be predictable for the inputs to be described
        output = None
    return infer_signature(data, output, params)


FLAVOR = PythonModelFlavor()


def save_model(path: str | os.PathLike[str], python_model: Any = None, **options: Any) -> Model:
    """Save a custom Python model to the directory ``path``; see :class:`PythonModelFlavor`."""
    return FLAVOR.save(path, python_model=python_model, **options)


def _load_pyfunc(
    data_path: str, model_config: dict[str, Any] | None = None
) -> PythonModelPredictor:
    """Entry point used by ``mlflow.pyfunc.load_model`` (and the scoring server of MLflow)."""
    model_dir = Path(data_path)
    if model_dir.is_file():
        model_dir = model_dir.parent
    return FLAVOR.load_pyfunc(model_dir, Model.load(model_dir), model_config=model_config)


__all__ = [
    "FLAVOR",
    "FunctionModel",
    "PythonModel",
    "PythonModelContext",
    "PythonModelFlavor",
    "PythonModelPredictor",
    "call_predict",
    "save_model",
    "set_model",
]
