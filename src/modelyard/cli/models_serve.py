"""``modelyard models serve``: the REST scoring server of one model.

The command binds the port first (a taken port fails at once), then hands over to
:mod:`modelyard.serving.runner`. uvicorn, pandas and the model's flavor are imported inside the
command only.
"""

from __future__ import annotations

import gc
from typing import Any

import click

from modelyard.cli.server import LOG_LEVELS

ENV_MANAGERS = ("local", "virtualenv", "uv")


@click.command()
@click.option(
    "--model-uri",
    "-m",
    required=True,
    metavar="URI",
    help="The model: a path, file://, runs:/<run_id>/<path>, models:/<name>/<version|stage>, "
    "models:/<name>@<alias>, models:/<model_id> or an artifact store URI.",
)
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", "-p", type=click.IntRange(0, 65535), default=5000, show_default=True, help="Port."
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes; each holds the model (loaded once, before they fork).",
)
@click.option(
    "--timeout",
    "-t",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds a request may take before it is answered 504 DEADLINE_EXCEEDED.",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=1),
    default=64 << 20,
    show_default=True,
    metavar="BYTES",
    help="Largest request body accepted; larger ones are answered 413.",
)
@click.option(
    "--batch-max-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="ROWS",
    help="Turn on micro-batching: merge concurrent requests into predict calls of up to ROWS rows.",
)
@click.option(
    "--batch-max-wait-ms",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="With micro-batching, how long a batch may wait for more requests while others arrive.",
)
@click.option(
    "--watch/--no-watch",
    default=False,
    show_default=True,
    help="Follow a registry alias or stage (models:/name@alias, models:/name/Production): when "
    "it moves, load the new version and swap it in without dropping a request.",
)
@click.option(
    "--watch-interval",
    type=click.FloatRange(min=0.05),
    default=10.0,
    show_default=True,
    help="Seconds between two registry polls of --watch.",
)
@click.option(
    "--tracking-uri",
    metavar="URI",
    default=None,
    help="The tracking server or database that resolves runs:/ and models:/ URIs. "
    "Default: $MODELYARD_TRACKING_URI, then $MLFLOW_TRACKING_URI.",
)
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    default="local",
    show_default=True,
    help="Where the model runs: this environment (local), or one built from the model's "
    "requirements with virtualenv or uv (created once, then reused).",
)
@click.option(
    "--allow-pickle",
    is_flag=True,
    default=False,
    help="Load models stored with pickle or cloudpickle (trust the source first).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="How much the server logs.",
)
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    timeout: float,
    max_body_size: int,
    batch_max_size: int | None,
    batch_max_wait_ms: float,
    watch: bool,
    watch_interval: float,
    tracking_uri: str | None,
    env_manager: str,
    allow_pickle: bool,
    log_level: str,
) -> None:
    """Serve a model over REST: POST /invocations (MLflow's scoring protocol), /ping, /metrics.

    Bodies are JSON (dataframe_split, dataframe_records, instances or inputs, with optional
    params), CSV or Parquet; answers are {"predictions": ...}.
    """
    if env_manager != "local":
        if watch:
            raise click.UsageError(
                "--watch serves whatever version the registry names next, which a model "
                "environment built for one version may not run: use --env-manager local."
            )
        from modelyard.serving.environments import reexec_in_model_env

        reexec_in_model_env(model_uri, env_manager, _local_argv(click.get_current_context()))
    # Start-up is imports and the model load: no garbage collection until the model serves (the
    # runner turns it back on then, after freezing what was loaded), which saves about 0.15 s.
    resume_gc = gc.isenabled()
    gc.disable()
    try:
        _serve(
            model_uri,
            host,
            port,
            workers,
            watch,
            tracking_uri,
            allow_pickle,
            log_level,
            resume_gc,
            timeout_s=timeout,
            max_body_bytes=max_body_size,
            batch_max_size=batch_max_size,
            batch_max_wait_ms=batch_max_wait_ms,
            watch_interval_s=watch_interval if watch else None,
        )
    finally:
        if resume_gc:
            gc.enable()


def _serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    watch: bool,
    tracking_uri: str | None,
    allow_pickle: bool,
    log_level: str,
    resume_gc: bool,
    **app_options: Any,
) -> None:
    try:
        import uvicorn  # noqa: F401  (fails early, with the fix, without the serving extra)

        from modelyard.serving import runner
        from modelyard.serving.source import ModelSource
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs {exc.name or 'its dependencies'}: pip install 'modelyard[serving]'"
        ) from None
    from modelyard.cli.server import _bind, _unmute_library_logs, _url_host
    from modelyard.errors import ModelyardError

    source = ModelSource(model_uri, tracking_uri=tracking_uri, allow_pickle=allow_pickle or None)
    if watch and not source.movable:
        raise click.UsageError(
            "--watch follows a registry alias or stage: use -m models:/<name>@<alias> or "
            "models:/<name>/<stage>."
        )
    sock = _bind(host, port)
    try:
        model = None
        if workers > 1:  # loaded once, here, and shared by the forked workers
            try:
                model = source.load()
            except ModelyardError as exc:
                raise click.ClickException(f"cannot load {model_uri}: {exc.message}") from None
        _unmute_library_logs()
        bound_port = sock.getsockname()[1]
        click.echo(
            f"modelyard models serve {model_uri} on http://{_url_host(host)}:{bound_port} "
            f"({workers} worker(s))",
            err=True,
        )
        status = runner.serve(
            source,
            sock,
            workers=workers,
            model=model,
            log_level=log_level,
            resume_gc=resume_gc,
            **app_options,
        )
    finally:
        sock.close()
    if status != 0:
        raise click.ClickException("the scoring server stopped: the model could not be served")


def _local_argv(ctx: click.Context) -> list[str]:
    """This command's arguments again (without the program name), with the same options and
    ``--env-manager local``, for the model environment's Python to run."""
    argv = ["models", "serve", "--env-manager", "local"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "env_manager" or value is None or not isinstance(param, click.Option):
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            if param.secondary_opts and not value:
                argv.append(param.secondary_opts[0])
            elif value:
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv


__all__ = ["serve"]
