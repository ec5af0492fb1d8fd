"""``spark_udf`` on a real local SparkSession: batch scoring by name and by position, array and
struct results, a file-source stream, shipping the model as an archive, and one model load per
Python worker process however many Arrow batches it scores."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from spark_fixtures import spark  # noqa: F401  (the session fixture)

import modelyard.pyfunc
import modelyard.sklearn
from modelyard.errors import InvalidInput
from modelyard.models.signature import infer_signature
from modelyard.pyfunc import spark_udf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


def _data(rows: int = 30) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"size": rng.normal(size=rows), "rooms": rng.normal(size=rows)})
    labels = (frame["size"] + 0.5 * frame["rooms"] > 0).astype(np.int64).to_numpy()
    return frame, labels


@pytest.fixture(scope="module")
def named_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, pd.DataFrame]:
    """A LogisticRegression on named columns, saved (skops) with a signature."""
    from sklearn.linear_model import LogisticRegression

    frame, labels = _data()
    estimator = LogisticRegression().fit(frame, labels)
    path = tmp_path_factory.mktemp("named") / "model"
    signature = infer_signature(frame, estimator.predict(frame))
    modelyard.sklearn.save_model(estimator, path, signature=signature)
    return path, estimator, frame


def _rows(df: Any) -> list[Any]:
    """The rows in ``id`` order (sorted here: a Spark orderBy would add a shuffle stage)."""
    return sorted(df.collect(), key=lambda row: row["id"])


def _scored(df: Any, column: str = "p") -> list[Any]:
    return [row[column] for row in _rows(df)]


def _spark_frame(spark: Any, frame: pd.DataFrame) -> Any:  # noqa: F811
    with_id = frame.assign(id=range(len(frame)), note="x")
    return spark.createDataFrame(with_id[["note", "rooms", "id", "size"]])


def test_batch_matches_columns_to_the_signature_by_name(
    spark: Any,  # noqa: F811
    named_model: tuple[Path, Any, pd.DataFrame],
) -> None:
    from pyspark.sql.functions import col, struct

    path, estimator, frame = named_model
    expected = estimator.predict(frame).tolist()
    df = _spark_frame(spark, frame)  # columns in another order, with extras
    udf = spark_udf(spark, str(path))  # result type from the signature's outputs (long)
    assert udf.return_type.simpleString() == "bigint"
    assert _scored(df.withColumn("p", udf("rooms", "size"))) == expected
    assert _scored(df.withColumn("p", udf(struct(col("size"), col("rooms"))))) == expected
    assert _scored(df.withColumn("p", udf())) == expected  # the signature's own column names
    # none of the names in the signature: the columns are taken in the signature's order
    renamed = df.withColumnRenamed("size", "a").withColumnRenamed("rooms", "b")
    assert _scored(renamed.withColumn("p", udf("a", "b"))) == expected
    as_text = spark_udf(spark, f"file://{path}", result_type="string")
    assert _scored(df.withColumn("p", as_text("size", "rooms"))) == [str(v) for v in expected]


def test_batch_without_a_signature_is_positional(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from pyspark.sql.types import DoubleType
    from sklearn.linear_model import LinearRegression

    frame, _ = _data()
    target = 2.0 * frame["size"] - frame["rooms"] + 0.25
    estimator = LinearRegression().fit(frame.to_numpy(), target.to_numpy())
    modelyard.sklearn.save_model(estimator, tmp_path / "model")
    expected = estimator.predict(frame.to_numpy())
    df = _spark_frame(spark, frame).withColumnRenamed("size", "first")
    udf = spark_udf(spark, str(tmp_path / "model"), result_type=DoubleType())
    got = _scored(df.withColumn("p", udf("first", "rooms")))
    assert np.allclose(got, expected)
    swapped = _scored(df.withColumn("p", udf("rooms", "first")))
    assert not np.allclose(swapped, expected)  # position, not name, decides
    with pytest.raises(InvalidInput, match="names no input columns"):
        udf()


def test_array_result_from_a_two_dimensional_prediction(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, labels = _data()
    estimator = LogisticRegression().fit(frame, labels)
    modelyard.sklearn.save_model(
        estimator, tmp_path / "proba", pyfunc_predict_fn="predict_proba", input_example=frame[:3]
    )
    expected = estimator.predict_proba(frame)
    df = _spark_frame(spark, frame)
    udf = spark_udf(spark, str(tmp_path / "proba"), result_type="array<double>")
    got = _scored(df.withColumn("p", udf("size", "rooms")))
    assert np.allclose(np.array(got), expected)
    as_float = spark_udf(spark, str(tmp_path / "proba"), result_type="array<float>")
    got32 = _scored(df.withColumn("p", as_float("size", "rooms")))
    assert np.allclose(np.array(got32), expected, atol=1e-6)


MULTI_OUTPUT_MODEL = """
import pandas as pd
from modelyard.pyfunc import PythonModel, set_model


class Grader(PythonModel):
    def predict(self, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        score = (model_input["size"] + model_input["rooms"]) * scale
        return pd.DataFrame({
            "label": ["high" if s > 0 else "low" for s in score],
            "score": score,
            "parts": [[a, b] for a, b in zip(model_input["size"], model_input["rooms"])],
        })


set_model(Grader())
"""


def test_struct_result_from_a_model_returning_several_columns(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from pyspark.sql.functions import struct

    code = tmp_path / "grader.py"
    code.write_text(textwrap.dedent(MULTI_OUTPUT_MODEL))
    frame, _ = _data()
    output = pd.DataFrame({"label": ["low"], "score": [0.5], "parts": [[0.1, 0.2]]})
    signature = infer_signature(frame[:2], output, params={"scale": 1.0})
    modelyard.pyfunc.save_model(tmp_path / "grader", python_model=str(code), signature=signature)
    df = _spark_frame(spark, frame)
    udf = spark_udf(
        spark,
        str(tmp_path / "grader"),
        result_type="score double, label string, parts array<double>",
        params={"scale": 2.0},
    )
    rows = _rows(df.withColumn("p", udf(struct("size", "rooms"))))
    score = 2.0 * (frame["size"] + frame["rooms"])
    assert np.allclose([r["p"]["score"] for r in rows], score)
    assert [r["p"]["label"] for r in rows] == ["high" if s > 0 else "low" for s in score]
    assert np.allclose([r["p"]["parts"] for r in rows], frame[["size", "rooms"]].to_numpy())
    # the default result type is the signature's outputs: a struct of all three columns
    default = spark_udf(spark, str(tmp_path / "grader"))
    assert [f.name for f in default.return_type.fields] == ["label", "score", "parts"]
    first = _rows(df.withColumn("p", default()))[0]
    assert first["p"]["label"] == rows[0]["p"]["label"]
    assert first["p"]["score"] == pytest.approx(rows[0]["p"]["score"] / 2)  # the default scale
    with pytest.raises(InvalidInput, match="Unsupported result_type"):
        spark_udf(spark, str(tmp_path / "grader"), result_type="map<string, double>")


def test_structured_streaming_from_a_file_source(
    spark: Any,  # noqa: F811
    named_model: tuple[Path, Any, pd.DataFrame],
    tmp_path: Path,
) -> None:
    path, estimator, frame = named_model
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    with_id = frame.assign(id=range(len(frame)))
    with_id[:12].to_csv(incoming / "part-0.csv", index=False)
    with_id[12:].to_csv(incoming / "part-1.csv", index=False)
    udf = spark_udf(spark, str(path), result_type="long")
    stream = (
        spark.readStream.schema("size double, rooms double, id long")
        .option("header", "true")
        .option("maxFilesPerTrigger", 1)
        .csv(str(incoming))
    )
    query = (
        stream.withColumn("p", udf("size", "rooms"))
        .writeStream.format("memory")
        .queryName("scored_stream")
        .outputMode("append")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    try:
        query.awaitTermination(180)
        assert query.exception() is None
    finally:
        query.stop()
    scored = spark.sql("SELECT id, p FROM scored_stream ORDER BY id").collect()
    assert [r["id"] for r in scored] == list(range(len(frame)))
    assert [r["p"] for r in scored] == estimator.predict(frame).tolist()
    assert len(query.recentProgress) >= 2  # one micro-batch per file


LOAD_COUNTING_MODEL = """
import os
from pathlib import Path
import pandas as pd
from modelyard.pyfunc import PythonModel, set_model


class Counting(PythonModel):
    def load_context(self, context):
        self.log = context.model_config.get("log")
        if self.log:
            with open(Path(self.log) / "loads", "a") as f:
                f.write(f"{os.getpid()}\\n")

    def predict(self, model_input, params=None):
        if self.log:
            with open(Path(self.log) / "batches", "a") as f:
                f.write(f"{os.getpid()} {len(model_input)}\\n")
        where = str(Path(__file__).resolve().parent)
        return pd.Series([where] * len(model_input))


set_model(Counting())
"""


@pytest.fixture(scope="module")
def counting_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("counting")
    code = root / "counting.py"
    code.write_text(textwrap.dedent(LOAD_COUNTING_MODEL))
    modelyard.pyfunc.save_model(root / "model", python_model=str(code))
    return root / "model"


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_the_model_loads_once_per_python_worker_not_per_batch(
    spark: Any,  # noqa: F811
    counting_model: Path,
    tmp_path: Path,
) -> None:
    from pyspark.sql.functions import col

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "5")
    try:
        df = spark.range(0, 400, numPartitions=8).withColumn("x", col("id") * 1.0)
        udf = spark_udf(
            spark, str(counting_model), result_type="string", model_config={"log": str(tmp_path)}
        )
        for _ in range(2):  # two jobs: the workers are reused and keep the model
            where = {r["p"] for r in df.withColumn("p", udf("x")).select("p").collect()}
            assert where == {str(counting_model.resolve())}  # read in place (local master)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    loads = _lines(tmp_path / "loads")
    batches = (tmp_path / "batches").read_text().splitlines()
    batch_pids = {line.split()[0] for line in batches}
    assert len(batches) >= 2 * 400 // 5  # 160 Arrow batches at least
    assert sum(int(line.split()[1]) for line in batches) == 800
    assert sorted(loads) == sorted(batch_pids)  # each worker process loaded it exactly once
    assert len(loads) <= 4  # a few worker processes for local[2], nowhere near 160
    assert str(os.getpid()) not in loads  # the driver reads only the MLmodel file


def test_the_model_ships_to_executors_as_an_archive(
    spark: Any,  # noqa: F811
    counting_model: Path,
) -> None:
    spark.conf.set("spark.modelyard.shipModel", "archive")
    try:
        udf = spark_udf(spark, str(counting_model), result_type="string")
    finally:
        spark.conf.unset("spark.modelyard.shipModel")
    where = {r["p"] for r in spark.range(0, 20).withColumn("p", udf("id")).collect()}
    assert len(where) == 1
    unpacked = Path(where.pop())
    assert unpacked != counting_model.resolve()
    assert unpacked.parent == Path(tempfile.gettempdir()).resolve()
    assert unpacked.name.startswith("modelyard-spark-model-")
    assert (unpacked / "MLmodel").read_text() == (counting_model / "MLmodel").read_text()


def test_unsupported_environment_managers_are_refused(
    spark: Any,  # noqa: F811
    counting_model: Path,
) -> None:
    with pytest.raises(InvalidInput, match="env_manager='conda' is not supported"):
        spark_udf(spark, str(counting_model), env_manager="conda")
    with pytest.raises(InvalidInput, match="prebuilt_env_uri"):
        spark_udf(spark, str(counting_model), prebuilt_env_uri="/tmp/env.tar.gz")


def test_parameters_follow_mlflow_spark_udf() -> None:
    import inspect

    import mlflow.pyfunc

    theirs = list(inspect.signature(mlflow.pyfunc.spark_udf).parameters)
    ours = inspect.signature(spark_udf).parameters
    assert list(ours)[: len(theirs)] == theirs
    assert all(ours[name].kind is not inspect.Parameter.KEYWORD_ONLY for name in theirs)


def test_mlflow_saved_sklearn_models_score_pickled_ones_with_the_opt_in(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature as mlflow_signature
    from sklearn.linear_model import LogisticRegression

    frame, labels = _data()
    estimator = LogisticRegression().fit(frame, labels)
    expected = estimator.predict(frame).tolist()
    signature = mlflow_signature(frame, estimator.predict(frame))
    mlflow.sklearn.save_model(estimator, str(tmp_path / "skops"), signature=signature)
    pickled = str(tmp_path / "pickled")
    mlflow.sklearn.save_model(
        estimator, pickled, signature=signature, serialization_format="cloudpickle"
    )
    df = _spark_frame(spark, frame)
    udf = spark_udf(spark, str(tmp_path / "skops"), "long")  # MLflow 3 writes skops: no opt-in
    assert _scored(df.withColumn("p", udf("size", "rooms"))) == expected
    refused = spark_udf(spark, pickled, "long")
    with pytest.raises(Exception, match="allow_pickle=True"):
        df.withColumn("p", refused("size", "rooms")).collect()
    allowed = spark_udf(spark, pickled, "long", allow_pickle=True)
    assert _scored(df.withColumn("p", allowed("size", "rooms"))) == expected
