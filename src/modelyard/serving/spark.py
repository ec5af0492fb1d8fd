"""Score a Spark DataFrame or a Structured Streaming query with a saved model: :func:`spark_udf`.

    from pyspark.sql.functions import struct
    from modelyard.pyfunc import spark_udf

    predict = spark_udf(spark, "models:/churn@champion", result_type="double")
    scored = df.withColumn("churn", predict("age", "income"))       # or predict(struct(...))

The UDF is an iterator pandas UDF (Arrow): each Python worker gets the rows in Arrow batches of
``spark.sql.execution.arrow.maxRecordsPerBatch`` and calls ``predict`` once per batch. The model
is loaded **once per Python worker process**, not per batch or per task: :func:`cached_model`
keeps it in a process-level dictionary keyed by the model's local path (Spark reuses its Python
workers across tasks, ``spark.python.worker.reuse``, the default).

How executors find the model files: the driver resolves the URI to a local directory (downloading
``runs:/``, ``models:/`` and store URIs). With a ``local[...]`` master the executors read that
directory in place; on a cluster the driver zips it, ships the archive with
``SparkContext.addFile`` and each executor process unpacks it once into its temporary directory
(:class:`ModelShipment`). The Spark conf ``spark.modelyard.shipModel`` (``auto``, ``path``,
``archive``) overrides that choice, e.g. ``path`` for a filesystem every node mounts.

Input columns: ``predict()`` with no arguments scores the columns the signature names; several
arguments are matched to the signature **by name** (the names Spark gives them) or, when none of
their names is in the signature, by position; without a named signature they are passed
positionally as columns ``0, 1, ...`` as MLflow does. One ``struct(...)`` argument arrives as a
frame with the struct's field names. Result types: a scalar type, an ``ArrayType`` of one, or a
``StructType`` for a model that returns several columns (:mod:`modelyard.serving.spark_results`).

pandas is imported at module level because Spark reads the UDF's type hints; this module is only
imported by :func:`modelyard.pyfunc.spark_udf` when it is called.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pandas as pd

from modelyard.errors import InvalidInput
from modelyard.models.manifest import Model
from modelyard.models.pyfunc import PyFuncModel, load_model
from modelyard.models.signature import Schema
from modelyard.serving.spark_results import check_result_type, default_result_type, to_result

#: Spark conf: ``auto`` (in place for a local master, else an archive), ``path`` or ``archive``.
SHIP_CONF = "spark.modelyard.shipModel"
_MODELS: dict[tuple[str, str], PyFuncModel] = {}
_LOCK = threading.Lock()
_UNPACKED: dict[str, str] = {}


def cached_model(path: str, options: dict[str, Any]) -> PyFuncModel:
    """The model at ``path``, loaded at most once in this process for these load options."""
    key = (path, repr(sorted(options.items())))
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = load_model(path, **options)
                _MODELS[key] = model
    return model


@dataclass(frozen=True)
class ModelShipment:
    """Where an executor finds the model: a directory it can read, or an archive from ``addFile``."""

    path: str | None = None
    archive: str | None = None  # file name known to SparkFiles
    digest: str = ""

    def local_dir(self) -> str:
        """The model directory on this machine (unpacked once per process for an archive)."""
        if self.path is not None:
            return self.path
        assert self.archive is not None
        done = _UNPACKED.get(self.digest)
        if done is not None:
            return done
        with _LOCK:
            if self.digest not in _UNPACKED:
                _UNPACKED[self.digest] = _unpack(self.archive, self.digest)
            return _UNPACKED[self.digest]


def _unpack(archive: str, digest: str) -> str:
    from pyspark import SparkFiles

    target = Path(tempfile.gettempdir()) / f"modelyard-spark-model-{digest}"
    if (target / "MLmodel").is_file():
        return str(target)  # another worker process on this machine unpacked it already
    staging = Path(tempfile.mkdtemp(prefix=f"modelyard-spark-unpack-{digest}-"))
    with zipfile.ZipFile(SparkFiles.get(archive)) as zf:
        zf.extractall(staging)  # zipfile drops absolute paths and '..' parts
    try:
        os.rename(staging, target)
    except OSError:  # a concurrent process renamed its copy first
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def ship_model(spark: Any, local_dir: str, how: str = "auto") -> ModelShipment:
    """Make ``local_dir`` reachable from the executors: in place for a local master, else
    zipped and added with ``SparkContext.addFile`` (``how`` forces ``"path"`` or ``"archive"``)."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect sessions have no SparkContext
        raise InvalidInput(
            "spark_udf needs a classic SparkSession (with a SparkContext); Spark Connect "
            "sessions are not supported yet."
        ) from None
    if how not in ("auto", "path", "archive"):
        raise InvalidInput(f"{SHIP_CONF} must be auto, path or archive, not {how!r}.")
    if how == "auto":
        how = "path" if str(context.master).startswith("local") else "archive"
    if how == "path":
        return ModelShipment(path=local_dir)
    staging = Path(tempfile.mkdtemp(prefix="modelyard-spark-ship-"))
    zipped = Path(shutil.make_archive(str(staging / "model"), "zip", root_dir=local_dir))
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()[:20]
    named = zipped.with_name(f"modelyard-model-{digest}.zip")
    zipped.rename(named)
    context.addFile(str(named))
    return ModelShipment(archive=named.name, digest=digest)


def _input_names(manifest: Model) -> list[str]:
    signature = manifest.signature
    inputs: Schema | None = signature.inputs if signature else None
    if inputs is None or inputs.is_tensor or not inputs.has_names:
        return []
    return inputs.names()


@dataclass
class _Scorer:
    """What each Python worker needs (pickled with the UDF): the shipment and how to call."""

    shipment: ModelShipment
    result_type: Any
    input_names: list[str]
    params: dict[str, Any] | None
    load_options: dict[str, Any] = field(default_factory=dict)
    extra_env: dict[str, str] | None = None

    def model(self) -> PyFuncModel:
        if self.extra_env:
            os.environ.update(self.extra_env)
        return cached_model(self.shipment.local_dir(), self.load_options)

    def frame(self, batch: pd.Series | pd.DataFrame, wrapped: bool) -> pd.DataFrame:
        """The model's input: a struct's fields by name, or the columns by name or position."""
        if isinstance(batch, pd.Series):
            name: Any = self.input_names[0] if len(self.input_names) == 1 else 0
            return batch.reset_index(drop=True).to_frame(name)
        frame = batch.reset_index(drop=True)
        if not wrapped:
            return frame  # one struct(...) argument: its field names as they are
        names = [str(c) for c in frame.columns]
        if not self.input_names:
            frame.columns = pd.RangeIndex(len(names))
            return frame
        if set(self.input_names) & set(names) or len(names) != len(self.input_names):
            return frame  # by name; enforce_schema names any missing column
        frame.columns = self.input_names  # none of the names match: by position
        return frame

    def score(
        self, batches: Iterator[pd.Series | pd.DataFrame], wrapped: bool
    ) -> Iterator[pd.Series | pd.DataFrame]:
        model = self.model()
        for batch in batches:
            predictions = model.predict(self.frame(batch, wrapped), params=self.params)
            yield to_result(predictions, self.result_type, len(batch))


def _pandas_udf(scorer: _Scorer, wrapped: bool) -> Any:
    from pyspark.sql.functions import pandas_udf

    def predict(
        batches: Iterator[Union[pd.Series, pd.DataFrame]],  # noqa: UP007 (Spark reads the hint)
    ) -> Iterator[pd.Series]:
        return scorer.score(batches, wrapped)

    return pandas_udf(predict, scorer.result_type)  # type: ignore[call-overload]


class ModelUDF:
    """The callable :func:`spark_udf` returns: ``udf(*columns)`` gives a Spark ``Column``."""

    def __init__(self, scorer: _Scorer, model_dir: str) -> None:
        self.scorer = scorer
        self.model_dir = model_dir
        self._udfs: dict[bool, Any] = {}

    @property
    def return_type(self) -> Any:
        return self.scorer.result_type

    def _udf(self, wrapped: bool) -> Any:
        if wrapped not in self._udfs:
            self._udfs[wrapped] = _pandas_udf(self.scorer, wrapped)
        return self._udfs[wrapped]

    def __call__(self, *columns: Any) -> Any:
        from pyspark.sql.functions import struct

        if not columns:
            if not self.scorer.input_names:
                raise InvalidInput(
                    "The model's signature names no input columns: pass the columns to score, "
                    "e.g. udf('a', 'b') or udf(struct('a', 'b'))."
                )
            return self._udf(True)(struct(*self.scorer.input_names))
        if len(columns) == 1:
            return self._udf(False)(columns[0])
        return self._udf(True)(struct(*columns))

    def __repr__(self) -> str:
        return f"ModelUDF(model_dir={self.model_dir!r}, return_type={self.return_type!r})"


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
) -> ModelUDF:
    """A Spark UDF that scores columns with the model at ``model_uri`` (MLflow's parameters).

    ``result_type`` is a ``pyspark.sql.types.DataType`` or a DDL string (``"double"``,
    ``"array<float>"``, ``"label string, score double"``); by default it comes from the
    signature's outputs, else ``double``. ``params`` go to every ``predict`` call;
    ``model_config`` to a custom model's ``load_context``; ``extra_env`` is set in each Python
    worker before the model loads. Only ``env_manager="local"`` (the default) is supported: the
    executors' own Python environment scores. ``allow_pickle`` opts in to pickled model files on
    the executors (or set ``MODELYARD_ALLOW_PICKLE=true`` in their environment).
    """
    if env_manager not in (None, "local"):
        raise InvalidInput(
            f"env_manager={env_manager!r} is not supported: modelyard scores in the executors' "
            "own Python environment (env_manager='local'); install the model's requirements there.",
            env_manager=env_manager,
        )
    if prebuilt_env_uri is not None:
        raise InvalidInput("prebuilt_env_uri is not supported: the executors' environment scores.")
    from modelyard.models.pyfunc import local_model_dir
    from modelyard.pyfunc import resolve_model_uri

    local = str(local_model_dir(resolve_model_uri(model_uri)).resolve())
    manifest = Model.load(Path(local))
    if result_type is None:
        result_type = default_result_type(manifest.signature)
    elif isinstance(result_type, str):
        from pyspark.sql.types import DataType

        result_type = DataType.fromDDL(result_type)
    check_result_type(result_type)
    options: dict[str, Any] = {}
    if allow_pickle is not None:
        options["allow_pickle"] = allow_pickle
    if model_config is not None:
        options["model_config"] = dict(model_config)
    scorer = _Scorer(
        shipment=ship_model(spark, local, spark.conf.get(SHIP_CONF, "auto")),
        result_type=result_type,
        input_names=_input_names(manifest),
        params=dict(params) if params else None,
        load_options=options,
        extra_env=dict(extra_env) if extra_env else None,
    )
    return ModelUDF(scorer, local)


__all__ = ["SHIP_CONF", "ModelShipment", "ModelUDF", "cached_model", "ship_model", "spark_udf"]
