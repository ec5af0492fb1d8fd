"""The command tree as a whole: help everywhere, a cheap ``--help``, ``--version``, ``python -m``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

import modelyard
from modelyard.cli.main import cli

HEAVY = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "httpx", "pandas", "alembic", "mlflow")


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


ALL_COMMANDS = list(walk(cli))


def test_the_command_tree_has_every_promised_command() -> None:
    paths = {" ".join(path) for path, _ in ALL_COMMANDS}
    assert {
        "server",
        "db upgrade",
        "experiments create",
        "experiments search",
        "experiments rename",
        "experiments delete",
        "experiments restore",
        "runs list",
        "runs describe",
        "runs delete",
        "runs restore",
        "gc",
    } <= paths


@pytest.mark.parametrize(
    ("path", "command"), ALL_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_and_option_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help and command.help.strip(), f"modelyard {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), (
                f"{param.opts} of modelyard {' '.join(path)} has no help"
            )


@pytest.mark.parametrize(
    ("path", "command"), ALL_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_help_prints_usage(invoke, path: tuple[str, ...], command: click.Command) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(" ".join(("Usage: cli", *path)) + " ")
    for param in command.params:
        if isinstance(param, click.Option):
            assert max(param.opts, key=len) in result.stdout


def _modules_loaded_by(*argv: str) -> tuple[int, set[str]]:
    """Run ``modelyard ARGV`` in a fresh interpreter; its exit code and the heavy modules it imported."""
    code = (
        "import json, sys\n"
        "from modelyard.cli.main import cli\n"
        f"rc = cli.main({list(argv)!r}, prog_name='modelyard', standalone_mode=False)\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["rc"], set(report["heavy"])


@pytest.mark.parametrize(
    "argv",
    [(), ("server",), ("db", "upgrade"), ("runs", "list"), ("experiments", "create"), ("gc",)],
)
def test_help_imports_no_heavy_module(argv: tuple[str, ...]) -> None:
    rc, heavy = _modules_loaded_by(*argv, "--help")
    assert rc == 0
    assert heavy == set(), f"'modelyard {' '.join(argv)} --help' imported {sorted(heavy)}"


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"modelyard {modelyard.__version__}"


def test_python_dash_m_runs_the_same_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: modelyard ")
    for name in ("server", "db", "experiments", "runs", "gc"):
        assert f"  {name} " in proc.stdout


def test_unknown_command_is_a_usage_error(invoke) -> None:
    result = invoke("nope")
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.stderr


def test_malformed_setting_in_the_environment_is_one_line(invoke, one_line_error) -> None:
    result = invoke("experiments", "search", env={"MODELYARD_HTTP_MAX_RETRIES": "lots"})
    one_line_error(result, "MODELYARD_HTTP_MAX_RETRIES")
