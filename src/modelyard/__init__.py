"""modelyard: track, package, register and serve machine-learning models.

``import modelyard`` is cheap: the fluent API (``modelyard.start_run``, ``modelyard.log_metric``, ...)
and :class:`ModelyardClient` are loaded on first use, through the module ``__getattr__`` below. No
database driver, web framework, HTTP library or pandas is imported until something needs it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from modelyard.client.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_run,
        delete_tag,
        download_artifacts,
        end_run,
        flush,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_logged_model,
        get_metric_history,
        get_run,
        get_tracking_uri,
        last_active_run,
        last_logged_model,
        list_artifacts,
        load_dict,
        load_table,
        load_text,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_inputs,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        register_model,
        search_experiments,
        search_logged_models,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from modelyard.client.tracking import ModelyardClient
    from modelyard.entities import Dataset, RunStatus, ViewType

_FLUENT = "modelyard.client.fluent"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "ActiveRun": _FLUENT,
    "Dataset": "modelyard.entities",
    "ModelyardClient": "modelyard.client.tracking",
    "RunStatus": "modelyard.entities",
    "ViewType": "modelyard.entities",
    "active_run": _FLUENT,
    "create_experiment": _FLUENT,
    "delete_run": _FLUENT,
    "delete_tag": _FLUENT,
    "download_artifacts": _FLUENT,
    "end_run": _FLUENT,
    "flush": _FLUENT,
    "get_artifact_uri": _FLUENT,
    "get_experiment": _FLUENT,
    "get_experiment_by_name": _FLUENT,
    "get_logged_model": _FLUENT,
    "get_metric_history": _FLUENT,
    "get_run": _FLUENT,
    "get_tracking_uri": _FLUENT,
    "last_active_run": _FLUENT,
    "last_logged_model": _FLUENT,
    "list_artifacts": _FLUENT,
    "load_dict": _FLUENT,
    "load_table": _FLUENT,
    "load_text": _FLUENT,
    "log_artifact": _FLUENT,
    "log_artifacts": _FLUENT,
    "log_dict": _FLUENT,
    "log_figure": _FLUENT,
    "log_image": _FLUENT,
    "log_input": _FLUENT,
    "log_inputs": _FLUENT,
    "log_metric": _FLUENT,
    "log_metrics": _FLUENT,
    "log_param": _FLUENT,
    "log_params": _FLUENT,
    "log_table": _FLUENT,
    "log_text": _FLUENT,
    "register_model": _FLUENT,
    "search_experiments": _FLUENT,
    "search_logged_models": _FLUENT,
    "search_runs": _FLUENT,
    "set_experiment": _FLUENT,
    "set_tag": _FLUENT,
    "set_tags": _FLUENT,
    "set_tracking_uri": _FLUENT,
    "start_run": _FLUENT,
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return list(__all__)


__all__ = [
    "ActiveRun",
    "Dataset",
    "ModelyardClient",
    "RunStatus",
    "ViewType",
    "__version__",
    "active_run",
    "create_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "last_logged_model",
    "list_artifacts",
    "load_dict",
    "load_table",
    "load_text",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
