"""The system tags a run gets when it starts: who ran what, from where, at which git commit.

* ``mlflow.user``: the login name (``getpass``), also the run's ``user_id``;
* ``mlflow.source.name`` and ``mlflow.source.type``: the script's path and ``LOCAL``, or the
  notebook and ``NOTEBOOK`` under Jupyter;
* ``mlflow.source.git.commit``, ``.branch``, ``.repoURL`` and ``.dirty``, found by running ``git``
  in the script's directory. The three git commands run concurrently and quietly; without git, or
  outside a repository, no git tag is set. Credentials in the remote URL are removed.

Tags the caller passes to ``start_run`` win over these (``modelyard run`` sets ``PROJECT``).
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_DIRTY = "mlflow.source.git.dirty"

_GIT_TIMEOUT_S = 5.0
_git_missing = False


def current_user() -> str:
    """The login name of this process, or ``"unknown"`` when the system cannot tell."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError, ImportError):
        return "unknown"


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules and "IPython" in sys.modules


def source() -> tuple[str, str, str]:
    """(source name, source type, directory to look for git in) of the running program."""
    if _in_notebook():
        notebook = os.environ.get("JPY_SESSION_NAME") or "notebook"
        directory = (
            os.path.dirname(os.path.abspath(notebook)) if notebook != "notebook" else os.getcwd()
        )
        return notebook, "NOTEBOOK", directory
    script = sys.argv[0] if sys.argv else ""
    if script and script not in ("-c", "-m", "-") and os.path.isfile(script):
        path = os.path.abspath(script)
        return path, "LOCAL", os.path.dirname(path)
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if isinstance(main_file, str) and os.path.isfile(main_file):
        path = os.path.abspath(main_file)
        return path, "LOCAL", os.path.dirname(path)
    return "<interactive>", "LOCAL", os.getcwd()


def strip_credentials(url: str) -> str:
    """Remove secrets from a remote URL.

    ``https://user:token@host/repo`` and ``https://token@host/repo`` become ``https://host/repo``;
    other schemes lose only a password (``ssh://git@host/repo`` keeps its user name).
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if parts.scheme.lower() not in ("http", "https"):
        if ":" not in userinfo:
            return url
        host = userinfo.split(":", 1)[0] + "@" + host
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def git_tags(directory: str) -> dict[str, str]:
    """The git tags for a working tree containing ``directory``; empty when there is none."""
    global _git_missing
    if _git_missing or not os.path.isdir(directory):
        return {}
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    commands = {
        "head": ["git", "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
        "remote": ["git", "config", "--get", "remote.origin.url"],
        "status": ["git", "status", "--porcelain", "--untracked-files=no"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            procs[name] = subprocess.Popen(
                argv,
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
    except FileNotFoundError:
        _git_missing = True
        _reap(procs)
        return {}
    except OSError:
        _reap(procs)
        return {}
    out: dict[str, str | None] = {}
    for name, proc in procs.items():
        try:
            stdout, _ = proc.communicate(timeout=_GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out[name] = None
            continue
        out[name] = stdout.decode("utf-8", "replace") if proc.returncode == 0 else None
    head = (out.get("head") or "").split()
    if not head:
        return {}
    tags = {GIT_COMMIT: head[0]}
    if len(head) > 1 and head[1] != "HEAD":  # "HEAD" means a detached checkout
        tags[GIT_BRANCH] = head[1]
    remote = (out.get("remote") or "").strip()
    if remote:
        tags[GIT_REPO_URL] = strip_credentials(remote)
    status = out.get("status")
    if status is not None:
        tags[GIT_DIRTY] = "true" if status.strip() else "false"
    return tags


def _reap(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        proc.kill()
        proc.communicate()


def run_context_tags() -> dict[str, str]:
    """Every system tag for a run started now by this process."""
    name, kind, directory = source()
    tags = {USER: current_user(), SOURCE_NAME: name, SOURCE_TYPE: kind}
    tags.update(git_tags(directory))
    return tags
