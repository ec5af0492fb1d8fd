"""The docs are a tested contract.

* ``docs/settings.md`` lists every setting of :data:`modelyard.settings.SETTINGS` exactly;
* ``docs/cli.md`` has a section for every command and names every option and argument in it;
* ``docs/errors.md`` has a row for every error class of :mod:`modelyard.errors`;
* the README starts with ``make demo`` and ``make test``, and CI runs that same test command;
* the Python examples of the README and the guides run, against a temporary SQLite database (and a
  real ``modelyard server`` over one, for the examples that use the MLflow client).
"""

from __future__ import annotations

import inspect
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import modelyard.errors
from modelyard.cli.main import cli
from modelyard.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

#: The URIs the examples use, replaced by temporary ones when the examples run.
SERVER_URL = "http://127.0.0.1:5000"
DEFAULT_DB = "sqlite:///modelyard.db"
#: Documents whose ``python`` blocks are run.
RUNNABLE = [README, DOCS / "getting-started.md", DOCS / "errors.md"]

_ENV_TO_CLEAR = ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MODELYARD_BACKEND_STORE_URI")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row except header rules."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|( *-+ *\|)+", line.replace(":", "")):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


# ---------------------------------------------------------------------------- settings


def render_default(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_settings_page_lists_every_setting_exactly() -> None:
    rows = {row[0]: row for row in table_rows(read(DOCS / "settings.md")) if row[0].startswith("`")}
    for setting in SETTINGS:
        row = rows.pop(f"`{setting.name}`", None)
        assert row is not None, f"setting {setting.name} is missing from docs/settings.md"
        _, env, default, help_text = row
        expected_env = ", then ".join(f"`{var}`" for var in (setting.env, *setting.fallbacks))
        assert env == expected_env, setting.name
        assert default == render_default(setting.default), setting.name
        assert help_text == setting.help, setting.name
    assert not rows, f"docs/settings.md documents settings that do not exist: {sorted(rows)}"


# ---------------------------------------------------------------------------- CLI


def leaf_commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from leaf_commands(sub, (*path, name))
    else:
        yield " ".join(("modelyard", *path)), command


def cli_sections() -> dict[str, str]:
    """``"modelyard runs list"`` -> the text of its section in docs/cli.md."""
    parts = re.split(r"^## `(modelyard[^`]*)`\n", read(DOCS / "cli.md"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize(
    ("name", "command"), list(leaf_commands(cli)), ids=lambda v: v if isinstance(v, str) else ""
)
def test_cli_page_documents_every_command_option_and_argument(
    name: str, command: click.Command
) -> None:
    sections = cli_sections()
    assert name in sections, f"docs/cli.md has no section '## `{name}`'"
    section = sections[name]
    for param in command.params:
        if isinstance(param, click.Option):
            for flag in param.opts:
                assert re.search(rf"`{re.escape(flag)}[` ]", section), (
                    f"{name}: option {flag} is not documented"
                )
        elif isinstance(param, click.Argument):
            assert f"`{param.make_metavar(click.Context(command))}`" in section, (
                f"{name}: argument {param.name}"
            )


def test_cli_page_documents_no_command_that_does_not_exist() -> None:
    real = {name for name, _ in leaf_commands(cli)}
    assert set(cli_sections()) <= real


# ---------------------------------------------------------------------------- errors


def error_classes() -> list[type[modelyard.errors.ModelyardError]]:
    return [
        obj
        for name in modelyard.errors.__all__
        if inspect.isclass(obj := getattr(modelyard.errors, name))
        and issubclass(obj, modelyard.errors.ModelyardError)
    ]


def test_errors_page_has_a_row_for_every_error_class() -> None:
    rows = {row[0].strip("`"): row for row in table_rows(read(DOCS / "errors.md"))}
    classes = error_classes()
    assert len(classes) >= 13
    for cls in classes:
        assert cls.__name__ in rows, f"{cls.__name__} is missing from docs/errors.md"
        _, code, status, _when = rows[cls.__name__]
        assert code == f"`{cls.error_code}`", cls.__name__
        assert status == str(modelyard.errors.status_for(cls.error_code)), cls.__name__


# ---------------------------------------------------------------------------- README, index, CI


def test_readme_starts_with_the_two_commands() -> None:
    text = read(README)
    first_block = re.search(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert first_block is not None
    before = text[: first_block.start()]
    assert before.startswith("# modelyard\n")
    assert "##" not in before, "the two commands must come before any section"
    commands = [line.split("#")[0].strip() for line in first_block.group(2).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    script = read(ROOT / ".ci" / "run")
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script
    assert [
        line for line in script.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ] == ["make test"]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_makefile_test_target_installs_the_test_extras_and_runs_pytest() -> None:
    dry = subprocess.run(
        ["make", "-n", "-B", "test", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "-m venv /nonexistent-venv" in dry
    assert "pip install -q -e '.[dev]'" in dry
    assert "/nonexistent-venv/bin/python -m pytest" in dry


def test_index_links_every_reference_page() -> None:
    index = read(DOCS / "index.md")
    for page in (
        "getting-started",
        "cli",
        "settings",
        "errors",
        "search",
        "rest-api",
        "python-api",
        "benchmarks",
    ):
        assert f"]({page}.md)" in index, f"docs/index.md does not link {page}.md"


@pytest.mark.parametrize("doc", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    missing = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", read(doc))
        if "://" not in target
        and not target.startswith("mailto:")
        and not (doc.parent / target).exists()
    ]
    assert not missing, f"{doc.name} links to missing files: {sorted(set(missing))}"


# ---------------------------------------------------------------------------- runnable examples


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``modelyard server`` over a temporary SQLite file: (base URL, database URI)."""
    db_uri = f"sqlite:///{tmp_path / 'served.db'}"
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.cli", "server", "--backend-store-uri", db_uri,
             "--default-artifact-root", str(tmp_path / "artifacts"), "--port", str(port),
             "--workers", "1", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=_clean_env(),
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"modelyard server exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, "modelyard server did not answer /health"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        yield url, db_uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _ENV_TO_CLEAR}


def _runs_of(db_uri: str, experiment_name: str) -> int:
    from modelyard.service.tracking import TrackingService
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(db_uri)
    try:
        service = TrackingService(store)
        experiment = service.get_experiment_by_name(experiment_name)
        assert experiment is not None, f"the example did not create experiment {experiment_name!r}"
        return len(service.search_runs([experiment.experiment_id]))
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUNNABLE, ids=lambda p: p.name)
def test_python_examples_run(doc: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    blocks = code_blocks(read(doc), "python")
    assert blocks, f"{doc.name} has no python example"
    local_db = f"sqlite:///{tmp_path / 'docs.db'}"
    served: tuple[str, str] | None = None
    for number, block in enumerate(blocks, 1):
        assert SERVER_URL in block or DEFAULT_DB in block, (
            f"{doc.name} example {number} names neither {SERVER_URL} nor {DEFAULT_DB}, so it cannot "
            "be pointed at a temporary database"
        )
        if SERVER_URL in block:
            served = served or request.getfixturevalue("server_url")
            code, db_uri = block.replace(SERVER_URL, served[0]), served[1]
        else:
            code, db_uri = block.replace(DEFAULT_DB, local_db), local_db
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, f"{doc.name} example {number} failed:\n{proc.stderr}"
        for experiment_name in re.findall(r"set_experiment\(\"([^\"]+)\"\)", block):
            assert _runs_of(db_uri, experiment_name) >= 1, (doc.name, number, experiment_name)


@pytest.mark.slow
def test_quickstart_example_runs_twice(tmp_path: Path) -> None:
    db_uri = f"sqlite:///{tmp_path / 'quickstart.db'}"
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--tracking-uri", db_uri],
            cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "Logged a sweep of 6 runs to experiment 'quickstart'" in proc.stdout
    assert _runs_of(db_uri, "quickstart") == 2 * (1 + 6)

    from modelyard.service.tracking import TrackingService
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(db_uri)
    try:
        service = TrackingService(store)
        experiment = service.get_experiment_by_name("quickstart")
        assert experiment is not None
        runs = list(service.search_runs([experiment.experiment_id]))
        parents = {r.info.run_id for r in runs if r.info.run_name == "sweep"}
        children = [r for r in runs if r.info.run_name != "sweep"]
        assert len(parents) == 2 and len(children) == 12
        assert {r.data.tag_dict["mlflow.parentRunId"] for r in children} == parents
        assert all(r.info.status == "FINISHED" for r in runs)
        child = children[0]
        assert set(child.data.param_dict) == {"learning_rate", "max_depth"}
        history = service.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in history] == list(range(12))
    finally:
        store.close()
