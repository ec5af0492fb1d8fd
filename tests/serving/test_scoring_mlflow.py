"""Models saved by MLflow (``mlflow.sklearn.save_model``, ``mlflow.pyfunc.save_model``) served by
modelyard answer what ``mlflow models serve --env-manager local`` answers, body for body."""

from __future__ import annotations

import io
import os
import sys
import textwrap
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from serving_support import free_port, server_env

from live_app import server_process

MLFLOW = Path(sys.executable).parent / "mlflow"

PYFUNC_CODE = """
import mlflow
import pandas as pd


class Scaler(mlflow.pyfunc.PythonModel):
    def predict(self, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        return pd.DataFrame({"y": model_input["a"] * scale + model_input["b"], "n": len(model_input)})


mlflow.models.set_model(Scaler())
"""


@contextmanager
def mlflow_server(model_dir: Path, root: Path) -> Iterator[str]:
    port = free_port()
    env = server_env({"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"})
    env["PATH"] = os.pathsep.join([str(MLFLOW.parent), env.get("PATH", "")])  # it runs uvicorn
    argv = [str(MLFLOW), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with server_process(
        argv, port, env, root, timeout_s=180, ready_path="/ping", log_name=f"mlflow-{port}.log",
        check_log=False,
    ) as url:  # fmt: skip
        yield url


def _post(url: str, body: object) -> tuple[int, object]:
    if isinstance(body, tuple):
        content_type, content = body
        response = httpx.post(
            f"{url}/invocations",
            content=content,
            headers={"Content-Type": content_type},
            timeout=60,
        )
    else:
        response = httpx.post(f"{url}/invocations", json=body, timeout=60)
    return response.status_code, response.json()


def _same_answers(mlflow_url: str, modelyard_url: str, bodies: dict[str, object]) -> None:
    for name, body in bodies.items():
        theirs = _post(mlflow_url, body)
        ours = _post(modelyard_url, body)
        assert theirs[0] == ours[0] == 200, (name, theirs, ours)
        assert ours[1] == theirs[1], name


@pytest.mark.slow
def test_an_mlflow_sklearn_model_answers_as_under_mlflow(start_scoring_server, tmp_path, lr_frame):
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    labels = (lr_frame["f0"] - lr_frame["f3"] > 0).astype(int)
    model = LogisticRegression().fit(lr_frame, labels)
    path = tmp_path / "sk"
    mlflow.sklearn.save_model(
        model, path, signature=infer_signature(lr_frame, model.predict(lr_frame))
    )
    rows = lr_frame.iloc[:9]
    parquet = io.BytesIO()
    rows.to_parquet(parquet, index=False)
    bodies = {
        "split": {"dataframe_split": rows.to_dict(orient="split")},
        "records": {"dataframe_records": rows.to_dict(orient="records")},
        # (rows of bare values for named columns are refused by MLflow, accepted by modelyard)
        "instances": {"instances": rows.to_dict(orient="records")},
        "inputs": {"inputs": {c: rows[c].tolist() for c in rows.columns}},
        "csv": ("text/csv", rows.to_csv(index=False).encode()),
        "parquet": ("application/vnd.apache.parquet", parquet.getvalue()),
    }
    with (
        mlflow_server(path, tmp_path) as theirs,
        start_scoring_server(path, "--allow-pickle") as ours,
    ):
        _same_answers(theirs, ours.url, bodies)
        for bad in ({"nope": []}, {"dataframe_records": [{"f0": 1.0}]}):
            their_status, their_body = _post(theirs, bad)
            our_status, our_body = _post(ours.url, bad)
            assert their_status == our_status == 400
            assert our_body["error_code"] == their_body["error_code"]


@pytest.mark.slow
def test_an_mlflow_pyfunc_model_answers_as_under_mlflow(start_scoring_server, tmp_path):
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    code = tmp_path / "scaler.py"
    code.write_text(textwrap.dedent(PYFUNC_CODE))
    example = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.25]})
    signature = infer_signature(example, params={"scale": 1.0})
    path = tmp_path / "pyfunc"
    with warnings.catch_warnings():  # MLflow's advice about type hints and input examples
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(
            path, python_model=str(code), signature=signature, input_example=example
        )
    bodies = {
        "split": {"dataframe_split": example.to_dict(orient="split")},
        "records": {"dataframe_records": example.to_dict(orient="records")},
        "params": {"dataframe_split": example.to_dict(orient="split"), "params": {"scale": 3.0}},
        "inputs": {"inputs": {"a": [4.0], "b": [1.0]}, "params": {"scale": 0.5}},
        "csv": ("text/csv", example.to_csv(index=False).encode()),
    }
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    with (
        mlflow_server(path, tmp_path) as theirs,
        start_scoring_server(path, env=env) as ours,
    ):
        _same_answers(theirs, ours.url, bodies)
