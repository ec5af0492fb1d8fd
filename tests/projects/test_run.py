"""``modelyard run`` on a local folder and a zip: the run, its params and tags, the command's
environment, exit statuses, validation before anything starts, interruption, and the Python API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from project_helpers import RECORDER, runs_of, write_project

import modelyard.projects
from modelyard.client import ModelyardClient

MLPROJECT = """
name: recorder
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      layers: int
    command: "python record.py --alpha {alpha} --layers {layers}"
  fail:
    command: "python -c 'import sys; sys.exit(3)'"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "recorder", {"MLproject": MLPROJECT, "record.py": RECORDER})


def _record(path: Path) -> dict:
    return json.loads(path.read_text())


def test_run_local_folder(modelyard, project: Path, tracking_db: str, client, tmp_path) -> None:
    record = tmp_path / "record.json"
    done = modelyard(
        "run", str(project), "-P", "layers=3", "-P", "note=hello world",
        "--experiment-name", "proj", "--run-name", "first", "--tracking-uri", tracking_db,
        env={"RECORD_TO": str(record)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    experiment = client.get_experiment_by_name("proj")
    assert experiment is not None
    runs = runs_of(client, experiment.experiment_id)
    assert len(runs) == 1, "the command continued the run instead of starting another"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.data.param_dict == {"alpha": "0.5", "layers": "3", "note": "hello world"}
    tags = run.data.tag_dict
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(project)
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.project.backend"] == "local"
    assert tags["mlflow.user"]
    assert tags["inner_run_id"] == run.info.run_id
    assert {m.key: m.value for m in run.data.metrics} == {"seen": 1.0}

    seen = _record(record)
    assert seen["argv"] == ["--alpha", "0.5", "--layers", "3", "--note", "hello world"]
    assert seen["cwd"] == str(project)
    assert os.path.samefile(seen["executable"], sys.executable)  # env manager local
    env = seen["env"]
    for prefix in ("MODELYARD", "MLFLOW"):
        assert env[f"{prefix}_RUN_ID"] == run.info.run_id
        assert env[f"{prefix}_EXPERIMENT_ID"] == experiment.experiment_id
        assert env[f"{prefix}_TRACKING_URI"] == tracking_db
    assert f"run {run.info.run_id}" in done.stderr


def test_relative_sqlite_uri_is_made_absolute_for_the_command(
    modelyard, project: Path, tmp_path: Path
) -> None:
    record = tmp_path / "record.json"
    done = modelyard(
        "run", str(project), "-P", "layers=1", "--tracking-uri", "sqlite:///relative.db",
        env={"RECORD_TO": str(record)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _record(record)["env"]["MODELYARD_TRACKING_URI"] == f"sqlite:///{tmp_path}/relative.db"
    with ModelyardClient(f"sqlite:///{tmp_path}/relative.db") as client:
        (run,) = runs_of(client)
        assert {m.key for m in run.data.metrics} == {"seen"}


def test_a_failing_command_marks_the_run_failed(
    modelyard, project: Path, tracking_db: str, client
) -> None:
    done = modelyard("run", str(project), "-e", "fail", "--tracking-uri", tracking_db)
    assert done.returncode == 1
    (run,) = runs_of(client)
    assert run.info.status == "FAILED"
    assert done.stderr.strip().splitlines()[-1] == f"Error: run {run.info.run_id} ended FAILED."


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-P", "layers=three"], "Parameter 'layers' must be an integer (int); got 'three'."),
        (["-P", "layers=2", "-P", "alpha=x"], "Parameter 'alpha' must be a number (float)"),
        ([], "needs a value for the parameter(s) 'layers' (int)"),
        (["-e", "nope"], "no entry point 'nope'"),
        (["-P", "layers=1", "-v", "main"], "-v/--version can only be used with a git"),
        (["-P", "layers=1", "--experiment-id", "12345"], "12345"),
        (["-P", "layers=1", "--backend", "slurm"], "Unknown project backend 'slurm'"),
    ],
)
def test_bad_input_is_one_error_line_and_no_run(
    invoke, project: Path, tracking_db: str, client, args: list[str], fragment: str
) -> None:
    done = invoke("run", str(project), *args, "--tracking-uri", tracking_db)
    assert done.exit_code == 1, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert fragment in lines[0]
    assert runs_of(client) == []


def test_malformed_mlproject_is_an_error_naming_the_key(
    invoke, tmp_path: Path, tracking_db: str, client
) -> None:
    bad = write_project(tmp_path / "bad", {"MLproject": "entry_points:\n  main: {cmd: x}\n"})
    done = invoke("run", str(bad), "--tracking-uri", tracking_db)
    assert done.exit_code == 1
    assert "MLproject key 'entry_points.main.cmd'" in done.stderr
    assert runs_of(client) == []


def test_usage_errors(invoke, project: Path, tracking_db: str) -> None:
    done = invoke("run", str(project), "-P", "layers", "--tracking-uri", tracking_db)
    assert done.exit_code == 2 and "is not NAME=VALUE" in done.stderr
    done = invoke("run", str(project), "-c", "{not json", "--tracking-uri", tracking_db)
    assert done.exit_code == 2 and "--backend-config" in done.stderr
    done = invoke("run", str(project), "--env-manager", "pipenv", "--tracking-uri", tracking_db)
    assert done.exit_code == 2


def test_undeclared_script_entry_point_and_missing_project(
    modelyard, tmp_path: Path, tracking_db: str, client
) -> None:
    bare = write_project(tmp_path / "bare", {"hello.py": "import sys; print('hi', sys.argv[1:])\n"})
    done = modelyard("run", str(bare), "-e", "hello.py", "-P", "x=1", "--tracking-uri", tracking_db)
    assert done.returncode == 0, done.stderr
    assert "hi ['--x', '1']" in done.stdout
    (run,) = runs_of(client)
    assert run.data.param_dict == {"x": "1"}
    assert run.data.tag_dict["mlflow.project.entryPoint"] == "hello.py"
    missing = modelyard("run", str(tmp_path / "nowhere"), "--tracking-uri", tracking_db)
    assert missing.returncode == 1 and "neither an existing folder" in missing.stderr


def test_zip_project(modelyard, project: Path, tmp_path: Path, tracking_db: str, client) -> None:
    archive = tmp_path / "project.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in project.rglob("*"):
            zipped.write(path, f"recorder/{path.relative_to(project)}")
    record = tmp_path / "record.json"
    done = modelyard(
        "run", str(archive), "-P", "layers=2", "--tracking-uri", tracking_db,
        env={"RECORD_TO": str(record)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(client)
    assert run.info.status == "FINISHED"
    assert run.data.tag_dict["mlflow.source.name"] == str(archive)
    cwd = _record(record)["cwd"]
    assert cwd.endswith("/recorder") and not os.path.exists(cwd), "the extraction is removed after"


def test_zip_with_a_member_outside_its_folder_is_refused(
    invoke, tmp_path: Path, tracking_db: str, client
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("MLproject", "entry_points:\n  main: {command: 'true'}\n")
        zipped.writestr("../../escaped.txt", "gotcha")
    done = invoke("run", str(archive), "--tracking-uri", tracking_db)
    assert done.exit_code == 1
    assert "outside its folder" in done.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert runs_of(client) == []


def test_sigterm_kills_the_command_group_and_marks_the_run_killed(
    project_env: dict[str, str], tmp_path: Path, tracking_db: str, client
) -> None:
    marker = tmp_path / "started.txt"
    sleeper = write_project(
        tmp_path / "sleeper",
        {
            "MLproject": """
            entry_points:
              main: {command: "python sleep.py & wait"}
            """,
            "sleep.py": f"""
            import os, time
            with open({str(marker)!r}, "w") as out:
                out.write(str(os.getpid()))
            time.sleep(300)
            """,
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "run", str(sleeper), "--tracking-uri", tracking_db],
        cwd=tmp_path, env=project_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.1)
        grandchild = int(marker.read_text())
        (running,) = runs_of(client)
        assert running.info.status == "RUNNING"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    (run,) = runs_of(client)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None
    assert not _alive(grandchild), "the command's process group was not stopped"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited already
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_python_api_submits_and_waits(
    project: Path, tmp_path: Path, tracking_db: str, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    record = tmp_path / "record.json"
    monkeypatch.setenv("RECORD_TO", str(record))
    write_project(
        project,
        {
            "wait_gate.py": f"""
            import os, time
            while not os.path.exists({str(gate)!r}):
                time.sleep(0.05)
            """
        },
    )
    submitted = modelyard.projects.run(
        str(project),
        entry_point="wait_gate.py",
        parameters={"lr": 0.1},
        tracking_uri=tracking_db,
        synchronous=False,
    )
    assert submitted.get_status() == "RUNNING"
    assert client.get_run(submitted.run_id).info.status == "RUNNING"
    gate.write_text("go")
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    run = client.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.param_dict == {"lr": "0.1"}

    done = modelyard.projects.run(
        str(project), parameters={"layers": 4, "alpha": 1e-3}, tracking_uri=tracking_db
    )
    assert done.get_status() == "FINISHED"
    assert client.get_run(done.run_id).data.param_dict == {"alpha": "0.001", "layers": "4"}

    failed = modelyard.projects.run(str(project), entry_point="fail", tracking_uri=tracking_db)
    assert failed.wait() is False
    assert client.get_run(failed.run_id).info.status == "FAILED"


def test_python_api_cancel(project: Path, tmp_path: Path, tracking_db: str, client) -> None:
    write_project(project, {"forever.py": "import time\ntime.sleep(300)\n"})
    submitted = modelyard.projects.run(
        str(project), entry_point="forever.py", tracking_uri=tracking_db, synchronous=False
    )
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert submitted.wait() is False
    assert client.get_run(submitted.run_id).info.status == "KILLED"


def test_remote_path_parameter_is_downloaded_into_the_storage_dir(
    modelyard, tmp_path: Path, tracking_db: str, client
) -> None:
    source = client.create_run("0", run_name="data")
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    client.log_artifact(source.info.run_id, str(data), "inputs")
    client.set_terminated(source.info.run_id)
    uri = f"runs:/{source.info.run_id}/inputs/data.csv"
    reader = write_project(
        tmp_path / "reader",
        {
            "MLproject": "entry_points:\n  main:\n    parameters: {data: path}\n"
            "    command: 'python read.py {data}'\n",
            "read.py": "import sys, modelyard\n"
            "modelyard.set_tag('path', sys.argv[1])\n"
            "modelyard.set_tag('content', open(sys.argv[1]).read())\n",
        },
    )
    storage = tmp_path / "storage"
    done = modelyard(
        "run", str(reader), "-P", f"data={uri}", "--storage-dir", str(storage),
        "--tracking-uri", tracking_db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = next(r for r in runs_of(client) if r.info.run_id != source.info.run_id)
    assert run.data.param_dict == {"data": uri}
    assert run.data.tag_dict["content"] == "a,b\n1,2\n"
    assert run.data.tag_dict["path"].startswith(f"{storage}/data/")

    missing = f"runs:/{source.info.run_id}/inputs/nope.csv"
    failed = modelyard("run", str(reader), "-P", f"data={missing}", "--tracking-uri", tracking_db)
    assert failed.returncode == 1
    assert "Parameter 'data' must be an existing file or directory" in failed.stderr
    assert len(runs_of(client)) == 2
