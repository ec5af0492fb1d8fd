"""Projects from git: a repository made in a tmp dir, cloned over file:// with branch, tag and
commit checkouts and a #subdir; and a local folder inside a repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from project_helpers import runs_of, write_project

MLPROJECT = """
name: versioned
entry_points:
  main:
    command: "python show.py"
"""
SHOW = """
import modelyard
with open("VERSION") as f:
    modelyard.set_tag("version_file", f.read().strip())
"""


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str]:
    """A repository: main (v1 tagged, then v2), a branch 'feature' (v3), a project in sub/proj."""
    root = tmp_path / "origin"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    files = {"MLproject": MLPROJECT, "show.py": SHOW, "VERSION": "one\n"}
    write_project(root, files)
    write_project(root / "sub" / "proj", {**files, "VERSION": "sub\n"})
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    first = git(root, "rev-parse", "HEAD")
    git(root, "tag", "v1")
    write_project(root, {"VERSION": "two\n"})
    git(root, "commit", "-q", "-am", "two")
    second = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "feature")
    write_project(root, {"VERSION": "three\n"})
    git(root, "commit", "-q", "-am", "three")
    feature = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    return {"url": f"file://{root}", "first": first, "second": second, "feature": feature}


@pytest.mark.parametrize(
    ("version", "expected", "commit_key", "branch"),
    [
        (None, "two", "second", None),
        ("feature", "three", "feature", "feature"),
        ("v1", "one", "first", None),
        ("first", "one", "first", None),  # a commit id: resolved from the fixture
    ],
)
def test_git_checkout(
    modelyard,
    repo: dict[str, str],
    tracking_db: str,
    client,
    version: str | None,
    expected: str,
    commit_key: str,
    branch: str | None,
) -> None:
    args = ["run", repo["url"], "--tracking-uri", tracking_db]
    if version is not None:
        args += ["-v", repo.get(version, version) if version == "first" else version]
    done = modelyard(*args)
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(client)
    tags = run.data.tag_dict
    assert run.info.status == "FINISHED"
    assert tags["version_file"] == expected
    assert tags["mlflow.source.git.commit"] == repo[commit_key]
    assert tags["mlflow.source.git.repoURL"] == repo["url"]
    assert tags["mlflow.source.name"] == repo["url"]
    assert tags.get("mlflow.source.git.branch") == branch


def test_git_subdirectory(modelyard, repo: dict[str, str], tracking_db: str, client) -> None:
    done = modelyard("run", f"{repo['url']}#sub/proj", "-v", "v1", "--tracking-uri", tracking_db)
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(client)
    assert run.data.tag_dict["version_file"] == "sub"
    assert run.data.tag_dict["mlflow.source.name"] == f"{repo['url']}#sub/proj"
    assert run.data.tag_dict["mlflow.source.git.commit"] == repo["first"]


@pytest.mark.parametrize(
    ("suffix", "version", "fragment"),
    [
        ("#missing", None, "no subdirectory 'missing'"),
        ("#../x", None, "Invalid subdirectory"),
        ("#./sub", None, "Invalid subdirectory"),
        ("", "no-such-ref", "no branch, tag or commit 'no-such-ref'"),
    ],
)
def test_git_errors_create_no_run(
    invoke,
    repo: dict[str, str],
    tracking_db: str,
    client,
    suffix: str,
    version: str | None,
    fragment: str,
) -> None:
    args = ["run", repo["url"] + suffix, "--tracking-uri", tracking_db]
    if version:
        args += ["-v", version]
    done = invoke(*args)
    assert done.exit_code == 1
    assert fragment in done.stderr
    assert runs_of(client) == []


def test_unreachable_repository(invoke, tmp_path: Path, tracking_db: str, client) -> None:
    done = invoke("run", f"file://{tmp_path}/no-repo", "--tracking-uri", tracking_db)
    assert done.exit_code == 1
    assert done.stderr.startswith(f"Error: Could not clone file://{tmp_path}/no-repo")
    assert runs_of(client) == []


def test_local_folder_in_a_repository_records_its_commit(
    modelyard, repo: dict[str, str], tracking_db: str, client
) -> None:
    origin = repo["url"][len("file://") :]
    done = modelyard("run", origin, "--tracking-uri", tracking_db)
    assert done.returncode == 0, done.stderr
    (run,) = runs_of(client)
    tags = run.data.tag_dict
    assert tags["mlflow.source.git.commit"] == repo["second"]
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.dirty"] == "false"
    assert tags["mlflow.source.name"] == origin
