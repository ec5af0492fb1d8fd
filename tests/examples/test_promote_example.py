"""examples/promote.py, run as CI would run it: a better Staging candidate is approved and promoted
(the old Production version archived); a worse one is rejected with a comment carrying the numbers."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard import ModelyardClient

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "promote.py"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """The example's database keeps artifacts under ./mlartifacts: keep them in the test's tmp dir."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def data(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_hold, y_train, y_hold = train_test_split(x, y, test_size=0.3, random_state=0)
    holdout = tmp_path / "holdout.csv"
    with open(holdout, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"f{i}" for i in range(x.shape[1])] + ["label"])
        for row, label in zip(x_hold, y_hold, strict=True):
            writer.writerow([*row, int(label)])
    return x_train, y_train, holdout


def _register(client, tmp_path, estimator, x, y, stage: str) -> str:
    import modelyard.sklearn

    estimator.fit(x, y)
    exp = client.get_experiment_by_name("promote") or client.create_experiment("promote")
    exp_id = exp if isinstance(exp, str) else exp.experiment_id
    run = client.create_run(exp_id)
    path = tmp_path / f"model-{run.info.run_id}"
    modelyard.sklearn.save_model(estimator, path)
    client.log_artifacts(run.info.run_id, str(path), "model")
    client.set_terminated(run.info.run_id)
    mv = client.register_model(f"runs:/{run.info.run_id}/model", "churn")
    client.transition_model_version_stage("churn", mv.version, stage)
    return mv.version


def _promote(uri: str, holdout: Path, *extra: str) -> tuple[int, dict]:
    """Run the script as CI does: a fresh interpreter, arguments on the command line."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--tracking-uri", uri, "--model", "churn",
         "--holdout", str(holdout), "--min-improvement", "0.01", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout.splitlines()[-1])


def _promote_in_process(uri: str, holdout: Path, capsys, *extra: str) -> tuple[int, dict]:
    """The same script, loaded and run in this process (faster; same code path)."""
    spec = importlib.util.spec_from_file_location("promote_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    code = module.main(
        ["--tracking-uri", uri, "--model", "churn", "--holdout", str(holdout),
         "--min-improvement", "0.01", *extra]
    )  # fmt: skip
    out = capsys.readouterr().out
    return code, json.loads(out.splitlines()[-1])


@pytest.mark.slow
def test_promote_approves_a_better_candidate_and_rejects_a_worse_one(tmp_path, data, capsys):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, holdout = data
    uri = f"sqlite:///{tmp_path / 'ci.db'}"
    weak = DummyClassifier(strategy="most_frequent")
    strong = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with ModelyardClient(uri) as client:
        old = _register(client, tmp_path, weak, x, y, "Production")
        new = _register(client, tmp_path, strong, x, y, "Staging")

    code, result = _promote(uri, holdout)
    assert code == 0 and result["decision"] == "promoted", result
    assert result["candidate_score"] > result["production_score"] + 0.01
    with ModelyardClient(uri) as client:
        assert client.get_model_version("churn", new).current_stage == "Production"
        assert client.get_model_version("churn", old).current_stage == "Archived"
        (request,) = client.list_transition_requests("churn", new)
        assert (request.status, request.user_id, request.resolved_by) == (
            "APPROVED",
            "ci-bot",
            "ci-gate",
        )
        assert f"{result['candidate_score']:.4f}" in request.resolution_comment
        tags = client.get_model_version("churn", new).tag_dict
        assert float(tags["holdout_accuracy"]) == pytest.approx(result["candidate_score"])
        worse = _register(client, tmp_path, weak, x, y, "Staging")

    code, result = _promote_in_process(uri, holdout, capsys, "--fail-on-reject")
    assert code == 1 and result["decision"] == "rejected", result
    with ModelyardClient(uri) as client:
        assert client.get_model_version("churn", worse).current_stage == "Staging"
        assert client.get_model_version("churn", new).current_stage == "Production"
        (request,) = client.list_transition_requests("churn", worse)
        assert request.status == "REJECTED"
        comment = request.resolution_comment or ""
        assert f"{result['candidate_score']:.4f}" in comment
        assert f"{result['production_score']:.4f}" in comment
        kinds = [a.activity_type for a in client.get_registry_activities("churn", worse)]
        assert kinds[-2:] == ["REQUESTED_TRANSITION", "REJECTED_REQUEST"]
