"""``modelyard models predict`` and ``predict_file``: every format against in-process predict, chunked
reading with bounded memory, standard input and output, one-line errors for bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_helpers import MODEL_CODE, expected, frame, save_model
from click.testing import CliRunner

import modelyard.pyfunc
from modelyard.cli.main import cli
from modelyard.errors import InvalidInput, NotFound
from modelyard.serving.batch import predict_file


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tmp_path_factory.mktemp("scorer"))


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def in_process(model_dir: Path, data: pd.DataFrame, **params: float) -> list[float]:
    model = modelyard.pyfunc.load_model(model_dir)
    return list(model.predict(data, params=params or None))


def test_csv_in_csv_out_matches_in_process_predict(model_dir: Path, tmp_path: Path) -> None:
    data = frame(250)
    data.to_csv(tmp_path / "in.csv", index=False)
    done = run("models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"),
               "-o", str(tmp_path / "out.csv"), "--chunk-size", "100")  # fmt: skip
    assert done.exit_code == 0, done.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["prediction"]
    assert out["prediction"].tolist() == pytest.approx(in_process(model_dir, data))
    assert out["prediction"].tolist() == pytest.approx(expected(data))


def test_parquet_in_parquet_out_in_row_groups(model_dir: Path, tmp_path: Path) -> None:
    data = frame(1000, seed=1)
    data.to_parquet(tmp_path / "in.parquet", row_group_size=300)
    model = modelyard.pyfunc.load_model(model_dir)
    result = predict_file(
        model, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_size=400,
        params={"bias": 1.5},
    )  # fmt: skip
    assert (result.rows_in, result.rows_out, result.chunks) == (1000, 1000, 3)
    assert model.unwrap_python_model().calls == [400, 400, 200]
    written = pq.ParquetFile(tmp_path / "out.parquet")
    assert written.metadata.num_row_groups == 3  # one per chunk: written as it went
    out = written.read().to_pandas()
    assert out["prediction"].tolist() == pytest.approx(in_process(model_dir, data, bias=1.5))


@pytest.mark.parametrize(
    "orient", ["dataframe_split", "dataframe_records", "instances", "list_of_records"]
)
def test_json_request_documents_as_invocations_takes_them(
    model_dir: Path, tmp_path: Path, orient: str
) -> None:
    data = frame(40, seed=2)
    records = json.loads(data.to_json(orient="records"))
    body: object = {
        "dataframe_split": {"dataframe_split": json.loads(data.to_json(orient="split"))},
        "dataframe_records": {"dataframe_records": records, "params": {"bias": 2.0}},
        "instances": {"instances": records, "params": {"bias": 2.0}},
        "list_of_records": records,
    }[orient]
    if orient == "dataframe_split":
        body["params"] = {"bias": 2.0}  # type: ignore[index]
    (tmp_path / "in.json").write_text(json.dumps(body, indent=2))
    done = run("models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.json"),
               "-o", str(tmp_path / "out.json"), "--chunk-size", "15")  # fmt: skip
    assert done.exit_code == 0, done.output
    out = json.loads((tmp_path / "out.json").read_text())
    bias = 0.0 if orient == "list_of_records" else 2.0  # a bare list carries no params
    assert out["predictions"] == pytest.approx(in_process(model_dir, data, bias=bias))


def test_json_lines_read_in_chunks_written_as_json_lines(model_dir: Path, tmp_path: Path) -> None:
    data = frame(95, seed=3)
    (tmp_path / "in.jsonl").write_text(data.to_json(orient="records", lines=True))
    model = modelyard.pyfunc.load_model(model_dir)
    result = predict_file(model, tmp_path / "in.jsonl", tmp_path / "out.jsonl", chunk_size=30)
    assert result.chunks == 4 and model.unwrap_python_model().calls == [30, 30, 30, 5]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in lines] == pytest.approx(expected(data))
    # .json holding JSON Lines is recognised too, and CSV output can be asked for explicitly
    (tmp_path / "lines.json").write_text(data.to_json(orient="records", lines=True))
    done = run("models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "lines.json"),
               "-o", str(tmp_path / "out.txt"), "--output-format", "csv")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert pd.read_csv(tmp_path / "out.txt")["prediction"].tolist() == pytest.approx(expected(data))


def test_signature_types_are_enforced_per_chunk(model_dir: Path, tmp_path: Path) -> None:
    # "name" looks numeric, but the signature says string: it reaches the model as text ("00007")
    data = frame(30)
    data.to_csv(tmp_path / "in.csv", index=False)
    assert "00007" in (tmp_path / "in.csv").read_text()
    done = run("models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"),
               "--chunk-size", "7", "--output-format", "jsonl")  # fmt: skip
    assert done.exit_code == 0, done.output
    values = [json.loads(line)["prediction"] for line in done.stdout.splitlines()]
    assert values == pytest.approx(expected(data))


def _peaks(model, source: Path, out: Path, chunk: int) -> tuple[int, int]:
    """Peak traced memory of scoring ``source`` whole, then chunk by chunk into ``out``."""
    tracemalloc.start()
    try:
        whole = pd.read_csv(source, dtype={"name": str})
        model.predict(whole)
        del whole
        whole_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        predict_file(model, source, out, chunk_size=chunk)
        chunked_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return whole_peak, chunked_peak


def test_many_chunks_keep_memory_bounded(model_dir: Path, tmp_path: Path) -> None:
    chunk = 3_000
    model = modelyard.pyfunc.load_model(model_dir)
    peaks = {}
    for rows in (30_000, 120_000):
        frame(rows, seed=4).to_csv(tmp_path / f"{rows}.csv", index=False)
        model.unwrap_python_model().calls.clear()
        peaks[rows] = _peaks(model, tmp_path / f"{rows}.csv", tmp_path / f"{rows}.parquet", chunk)
        assert model.unwrap_python_model().calls[-(rows // chunk) :] == [chunk] * (rows // chunk)
        assert pq.ParquetFile(tmp_path / f"{rows}.parquet").metadata.num_rows == rows
    (whole_small, chunked_small), (whole_big, chunked_big) = peaks[30_000], peaks[120_000]
    assert whole_big > 1.5 * whole_small, peaks  # scoring whole grows with the file...
    assert chunked_big < 1.3 * chunked_small, peaks  # ...scoring in chunks does not
    assert chunked_big < whole_big / 3, peaks


def test_stdin_to_stdout_through_a_real_process(model_dir: Path) -> None:
    data = frame(120, seed=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "models", "predict", "-m", str(model_dir),
         "-i", "-", "-o", "-", "-t", "csv", "--output-format", "parquet", "--chunk-size", "50"],
        input=data.to_csv(index=False).encode(), capture_output=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""  # no progress bar when stderr is not a terminal
    out = pq.read_table(io.BytesIO(done.stdout)).to_pandas()
    assert out["prediction"].tolist() == pytest.approx(expected(data))

    # Parquet from standard input (spooled to a temporary file) to MLflow's JSON on stdout
    buffer = io.BytesIO()
    data.to_parquet(buffer)
    done = run("models", "predict", "-m", str(model_dir), "-i", "-", "-t", "parquet",
               input=buffer.getvalue())  # fmt: skip
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["predictions"] == pytest.approx(expected(data))


@pytest.mark.parametrize(
    ("name", "content", "flags", "message"),
    [
        ("missing.csv", None, (), "The input file {path} does not exist."),
        ("empty.csv", b"", (), "is empty: a CSV file needs a header row"),
        ("cols.csv", b"a,b\n1,2\n", (), "missing required column(s) ['x', 'y', 'name']"),
        ("types.csv", b"x,y,name\n1.0,abc,n\n", (), "column 'y': expected long"),
        ("broken.csv", b'x,y,name\n1.0,2,"n\n', (), "is not readable as CSV"),
        ("not.parquet", b"x,y\n1,2\n", (), "is not a Parquet file"),
        ("broken.json", b'{"dataframe_split": {', (), "is not valid JSON"),
        ("two.json", b'{"inputs": [1], "instances": [1]}', (), "exactly one of"),
        ("many.json", b'{"inputs": [1]}\n{"inputs": [2]}\n', (), "more than one request"),
        ("lines.jsonl", b'{"x": 1.0, "y": 1, "name": "a"}\n{"x": \n', (), "line 2, is not valid"),
        ("data.txt", b"x\n", (), "Cannot tell the input format"),
        ("in.csv", b"x,y,name\n1.0,2,n\n", ("--params", "[1]"), "--params must be a JSON object"),
    ],
)
def test_bad_input_gives_one_line_error(
    model_dir: Path, tmp_path: Path, name: str, content: bytes | None, flags: tuple, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out.csv"
    done = run("models", "predict", "-m", str(model_dir), "-i", str(path), "-o", str(out), *flags)
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert message.format(path=path) in lines[0]
    assert "Traceback" not in done.output
    assert not out.exists()  # no half-written output


def test_engine_errors_are_modelyard_errors(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        predict_file(str(model_dir), tmp_path / "nope.csv", tmp_path / "o.csv")
    (tmp_path / "in.csv").write_text("x,y,name\n1.0,2,n\n")
    with pytest.raises(InvalidInput, match="chunk size must be at least 1"):
        predict_file(str(model_dir), tmp_path / "in.csv", tmp_path / "o.csv", chunk_size=0)
    with pytest.raises(InvalidInput, match="Unknown output format"):
        predict_file(str(model_dir), tmp_path / "in.csv", tmp_path / "o.csv", output_format="xml")


def _stderr_on_a_terminal(args: list[str], model_dir: Path, source: Path) -> str:
    """Run ``models predict`` with stderr on a pseudo-terminal; what the terminal showed."""
    import pty

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelyard.cli", "models", "predict", "-m", str(model_dir),
             "-i", str(source), "-o", os.devnull, "--output-format", "csv", *args],
            stderr=slave, stdout=subprocess.PIPE, timeout=120, env=env,
        )  # fmt: skip
        os.close(slave)
        shown = b""
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not data:
                break
            shown += data
    finally:
        os.close(master)
    assert done.returncode == 0, shown.decode()
    return shown.decode()


def test_progress_bar_on_a_terminal_only_unless_turned_off(model_dir: Path, tmp_path: Path) -> None:
    frame(3_000).to_csv(tmp_path / "in.csv", index=False)
    shown = _stderr_on_a_terminal(["--chunk-size", "500"], model_dir, tmp_path / "in.csv")
    last = shown.replace("\r\n", "\n").split("\r")[-1]
    assert last.startswith("scoring 100% [" + "#" * 30 + "] 3,000 rows"), shown
    assert _stderr_on_a_terminal(["--no-progress"], model_dir, tmp_path / "in.csv") == ""


def test_registry_uris_resolve_through_tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-m models:/<name>/<version>`` and ``runs:/`` with ``--tracking-uri`` of a SQLite store."""
    import modelyard
    from modelyard.client import fluent

    db = f"sqlite:///{tmp_path / 'tracking.db'}"
    code = tmp_path / "scorer_code.py"
    code.write_text(MODEL_CODE)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    before = fluent.get_tracking_uri()
    modelyard.set_tracking_uri(db)
    try:
        with modelyard.start_run() as active:
            modelyard.pyfunc.log_model(name="scorer", python_model=str(code),
                                       input_example=frame(3), registered_model_name="scorer")  # fmt: skip
    finally:
        modelyard.set_tracking_uri(before)
    data = frame(20, seed=6)
    data.to_csv(tmp_path / "in.csv", index=False)
    for uri in ("models:/scorer/1", f"runs:/{active.info.run_id}/scorer"):
        done = run("models", "predict", "-m", uri, "-i", str(tmp_path / "in.csv"),
                   "--tracking-uri", db, "--output-format", "jsonl")  # fmt: skip
        assert done.exit_code == 0, done.output
        values = [json.loads(line)["prediction"] for line in done.stdout.splitlines()]
        assert values == pytest.approx(expected(data))
    fluent.set_tracking_uri(before)  # --tracking-uri set it for this process


@pytest.mark.slow
def test_a_model_saved_by_mlflow_scores_as_mlflow_models_predict_does(tmp_path: Path) -> None:
    """Same file, same model (saved by the real mlflow): the same output file as MLflow's CLI."""
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    data = pd.DataFrame({"a": np.linspace(-3, 3, 60), "b": np.arange(60.0) % 4})
    estimator = LogisticRegression().fit(data, (data["a"] + 0.2 * data["b"] > 0.5).astype(int))
    signature = infer_signature(data, estimator.predict(data))
    mlflow.sklearn.save_model(estimator, str(tmp_path / "sk"), signature=signature)
    data.to_csv(tmp_path / "in.csv", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    theirs = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", str(tmp_path / "sk"),
         "-i", str(tmp_path / "in.csv"), "-t", "csv", "-o", str(tmp_path / "mlflow.json"),
         "--env-manager", "local"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    done = run("models", "predict", "-m", str(tmp_path / "sk"), "-i", str(tmp_path / "in.csv"),
               "-o", str(tmp_path / "ours.json"), "--chunk-size", "25")  # fmt: skip
    assert done.exit_code == 0, done.output
    ours = json.loads((tmp_path / "ours.json").read_text())
    assert ours == json.loads((tmp_path / "mlflow.json").read_text())
    assert ours["predictions"] == estimator.predict(data).tolist()
