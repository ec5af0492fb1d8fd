"""``modelyard run`` and ``modelyard sweep``: run a project (folder, git URL, zip) as tracked runs.

The command's own output streams to the terminal; modelyard's lines (run created, environment
reused, run ended) go to stderr prefixed ``modelyard:``. Ctrl-C or SIGTERM stops the command's whole
process group and marks the run KILLED (exit status 130).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import click

from modelyard.cli.options import resolve_settings, tracking_uri_option

_ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
#: Exit status when the run was stopped (as a shell reports SIGINT).
KILLED_EXIT = 130


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="'-P'")
        params[name.strip()] = value
    return params


def _parse_backend_config(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    text = raw
    if os.path.isfile(raw):
        with open(raw, encoding="utf-8") as handle:
            text = handle.read()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"neither a JSON file nor inline JSON ({exc}).", param_hint="'--backend-config'"
        ) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object.", param_hint="'--backend-config'")
    return value


@contextlib.contextmanager
def _project_session() -> Iterator[None]:
    """Progress lines on stderr, and SIGTERM treated like Ctrl-C while the command runs."""
    logger = logging.getLogger("modelyard.projects")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("modelyard: %(message)s"))
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _common_options(func: Any) -> Any:
    options = [
        click.argument("uri"),
        click.option(
            "-e",
            "--entry-point",
            default="main",
            show_default=True,
            help="The entry point to run: a name from MLproject, or a .py or .sh file.",
        ),
        click.option(
            "-v",
            "--version",
            "version",
            metavar="REF",
            default=None,
            help="For a git URI: the branch, tag or commit to check out.",
        ),
        click.option(
            "-P",
            "--param",
            "--param-list",
            "params",
            metavar="NAME=VALUE",
            multiple=True,
            help="A parameter of the entry point; repeat for more (--param-list is MLflow's name).",
        ),
        click.option(
            "--experiment-name", default=None, help="Run in this experiment (made if new)."
        ),
        click.option("--experiment-id", default=None, help="Run in the experiment with this id."),
        click.option("--run-name", default=None, help="Name of the run."),
        click.option(
            "--env-manager",
            type=click.Choice(_ENV_MANAGERS),
            default=None,
            help="How to build the environment. Default: the project's own (python_env.yaml -> "
            "virtualenv, conda.yaml -> conda, docker_env -> docker, none -> local).",
        ),
        click.option(
            "-b",
            "--backend",
            default="local",
            show_default=True,
            help="Where to run: local, ray, or a backend installed as a plugin.",
        ),
        click.option(
            "-c",
            "--backend-config",
            metavar="JSON|FILE",
            default=None,
            help='Backend options as inline JSON or a JSON file, e.g. \'{"address": '
            '"http://127.0.0.1:8265"}\' for ray.',
        ),
        click.option(
            "--storage-dir",
            metavar="DIR",
            default=None,
            help="Where remote 'path' parameters are downloaded. Default: a temporary folder.",
        ),
        tracking_uri_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("run")
@_common_options
def run_project(
    uri: str,
    entry_point: str,
    version: str | None,
    params: tuple[str, ...],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    backend: str,
    backend_config: str | None,
    storage_dir: str | None,
    tracking_uri: str | None,
) -> None:
    """Run a project (a folder, a git URL with optional #subdir, or a .zip) as a tracked run.

    \b
      modelyard run . -P alpha=0.5
      modelyard run https://example.com/repo.git#train -v v1.2 -e main
      modelyard run project.zip --backend ray -c '{"address": "http://127.0.0.1:8265"}'
    """
    parameters = _parse_params(params)
    config = _parse_backend_config(backend_config)
    settings = resolve_settings(tracking_uri=tracking_uri)
    from modelyard.projects.submit import run as run_submit

    with _project_session():
        try:
            submitted = run_submit(
                uri,
                entry_point=entry_point,
                version=version,
                parameters=parameters,
                experiment_name=experiment_name,
                experiment_id=experiment_id,
                run_name=run_name,
                env_manager=env_manager,
                backend=backend,
                backend_config=config,
                storage_dir=storage_dir,
                tracking_uri=settings.tracking_uri,
            )
        except KeyboardInterrupt:
            click.echo("modelyard: stopped.", err=True)
            sys.exit(KILLED_EXIT)
    status = submitted.get_status()
    if status == "KILLED":
        click.echo(f"modelyard: run {submitted.run_id} was stopped (KILLED).", err=True)
        sys.exit(KILLED_EXIT)
    if status != "FINISHED":
        raise click.ClickException(f"run {submitted.run_id} ended {status}.")


@click.command("sweep")
@_common_options
@click.option(
    "--grid",
    metavar="NAME=V1,V2,...",
    multiple=True,
    help="Try every listed value of a parameter; several --grid options make a cartesian product.",
)
@click.option(
    "--random",
    "random_specs",
    metavar="NAME=DIST",
    multiple=True,
    help="Sample a parameter: uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH (inclusive) or "
    "choice:A,B,C.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="Random samples per grid point. Default: 10 with --random only, else 1.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many trials run at once.",
)
@click.option("--metric", required=True, help="The metric that ranks the trials.")
@click.option(
    "--mode",
    type=click.Choice(["min", "max"]),
    default="min",
    show_default=True,
    help="Whether the best trial has the lowest or the highest metric.",
)
@click.option(
    "--seed", type=int, default=None, help="Seed of the random sampler (logged on the parent)."
)
def sweep_project(
    uri: str,
    entry_point: str,
    version: str | None,
    params: tuple[str, ...],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    backend: str,
    backend_config: str | None,
    storage_dir: str | None,
    tracking_uri: str | None,
    grid: tuple[str, ...],
    random_specs: tuple[str, ...],
    trials: int | None,
    parallel: int,
    metric: str,
    mode: str,
    seed: int | None,
) -> None:
    """Run an entry point over a grid or random sample of parameters, each trial a child run.

    \b
      modelyard sweep . -e train --grid max_depth=2,4,8 --random lr=loguniform:1e-4:1e-1 \\
          --trials 3 --parallel 2 --metric val_loss --mode min
    """
    from modelyard.cli.output import print_table
    from modelyard.projects.sweep import parse_grid, parse_random, sweep

    fixed = _parse_params(params)
    config = _parse_backend_config(backend_config)
    settings = resolve_settings(tracking_uri=tracking_uri)
    try:
        grid_values = parse_grid(grid)
        distributions = parse_random(random_specs)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with _project_session():
        try:
            result = sweep(
                uri,
                entry_point=entry_point,
                grid=grid_values,
                random=distributions,
                trials=trials,
                parallel=parallel,
                metric=metric,
                mode=mode,
                parameters=fixed,
                seed=seed,
                version=version,
                experiment_name=experiment_name,
                experiment_id=experiment_id,
                run_name=run_name,
                env_manager=env_manager,
                backend=backend,
                backend_config=config,
                storage_dir=storage_dir,
                tracking_uri=settings.tracking_uri,
            )
        except KeyboardInterrupt:
            click.echo("modelyard: sweep stopped; its runs are marked KILLED.", err=True)
            sys.exit(KILLED_EXIT)
    keys = sorted({k for t in result.trials for k in t.params})
    print_table(
        ["trial", "run_id", "status", *keys, metric],
        [
            [
                str(t.index),
                t.run_id,
                t.status + (" (best)" if result.best is t else ""),
                *(t.params.get(k, "") for k in keys),
                "" if t.value is None else f"{t.value:.6g}",
            ]
            for t in result.trials
        ],
    )
    if result.best is None:
        raise click.ClickException(
            f"sweep {result.parent_run_id}: no trial finished with the metric '{metric}'."
        )
    click.echo(
        f"modelyard: best trial {result.best.run_id} ({metric}={result.best.value:.6g}); "
        f"parent run {result.parent_run_id}.",
        err=True,
    )
