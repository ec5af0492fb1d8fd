"""``modelyard.pyfunc``: save and log custom Python models; load any model as a generic function.

    import modelyard.pyfunc

    modelyard.pyfunc.save_model("model", python_model="recommender.py", artifacts={...})
    info = modelyard.pyfunc.log_model(name="model", python_model="recommender.py")
    model = modelyard.pyfunc.load_model(info.model_uri)          # models:/m-<id>
    model.predict(frame, params={"k": 5})

This module sits above both :mod:`modelyard.models` (which knows nothing about tracking) and the
client: ``log_model`` and ``load_model`` of ``runs:/``, ``models:/`` and store URIs import the
client only when they are called.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelyard.entities import LoggedModelStatus, ModelOutput
from modelyard.errors import InvalidInput, NotFound
from modelyard.models import pyfunc as _pyfunc
from modelyard.models.flavors.python_model import (
    FunctionModel,
    PythonModel,
    PythonModelContext,
    save_model,
    set_model,
)
from modelyard.models.manifest import Model, ModelInfo
from modelyard.models.pyfunc import PyFuncModel
from modelyard.models.signature import infer_signature

#: Run tag where MLflow 2.x records each model logged to a run (its MLmodel as JSON).
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
_NAME = re.compile(r"^[\w\-. ]+(/[\w\-. ]+)*$")


def resolve_model_uri(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> str:
    """A local directory holding the model ``model_uri`` names, downloading it if needed.

    Local paths and ``file://`` URIs are used in place. ``runs:/<run_id>/<path>``, ``models:/...``
    and artifact store URIs (``s3://``, ``mlflow-artifacts:/``, ...) are downloaded through the
    tracking client of the current tracking URI, into ``dst_path`` or a new temporary directory.
    """
    text = os.fspath(model_uri)
    scheme = urlparse(text).scheme.lower()
    if len(scheme) <= 1 or scheme == "file":
        return text
    from modelyard.client import fluent
    from modelyard.client.tracking import ModelyardClient

    target = dst_path or tempfile.mkdtemp(prefix="modelyard-model-")
    with ModelyardClient(fluent.get_tracking_uri()) as client:
        source = client.get_model_download_uri(text) if scheme == "models" else text
        try:
            return str(client.download_artifacts(artifact_uri=source, dst_path=target))
        except NotFound:
            if scheme != "runs":
                raise
            model = _logged_model_of_run(client, text)
            if model is None:
                raise
        return str(client.download_artifacts(artifact_uri=model.artifact_uri, dst_path=target))


def _logged_model_of_run(client: Any, runs_uri: str) -> Any:
    """The newest logged model that the run of ``runs_uri`` made under the name in its path (how
    MLflow 3 stores a model logged to a run), or ``None``."""
    from modelyard.client.artifacts import parse_runs_uri

    run_id, name = parse_runs_uri(runs_uri)
    name = name.strip("/")
    if not name:
        return None
    experiment_id = client.get_run(run_id).info.experiment_id
    quoted = name.replace("\\", "\\\\").replace("'", "\\'")
    page = client.search_logged_models(
        [experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{quoted}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        max_results=1,
    )
    return page.items[0] if page.items else None


def log_model_with(
    save: Callable[[Path], Model],
    name: str,
    *,
    run_id: str | None = None,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Save a model with ``save(local_dir)`` and log it from the run as the logged model ``name``.

    Follows MLflow 3: creates a logged model in the run's experiment (with the run's params), saves
    the model with its ``model_id`` in the MLmodel, uploads it to the logged model's
    ``artifact_uri``, finalizes it ``READY`` (``UPLOAD_FAILED`` when the upload fails) and links it
    to the run as an output. Uses the active run (one is started if none is active) unless
    ``run_id`` is given; records the model in the run tag ``mlflow.log-model.history`` as MLflow
    2.x does; registers it as a new version of ``registered_model_name`` when given. The model
    loads by ``models:/<model_id>`` (the returned ``model_uri``) and by ``runs:/<run_id>/<name>``.
    """
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name.split("/"):
        raise InvalidInput(
            f"Invalid model name {name!r}: use letters, digits, '-', '_', '.' and '/'."
        )
    from modelyard.client import fluent

    if run_id is None:
        run = fluent.active_run() or fluent.start_run()
        run_id = run.run_id
    client = fluent._client_for_run(run_id)
    client.flush()  # the run's params as logged so far
    run_data = client.get_run(run_id)
    logged = client.create_logged_model(
        run_data.info.experiment_id,
        name=name,
        source_run_id=run_id,
        params=dict(run_data.data.param_dict),
    )
    with tempfile.TemporaryDirectory(prefix="modelyard-log-model-") as tmp:
        local = Path(tmp) / "model"
        manifest = save(local)
        manifest.run_id = run_id
        manifest.artifact_path = name
        manifest.model_id = logged.model_id
        manifest.save(local)
        try:
            client.log_model_artifacts(logged.model_id, local)
        except BaseException:
            client.finalize_logged_model(logged.model_id, LoggedModelStatus.UPLOAD_FAILED)
            raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.log_outputs(run_id, [ModelOutput(logged.model_id, 0)])
    _append_history(client, run_id, manifest)
    fluent._set_last_logged_model(logged.model_id)
    model_uri = f"models:/{logged.model_id}"
    version = None
    if registered_model_name is not None:
        version = str(client.register_model(model_uri, registered_model_name).version)
    return ModelInfo(
        model_uri=model_uri,
        run_id=run_id,
        artifact_path=name,
        model_uuid=manifest.model_uuid,
        utc_time_created=manifest.utc_time_created,
        flavors=manifest.flavors,
        signature=manifest.signature,
        metadata=manifest.metadata,
        registered_model_version=version,
        model_id=logged.model_id,
    )


def _append_history(client: Any, run_id: str, manifest: Model) -> None:
    previous = client.get_run(run_id).data.tag_dict.get(LOG_MODEL_HISTORY_TAG)
    try:
        history = json.loads(previous) if previous else []
    except ValueError:
        history = []
    entry = manifest.to_dict()
    entry.pop("saved_input_example_info", None)
    history.append(entry)
    client.set_tag(run_id, LOG_MODEL_HISTORY_TAG, json.dumps(history), synchronous=True)


def model_name(name: str | None, artifact_path: str | None) -> str:
    """MLflow 3's ``name`` or MLflow 2's ``artifact_path`` (default ``model``)."""
    if name is not None and artifact_path is not None:
        raise InvalidInput("Pass name or artifact_path, not both.")
    return name or artifact_path or "model"


def log_model(
    name: str | None = None,
    python_model: Any = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    **options: Any,
) -> ModelInfo:
    """Save a custom Python model (as :func:`save_model` does) into the active run as ``name``."""
    return log_model_with(
        lambda path: save_model(path, python_model=python_model, **options),
        model_name(name, artifact_path),
        run_id=run_id,
        registered_model_name=registered_model_name,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    dst_path: str | None = None,
    allow_pickle: bool | None = None,
    **options: Any,
) -> PyFuncModel:
    """Load a model as a :class:`PyFuncModel` from a path or a ``file://``, ``runs:/``,
    ``models:/`` or artifact store URI.

    ``allow_pickle=True`` (or ``MODELYARD_ALLOW_PICKLE=true``) opts in to models stored with
    pickle; trust the source first.
    """
    local = resolve_model_uri(model_uri, dst_path)
    return _pyfunc.load_model(local, allow_pickle=allow_pickle, **options)


def spark_udf(
    spark: Any,
    model_uri: str | os.PathLike[str],
    result_type: Any = None,
    env_manager: str | None = None,
    params: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    prebuilt_env_uri: str | None = None,
    model_config: dict[str, Any] | None = None,
    *,
    allow_pickle: bool | None = None,
) -> Any:
    """A Spark UDF that scores DataFrame or stream columns with the model at ``model_uri``
    (MLflow's parameters); see :func:`modelyard.serving.spark.spark_udf` and docs/serving.md."""
    from modelyard.serving.spark import spark_udf as _spark_udf

    return _spark_udf(
        spark,
        model_uri,
        result_type,
        env_manager,
        params,
        extra_env,
        prebuilt_env_uri,
        model_config,
        allow_pickle=allow_pickle,
    )


__all__ = [
    "LOG_MODEL_HISTORY_TAG",
    "FunctionModel",
    "ModelInfo",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "infer_signature",
    "load_model",
    "log_model",
    "log_model_with",
    "resolve_model_uri",
    "save_model",
    "set_model",
    "spark_udf",
]
