"""Where a project comes from: a local folder, a git repository or a zip archive.

``fetch(uri, version)`` turns the URI of ``modelyard run`` into a local directory:

* a local folder is used where it is (its git commit, branch and remote are read with ``git``);
* a git URL (``https://``, ``http://``, ``ssh://``, ``git://``, ``file://`` or ``user@host:path``) is
  cloned with the ``git`` binary into a temporary directory, shallow when it can be; ``version`` (a
  branch, a tag or a commit) is checked out, and submodules are updated;
* a ``.zip`` (a local file or an http(s) URL) is extracted into a temporary directory, refusing any
  member that would land outside it.

``#subdir`` at the end of any of them selects a subdirectory. Temporary directories are removed by
:meth:`Source.cleanup`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field

from modelyard.client.context import (
    GIT_BRANCH,
    GIT_COMMIT,
    GIT_REPO_URL,
    git_tags,
    strip_credentials,
)
from modelyard.errors import InvalidInput

_GIT_SCHEMES = re.compile(r"^(https?|ssh|git|file|git\+ssh|git\+https)://", re.IGNORECASE)
_SCP_LIKE = re.compile(r"^[\w.\-]+@[\w.\-]+:(?!//)")
_GIT_TIMEOUT_S = 600


@dataclass
class Source:
    """A project fetched to ``directory``; ``tags`` are its git tags for the run."""

    directory: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    temporary: str | None = None

    def cleanup(self) -> None:
        """Remove the temporary clone or extraction, if there is one."""
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None


def split_subdirectory(uri: str) -> tuple[str, str]:
    """``"repo#sub/dir"`` -> ``("repo", "sub/dir")``; the part after ``#`` must stay inside."""
    if "#" not in uri:
        return uri, ""
    base, subdir = uri.rsplit("#", 1)
    subdir = subdir.strip("/")
    parts = subdir.split("/") if subdir else []
    if any(part in ("", ".", "..") for part in parts) or os.path.isabs(subdir):
        raise InvalidInput(
            f"Invalid subdirectory {subdir!r} after '#' in the project URI: give a relative path "
            "inside the project, without '.' or '..' parts."
        )
    return base, subdir


def is_git_uri(uri: str) -> bool:
    return bool(_GIT_SCHEMES.match(uri) or _SCP_LIKE.match(uri)) and not uri.lower().endswith(
        ".zip"
    )


def fetch(uri: str, version: str | None = None, *, work_dir: str | None = None) -> Source:
    """The project at ``uri`` as a local directory (see the module docstring)."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput("A project URI is required: a folder, a git URL or a .zip file.")
    base, subdir = split_subdirectory(uri.strip())
    lowered = base.lower()
    if lowered.endswith(".zip"):
        if version:
            raise InvalidInput("-v/--version can only be used with a git project URI.")
        source = _from_zip(base, work_dir)
    elif is_git_uri(base):
        source = _from_git(base, version, work_dir)
    else:
        path = os.path.abspath(
            os.path.expanduser(base[7:] if lowered.startswith("file:") else base)
        )
        if not os.path.isdir(path):
            raise InvalidInput(
                f"The project {base!r} is neither an existing folder, a git URL nor a .zip file."
            )
        if version:
            raise InvalidInput(
                "-v/--version can only be used with a git project URI; check the version out in "
                f"{path} yourself, or pass the repository as file://{path}."
            )
        source = Source(path, path, git_tags(path))
    if subdir:
        target = os.path.join(source.directory, subdir)
        if not os.path.isdir(target):
            source.cleanup()
            raise InvalidInput(f"The project has no subdirectory {subdir!r}.")
        source.directory = target
        source.name = f"{source.name}#{subdir}"
    return source


def _git(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise InvalidInput(
            "Running a project from a git URL needs the 'git' program, which is not on PATH."
        ) from None


def _from_git(url: str, version: str | None, work_dir: str | None) -> Source:
    temporary = tempfile.mkdtemp(prefix="modelyard-project-", dir=work_dir)
    clone = os.path.join(temporary, "repo")
    shown = strip_credentials(url)
    try:
        args = ["clone", "--quiet", "--depth", "1"]
        if version:
            args += ["--branch", version]
        done = _git([*args, "--", url, clone])
        if done.returncode != 0 and version:
            # Not a branch or tag: a commit. Clone everything and check it out.
            shutil.rmtree(clone, ignore_errors=True)
            done = _git(["clone", "--quiet", "--no-checkout", "--", url, clone])
            if done.returncode == 0:
                checkout = _git(["checkout", "--quiet", version, "--"], cwd=clone)
                if checkout.returncode != 0:
                    raise InvalidInput(
                        f"The repository {shown} has no branch, tag or commit {version!r}.",
                        version=version,
                    )
        if done.returncode != 0:
            message = _last_line(done.stderr).replace(url, shown)
            raise InvalidInput(f"Could not clone {shown}: {message}", uri=shown)
        if os.path.isfile(os.path.join(clone, ".gitmodules")):
            sub = _git(["submodule", "update", "--init", "--recursive", "--depth", "1"], cwd=clone)
            if sub.returncode != 0:
                raise InvalidInput(
                    f"Could not update the submodules of {shown}: {_last_line(sub.stderr)}"
                )
        commit = _git(["rev-parse", "HEAD"], cwd=clone).stdout.strip()
        tags = {GIT_COMMIT: commit, GIT_REPO_URL: shown}
        head = _git(["symbolic-ref", "-q", "--short", "HEAD"], cwd=clone)
        if version and head.returncode == 0 and head.stdout.strip() == version:
            tags[GIT_BRANCH] = version
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return Source(clone, shown, tags, temporary)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "git failed"


def _from_zip(location: str, work_dir: str | None) -> Source:
    temporary = tempfile.mkdtemp(prefix="modelyard-project-", dir=work_dir)
    try:
        if location.lower().startswith(("http://", "https://")):
            archive = os.path.join(temporary, "project.zip")
            _download(location, archive)
        else:
            archive = os.path.abspath(os.path.expanduser(location))
            if not os.path.isfile(archive):
                raise InvalidInput(f"The project archive {location!r} does not exist.")
        target = os.path.join(temporary, "project")
        extract_zip(archive, target)
        entries = os.listdir(target)
        directory = target
        if len(entries) == 1 and os.path.isdir(os.path.join(target, entries[0])):
            directory = os.path.join(target, entries[0])  # an archive of one top-level folder
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return Source(directory, strip_credentials(location), {}, temporary)


def extract_zip(archive: str, target: str) -> None:
    """Extract ``archive`` into ``target``; a member that would land outside it is refused."""
    root = os.path.realpath(target)
    os.makedirs(root, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                name = member.filename
                destination = os.path.realpath(os.path.join(root, name))
                if (
                    os.path.isabs(name)
                    or name.startswith(("/", "\\"))
                    or os.path.commonpath([root, destination]) != root
                ):
                    raise InvalidInput(
                        f"The project archive has a member outside its folder: {name!r}; refused."
                    )
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InvalidInput(
                        f"The project archive has a symbolic link {name!r}; refused."
                    )
            zipped.extractall(root)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"The project archive is not a valid zip file: {exc}") from None


def _download(url: str, destination: str) -> None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InvalidInput(f"Could not download {strip_credentials(url)}: {exc}") from None
