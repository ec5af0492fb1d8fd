"""The MLproject file: keys, typed parameters, command templates, malformed files."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from project_helpers import write_project

from modelyard.errors import InvalidInput
from modelyard.projects import load_project

MLPROJECT = """
name: spec-test
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      layers: int
      name: string
      data: {type: path, default: data.csv}
      target: uri
    command: "python train.py --alpha {alpha} --layers {layers} --name {name} --data {data} --target {target}"
  plain:
    command: "echo plain"
"""


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj",
        {
            "mlproject": MLPROJECT,  # lower case: the name is matched case-insensitively
            "python_env.yaml": "python: '3'\n",
            "data.csv": "a,b\n",
            "train.py": "print('hi')\n",
            "tools/run.sh": "echo sh\n",
        },
    )


def test_loads_name_env_and_entry_points(project_dir: Path) -> None:
    project = load_project(str(project_dir))
    assert project.name == "spec-test"
    assert project.env.kind == "python"
    assert project.env.path == str(project_dir / "python_env.yaml")
    main = project.entry_points["main"]
    assert [(p.name, p.type, p.default) for p in main.parameters.values()] == [
        ("alpha", "float", "0.5"),
        ("layers", "int", None),
        ("name", "string", None),
        ("data", "path", "data.csv"),
        ("target", "uri", None),
    ]


def test_values_are_checked_quoted_and_undeclared_ones_appended(project_dir: Path) -> None:
    project = load_project(str(project_dir))
    main = project.entry_point("main")
    declared, undeclared = main.resolve(
        {"layers": "3", "name": "a b; rm -rf /", "target": "s3://bucket/key", "extra": "x y"},
        str(project_dir),
    )
    assert declared["data"] == str(project_dir / "data.csv")  # a default path: the project's file
    assert undeclared == {"extra": "x y"}
    command = main.command_line(declared, undeclared)
    assert shlex.split(command) == [
        "python", "train.py", "--alpha", "0.5", "--layers", "3", "--name", "a b; rm -rf /",
        "--data", str(project_dir / "data.csv"), "--target", "s3://bucket/key", "--extra", "x y",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "fragments"),
    [
        ({"name": "n", "target": "s3://b/k"}, ["'layers' (int)", "-P"]),
        (
            {"layers": "3.5", "name": "n", "target": "s3://b/k"},
            ["'layers'", "integer (int)", "3.5"],
        ),
        ({"layers": "2", "alpha": "fast", "name": "n", "target": "s3://b/k"}, ["'alpha'", "float"]),
        ({"layers": "2", "alpha": "nan", "name": "n", "target": "s3://b/k"}, ["'alpha'", "float"]),
        ({"layers": "2", "name": "n", "target": "not a uri"}, ["'target'", "(uri)"]),
        (
            {"layers": "2", "name": "n", "target": "s3://b/k", "data": "missing.csv"},
            ["'data'", "(path)", "missing.csv"],
        ),
    ],
)
def test_bad_or_missing_values_name_the_parameter_and_type(
    project_dir: Path, values: dict[str, str], fragments: list[str]
) -> None:
    main = load_project(str(project_dir)).entry_point("main")
    with pytest.raises(InvalidInput) as caught:
        main.resolve(values, str(project_dir))
    for fragment in fragments:
        assert fragment in caught.value.message


def test_a_given_relative_path_is_resolved_against_the_current_directory(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.csv").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    main = load_project(str(project_dir)).entry_point("main")
    declared, _ = main.resolve(
        {"layers": "1", "name": "n", "target": "s3://b/k", "data": "mine.csv"}, str(project_dir)
    )
    assert declared["data"] == str(tmp_path / "mine.csv")


def test_undeclared_py_and_sh_entry_points_run_directly(project_dir: Path) -> None:
    project = load_project(str(project_dir))
    assert project.entry_point("train.py").command == "python train.py"
    assert project.entry_point("tools/run.sh").command.endswith(" tools/run.sh")
    with pytest.raises(InvalidInput, match="no entry point 'nope'"):
        project.entry_point("nope")
    with pytest.raises(InvalidInput, match="does not exist"):
        project.entry_point("missing.py")
    with pytest.raises(InvalidInput, match="does not exist"):
        project.entry_point("../outside.py")


def test_a_folder_without_mlproject_is_a_project(tmp_path: Path) -> None:
    bare = write_project(tmp_path / "bare", {"run.py": "print(1)\n"})
    project = load_project(str(bare))
    assert not project.has_mlproject
    assert project.name == "bare"
    assert project.env.kind == "local"
    assert project.entry_point("run.py").command == "python run.py"
    write_project(bare, {"conda.yaml": "name: x\n"})
    assert load_project(str(bare)).env.kind == "conda"
    write_project(bare, {"python_env.yaml": "python: '3'\n"})
    assert load_project(str(bare)).env.kind == "python"  # python_env.yaml first


def test_docker_env(tmp_path: Path) -> None:
    path = write_project(
        tmp_path / "d",
        {
            "MLproject": """
            docker_env:
              image: python:3.11-slim
              volumes: ["/data:/data"]
              environment: [HOME, ["MODE", "fast"]]
            entry_points:
              main: {command: "python -V"}
            """
        },
    )
    env = load_project(str(path)).env
    assert (env.kind, env.image, env.volumes) == ("docker", "python:3.11-slim", ("/data:/data",))
    assert env.environment == (("HOME", None), ("MODE", "fast"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("name: x\nentrypoints: {}\n", "entrypoints"),
        ("name: [1]\n", "name"),
        ("entry_points: [1, 2]\n", "entry_points"),
        ("entry_points:\n  main: {}\n", "entry_points.main.command"),
        ("entry_points:\n  main: {command: 'x', params: {}}\n", "entry_points.main.params"),
        (
            "entry_points:\n  main: {command: 'x {a}', parameters: {a: number}}\n",
            "entry_points.main.parameters.a",
        ),
        (
            "entry_points:\n  main: {command: 'x {a}', parameters: {a: {type: int, dflt: 1}}}\n",
            "entry_points.main.parameters.a.dflt",
        ),
        ("entry_points:\n  main: {command: 'x {b}'}\n", "entry_points.main.command"),
        ("entry_points:\n  main: {command: 'x {'}\n", "entry_points.main.command"),
        ("docker_env: {volumes: []}\n", "docker_env.image"),
        ("python_env: missing.yaml\n", "python_env"),
        ("python_env: a.yaml\nconda_env: b.yaml\n", "conda_env"),
        ("name: x\n  bad: indent: here\n", "YAML"),
    ],
)
def test_malformed_mlproject_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write_project(tmp_path / "bad", {"MLproject": text, "a.yaml": "", "b.yaml": ""})
    with pytest.raises(InvalidInput) as caught:
        load_project(str(path))
    assert key in caught.value.message
