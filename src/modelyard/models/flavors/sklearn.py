"""The scikit-learn flavor: skops by default, pickle or cloudpickle only on request.

Layout (as MLflow 3.17 writes it, so each side loads the other's): ``model.skops`` (or
``model.pkl``), and in ``MLmodel`` a ``sklearn`` flavor with ``pickled_model``,
``serialization_format``, ``sklearn_version``, ``code`` and ``skops_trusted_types``, plus a
``python_function`` flavor whose ``loader_module`` is ``mlflow.sklearn``; modelyard answers for that
loader module too, so MLflow and modelyard load the same directory each with its own code.

Loading:

* skops files load when every type in them is one skops trusts by default, or one the caller
  trusts with ``skops_trusted_types=[...]``. Types listed in the model's own ``MLmodel`` are trusted
  only with the pickle opt-in, since a crafted file could list anything there.
* pickle and cloudpickle files need the pickle opt-in (``allow_pickle=True`` or
  ``MODELYARD_ALLOW_PICKLE=true``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.models import environment
from modelyard.models.environment import ENV_CONF
from modelyard.models.examples import split_example
from modelyard.models.flavors.skops_import import import_skops_io
from modelyard.models.manifest import PYFUNC, Model
from modelyard.models.safety import (
    ALLOW_PICKLE_ENV,
    optional_import,
    pickle_allowed,
    require_pickle_opt_in,
)
from modelyard.models.saving import PipRequirements, copy_code_paths, finish_model, new_model_dir
from modelyard.models.signature import ModelSignature, infer_signature

FLAVOR_NAME = "sklearn"
FORMATS = ("skops", "cloudpickle", "pickle")
LOADER_MODULE = "mlflow.sklearn"
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}


def _sklearn() -> Any:
    return optional_import("sklearn", "The sklearn flavor")


#: Estimators whose first step is turning ``X`` into one numeric array: for them a DataFrame of
#: numeric columns in the fitted order is the same input as its values. (Pipelines, column
#: transformers and anything that selects columns by name are left out.)
_ARRAY_ESTIMATOR_MODULES = tuple(
    f"sklearn.{m}."
    for m in (
        "linear_model",
        "tree",
        "ensemble",
        "svm",
        "neighbors",
        "naive_bayes",
        "discriminant_analysis",
        "neural_network",
    )
)
_NO_NAMES_WARNING = "X does not have valid feature names"


class SklearnPredictor:
    """The pyfunc face of a scikit-learn estimator: ``predict`` calls ``predict_fn`` on the input.

    A DataFrame of numeric columns that are exactly the estimator's fitted feature names, in order,
    is handed to one of the plain array estimators (linear models, trees, ensembles, ...) as its
    values: the estimator would convert it so itself, after checks on the frame that cost about
    five times the prediction of a row (1.1 ms against 0.2 ms for a logistic regression on 20
    features), which is most of the scoring server's time per request.
    """

    def __init__(self, model: Any, predict_fn: str = "predict") -> None:
        self.model = model
        self.predict_fn = predict_fn
        names = getattr(model, "feature_names_in_", None)
        self._names = (
            [str(n) for n in names]
            if names is not None
            and type(model).__module__.startswith(_ARRAY_ESTIMATOR_MODULES)
            and getattr(model, "n_features_in_", None) == len(names)
            else None
        )

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        fn = getattr(self.model, self.predict_fn, None)
        if fn is None:
            raise InvalidInput(f"The scikit-learn model has no method {self.predict_fn!r}.")
        values = self._plain_values(data)
        if values is None:
            return fn(data)
        import warnings

        with warnings.catch_warnings():  # the names were checked above, against the fitted ones
            warnings.filterwarnings("ignore", message=_NO_NAMES_WARNING, category=UserWarning)
            return fn(values)

    def _plain_values(self, data: Any) -> Any:
        """``data``'s values when it is a frame of this estimator's numeric features, else None."""
        names = self._names
        columns = getattr(data, "columns", None)
        if names is None or columns is None or len(columns) != len(names):
            return None
        dtypes = getattr(data, "dtypes", None)
        if dtypes is None or list(columns) != names:
            return None
        if not all(type(d).__module__.startswith("numpy") and d.kind in "iuf" for d in dtypes):
            return None
        return data.to_numpy()


class SklearnFlavor:
    name = FLAVOR_NAME
    loader_modules = (LOADER_MODULE, "modelyard.sklearn", "modelyard.models.flavors.sklearn")

    def save(
        self,
        path: str | os.PathLike[str],
        model: Any,
        *,
        serialization_format: str = "skops",
        signature: ModelSignature | None = None,
        input_example: Any = None,
        code_paths: Sequence[str | os.PathLike[str]] | None = None,
        pip_requirements: PipRequirements = None,
        extra_pip_requirements: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        skops_trusted_types: Sequence[str] | None = None,
        pyfunc_predict_fn: str = "predict",
    ) -> Model:
        sklearn = _sklearn()
        if serialization_format not in FORMATS:
            raise InvalidInput(
                f"serialization_format must be one of {', '.join(FORMATS)}, got {serialization_format!r}."
            )
        model_dir = new_model_dir(path)
        code = copy_code_paths(model_dir, code_paths)
        file = _FILES[serialization_format]
        packages = ["scikit-learn"]
        trusted: list[str] | None = list(skops_trusted_types) if skops_trusted_types else None
        if serialization_format == "skops":
            skops_io = import_skops_io("Saving in the skops format")
            skops_io.dump(model, model_dir / file)
            untrusted = skops_io.get_untrusted_types(file=model_dir / file)
            if untrusted:
                trusted = sorted(set(trusted or []) | set(untrusted))
            packages.append("skops")
        elif serialization_format == "cloudpickle":
            cloudpickle = optional_import("cloudpickle", "Saving with cloudpickle")
            with open(model_dir / file, "wb") as f:
                cloudpickle.dump(model, f)
            packages.append("cloudpickle")
        else:
            with open(model_dir / file, "wb") as f:
                pickle.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)

        if signature is None and input_example is not None:
            data, params = split_example(input_example)
            try:
                output = getattr(model, pyfunc_predict_fn)(data)
            except Exception:
                output = None
            signature = infer_signature(data, output, params)

        manifest = Model()
        manifest.add_flavor(
            PYFUNC,
            env=dict(ENV_CONF),
            loader_module=LOADER_MODULE,
            model_path=file,
            predict_fn=pyfunc_predict_fn,
            python_version=environment.python_version(),
            **({"code": code} if code else {}),
        )
        manifest.add_flavor(
            FLAVOR_NAME,
            code=code,
            pickled_model=file,
            serialization_format=serialization_format,
            sklearn_version=sklearn.__version__,
            skops_trusted_types=trusted,
        )
        return finish_model(
            model_dir,
            manifest,
            signature=signature,
            input_example=input_example,
            default_requirements=environment.infer_requirements(packages, code_paths or []),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )

    def load(
        self,
        model_dir: Path,
        manifest: Model,
        *,
        allow_pickle: bool | None = None,
        skops_trusted_types: Sequence[str] | None = None,
        **_: Any,
    ) -> Any:
        conf = manifest.flavors.get(FLAVOR_NAME)
        if conf is None:  # an old model with only python_function
            pyfunc = manifest.flavor_conf(PYFUNC, model_dir)
            conf = {"pickled_model": pyfunc.get("model_path") or pyfunc.get("data") or "model.pkl"}
        fmt = str(conf.get("serialization_format") or "pickle")
        if fmt not in FORMATS:
            raise InvalidInput(
                f"Unknown sklearn serialization_format {fmt!r} in {model_dir}/MLmodel."
            )
        file = model_dir / str(conf.get("pickled_model") or _FILES[fmt])
        if not file.is_file():
            raise NotFound(
                f"The model file {file.name} is missing from {model_dir}.", path=str(file)
            )
        _sklearn()
        if fmt == "skops":
            skops_io = import_skops_io("Loading a skops model")
            untrusted = set(skops_io.get_untrusted_types(file=file))
            trusted = set(skops_trusted_types or [])
            if pickle_allowed(allow_pickle):
                trusted |= set(conf.get("skops_trusted_types") or [])
            refused = sorted(untrusted - trusted)
            if refused:
                raise PermissionDenied(
                    f"Refusing to load {file.name}: it holds types that skops does not trust by "
                    f"default: {refused}. If you trust them, pass "
                    f"load_model(..., skops_trusted_types={refused!r}), or opt in to the types the "
                    f"model lists itself with allow_pickle=True or {ALLOW_PICKLE_ENV}=true.",
                    file=file.name,
                )
            return skops_io.load(file, trusted=sorted(untrusted) or None)
        require_pickle_opt_in(allow_pickle, file.name, fmt)
        with open(file, "rb") as f:
            if fmt == "cloudpickle":
                return optional_import("cloudpickle", "Loading a cloudpickle model").load(f)
            return pickle.load(f)

    def load_pyfunc(self, model_dir: Path, manifest: Model, **options: Any) -> SklearnPredictor:
        conf = manifest.pyfunc_conf or {}
        return SklearnPredictor(
            self.load(model_dir, manifest, **options), str(conf.get("predict_fn") or "predict")
        )


FLAVOR = SklearnFlavor()

__all__ = ["FLAVOR", "FORMATS", "SklearnFlavor", "SklearnPredictor"]
