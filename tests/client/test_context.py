"""System tags of a new run: user, source, and git (found by running git in the script's directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelyard.client.context import strip_credentials
from modelyard.client.tracking import ModelyardClient

SCRIPT = textwrap.dedent(
    """
    import modelyard
    with modelyard.start_run() as run:
        modelyard.log_metric("m", 1.0)
    print(run.info.run_id)
    """
)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _run_script(script: Path, db: Path, **env: str) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    full_env.update(
        MODELYARD_TRACKING_URI=f"sqlite:///{db}",
        MODELYARD_DEFAULT_ARTIFACT_ROOT=str(db.parent / "artifacts"),
        **env,
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=full_env, cwd=db.parent
    )
    assert out.returncode == 0, out.stderr
    with ModelyardClient(f"sqlite:///{db}") as client:
        run = client.get_run(out.stdout.strip())
    assert run.info.user_id == run.data.tag_dict["mlflow.user"]
    return run.data.tag_dict


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(SCRIPT)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "remote", "add", "origin", "https://ann:s3cret@git.example.com/org/project.git")
    return repo


def test_git_tags_of_a_clean_checkout(repo, tmp_path):
    tags = _run_script(repo / "train.py", tmp_path / "runs.db")
    assert tags["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "main"
    assert (
        tags["mlflow.source.git.repoURL"] == "https://git.example.com/org/project.git"
    )  # no secret
    assert tags["mlflow.source.git.dirty"] == "false"
    assert tags["mlflow.source.name"] == str(repo / "train.py")
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]


def test_git_tags_of_a_dirty_checkout_on_a_branch(repo, tmp_path):
    _git(repo, "checkout", "-q", "-b", "feature/x")
    (repo / "train.py").write_text(SCRIPT + "\n# edited\n")
    tags = _run_script(repo / "train.py", tmp_path / "runs.db")
    assert tags["mlflow.source.git.branch"] == "feature/x"
    assert tags["mlflow.source.git.dirty"] == "true"


def test_detached_head_has_a_commit_and_no_branch(repo, tmp_path):
    commit = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "--detach")
    tags = _run_script(repo / "train.py", tmp_path / "runs.db")
    assert tags["mlflow.source.git.commit"] == commit
    assert "mlflow.source.git.branch" not in tags


def test_no_git_tags_outside_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text(SCRIPT)
    tags = _run_script(
        plain / "train.py", tmp_path / "runs.db", GIT_CEILING_DIRECTORIES=str(tmp_path)
    )
    assert not [k for k in tags if k.startswith("mlflow.source.git")]
    assert tags["mlflow.source.name"] == str(plain / "train.py")


def test_no_git_tags_and_no_error_without_git(repo, tmp_path):
    tags = _run_script(repo / "train.py", tmp_path / "runs.db", PATH=str(tmp_path / "empty-bin"))
    assert not [k for k in tags if k.startswith("mlflow.source.git")]
    assert tags["mlflow.source.type"] == "LOCAL"


def test_tags_passed_to_start_run_win_over_the_context(fluent):
    with fluent.start_run(tags={"mlflow.source.type": "PROJECT", "mlflow.user": "ci-bot"}) as run:
        pass
    stored = fluent.get_run(run.info.run_id)
    assert stored.data.tag_dict["mlflow.source.type"] == "PROJECT"
    assert stored.info.user_id == "ci-bot"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@github.com/a/b.git", "https://github.com/a/b.git"),
        ("https://token@github.com/a/b", "https://github.com/a/b"),
        ("https://github.com/a/b", "https://github.com/a/b"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("ssh://git@host:2222/a/b.git", "ssh://git@host:2222/a/b.git"),
        ("ssh://git:pw@host/a/b.git", "ssh://git@host/a/b.git"),
    ],
)
def test_strip_credentials(url, expected):
    assert strip_credentials(url) == expected
