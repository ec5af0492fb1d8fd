"""``modelyard sweep``: trials as child runs of one parent, run in parallel, the best one recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_helpers import runs_of, write_project

from modelyard.errors import InvalidInput
from modelyard.projects.sweep import Distribution, parse_grid, parse_random, trial_params

MLPROJECT = """
name: quadratic
entry_points:
  main:
    parameters:
      x: float
      y: {type: float, default: 0}
    command: "python score.py {x} {y}"
"""
SCORE = """
import sys
import modelyard
x, y = float(sys.argv[1]), float(sys.argv[2])
if x < 0:
    sys.exit("negative x")
modelyard.log_metric("loss", (x - 2) ** 2 + y)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "quadratic", {"MLproject": MLPROJECT, "score.py": SCORE})


def test_grid_sweep_records_children_and_the_best_trial(
    modelyard, project: Path, tracking_db: str, client
) -> None:
    done = modelyard(
        "sweep", str(project), "--grid", "x=0,1,2,3", "-P", "y=0.5", "--parallel", "2",
        "--metric", "loss", "--mode", "min", "--experiment-name", "sweeps", "--run-name", "search",
        "--tracking-uri", tracking_db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    experiment = client.get_experiment_by_name("sweeps")
    assert experiment is not None
    runs = runs_of(client, experiment.experiment_id)
    (parent,) = [r for r in runs if r.info.run_name == "search"]
    children = [r for r in runs if r is not parent]
    assert len(children) == 4
    assert {r.data.tag_dict["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    by_x = {r.data.param_dict["x"]: r for r in children}
    assert set(by_x) == {"0", "1", "2", "3"}
    assert all(r.data.param_dict["y"] == "0.5" for r in children)
    best = by_x["2"]
    assert parent.data.tag_dict["best_run_id"] == best.info.run_id
    assert {m.key: m.value for m in parent.data.metrics} == {"best_loss": 0.5}
    params = parent.data.param_dict
    assert params["best_x"] == "2"
    assert params["sweep.grid.x"] == "0,1,2,3"
    assert (params["sweep.metric"], params["sweep.mode"], params["sweep.trials"]) == (
        "loss",
        "min",
        "4",
    )
    assert params["y"] == "0.5"
    assert best.info.run_id in done.stdout and "(best)" in done.stdout


def test_random_sweep_with_failures_and_max_mode(
    modelyard, project: Path, tracking_db: str, client
) -> None:
    done = modelyard(
        "sweep", str(project), "--grid", "x=-1,1", "--random", "y=uniform:0:1", "--trials", "2",
        "--seed", "7", "--parallel", "3", "--metric", "loss", "--mode", "max",
        "--tracking-uri", tracking_db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = runs_of(client)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tag_dict)
    children = [r for r in runs if r is not parent]
    statuses = sorted((r.data.param_dict["x"], r.info.status) for r in children)
    assert statuses == [("-1", "FAILED"), ("-1", "FAILED"), ("1", "FINISHED"), ("1", "FINISHED")]
    expected = trial_params({"x": ["-1", "1"]}, {"y": Distribution("uniform", 0, 1)}, 2, 7)
    assert sorted(r.data.param_dict["y"] for r in children) == sorted(t["y"] for t in expected)
    finished = [r for r in children if r.info.status == "FINISHED"]
    best = max(finished, key=lambda r: dict((m.key, m.value) for m in r.data.metrics)["loss"])
    assert parent.data.tag_dict["best_run_id"] == best.info.run_id
    assert parent.data.param_dict["sweep.seed"] == "7"
    assert parent.data.param_dict["sweep.random.y"] == "uniform:0:1"
    assert parent.info.status == "FINISHED"


def test_a_bad_trial_value_stops_the_sweep_before_any_run(
    invoke, project: Path, tracking_db: str, client
) -> None:
    done = invoke(
        "sweep",
        str(project),
        "--grid",
        "x=1,two",
        "--metric",
        "loss",
        "--tracking-uri",
        tracking_db,
    )
    assert done.exit_code == 1
    assert "Parameter 'x' must be a number (float); got 'two'." in done.stderr
    assert runs_of(client) == []


def test_no_trial_with_the_metric_fails_the_parent(
    modelyard, project: Path, tracking_db: str, client
) -> None:
    done = modelyard(
        "sweep",
        str(project),
        "--grid",
        "x=1",
        "--metric",
        "accuracy",
        "--tracking-uri",
        tracking_db,
    )
    assert done.returncode == 1
    assert "no trial finished with the metric 'accuracy'" in done.stderr
    parent = next(r for r in runs_of(client) if "mlflow.parentRunId" not in r.data.tag_dict)
    assert parent.info.status == "FAILED"


def test_option_parsing() -> None:
    assert parse_grid(["a=1,2", "b= x , y "]) == {"a": ["1", "2"], "b": ["x", "y"]}
    dists = parse_random(["lr=loguniform:1e-4:1e-1", "n=int:1:3", "opt=choice:adam,sgd"])
    assert dists["lr"] == Distribution("loguniform", 1e-4, 0.1)
    assert dists["opt"].choices == ("adam", "sgd")
    samples = trial_params({}, dists, 20, seed=1)
    assert len(samples) == 20
    assert all(1e-4 <= float(s["lr"]) <= 0.1 for s in samples)
    assert {s["n"] for s in samples} <= {"1", "2", "3"}
    assert {s["opt"] for s in samples} <= {"adam", "sgd"}
    assert trial_params({}, dists, 20, seed=1) == samples
    assert len(trial_params({}, dists, None, seed=1)) == 10
    assert len(trial_params({"a": ["1", "2"], "b": ["3", "4", "5"]}, {}, None, seed=1)) == 6
    for bad in (["a"], ["a="], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            parse_grid(bad)
    for bad in (
        ["a=normal:0:1"],
        ["a=uniform:2:1"],
        ["a=loguniform:0:1"],
        ["a=int:0.5:2"],
        ["a=choice:"],
    ):
        with pytest.raises(ValueError):
            parse_random(bad)
    with pytest.raises(InvalidInput, match="both in --grid and --random"):
        trial_params({"a": ["1"]}, {"a": Distribution("uniform", 0, 1)}, 1, 0)
    with pytest.raises(InvalidInput, match="at least one"):
        trial_params({}, {}, 1, 0)


def test_sweep_usage_errors(invoke, project: Path, tracking_db: str) -> None:
    done = invoke("sweep", str(project), "--random", "x=gauss:1", "--metric", "loss")
    assert done.exit_code == 2 and "unknown distribution 'gauss'" in done.stderr
    done = invoke("sweep", str(project), "--grid", "x=1")
    assert done.exit_code == 2 and "--metric" in done.stderr
