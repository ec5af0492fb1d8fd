"""``modelyard models predict``, ``generate-dockerfile`` and ``build-docker``.

``predict`` scores a file in chunks (:func:`modelyard.serving.batch.predict_file`), optionally inside
the model's own environment (``--env-manager virtualenv|uv``, rebuilt from its ``python_env.yaml``);
the Docker commands write a build context that installs the model's environment and runs
``modelyard models serve`` on port 8080 (:mod:`modelyard.serving.docker`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from modelyard.cli.options import tracking_uri_option

_FORMATS = ("csv", "parquet", "json", "jsonl")
_ENV_MANAGERS = ("local", "virtualenv", "uv")

model_uri_option = click.option(
    "-m",
    "--model-uri",
    metavar="URI",
    required=True,
    help="The model: a local path, file://, runs:/<run_id>/<path>, models:/<name>/<version>, "
    "models:/<name>@<alias> or models:/m-<id>.",
)
env_manager_option = click.option(
    "--env-manager",
    type=click.Choice(_ENV_MANAGERS),
    default="local",
    show_default=True,
    help="local: this Python environment. virtualenv or uv: rebuild the model's own environment "
    "from its python_env.yaml / requirements.txt (conda.yaml as a fallback), cached by a hash of "
    "those files, with modelyard installed into it, and run the command there.",
)


class _Progress:
    """A one-line progress bar on stderr, redrawn at most five times a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False

    def __call__(self, rows: int, done: int, total: int | None, unit: str) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.2 and (total is None or done < total):
            return
        self.drawn = now
        elapsed = now - self.started
        if total:
            share = min(done / total, 1.0)
            bar = "#" * int(share * 30)
            line = f"scoring {share:4.0%} [{bar:<30}] {rows:,} rows  {elapsed:.1f}s"
        else:
            line = f"scoring {rows:,} rows  {elapsed:.1f}s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _set_tracking_uri(tracking_uri: str | None) -> None:
    if tracking_uri:
        from modelyard.client import fluent

        fluent.set_tracking_uri(tracking_uri)


@click.command("predict")
@model_uri_option
@click.option(
    "-i",
    "--input-path",
    metavar="FILE",
    required=True,
    help="The file to score (CSV, Parquet, JSON or JSON Lines); - reads standard input.",
)
@click.option(
    "-o",
    "--output-path",
    metavar="FILE",
    default="-",
    show_default=True,
    help="Where the predictions go; - writes standard output. Written chunk by chunk.",
)
@click.option(
    "-t",
    "--content-type",
    type=click.Choice(_FORMATS),
    default=None,
    help="The input format. Default: from the input's extension (.csv, .parquet/.pq, .json, "
    ".jsonl/.ndjson). json is a request document as /invocations takes it (dataframe_split, "
    "dataframe_records, instances, inputs) or JSON Lines, one record per line.",
)
@click.option(
    "--output-format",
    type=click.Choice(_FORMATS),
    default=None,
    help='The output format. Default: from the output\'s extension, else json ({"predictions": '
    "[...]}, as /invocations answers).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    metavar="ROWS",
    help="Rows read, scored and written at a time; memory grows with this, not with the file.",
)
@click.option(
    "--params",
    "params_json",
    metavar="JSON",
    default=None,
    help="Inference params as a JSON object, passed to every predict call, e.g. '{\"k\": 5}'.",
)
@env_manager_option
@click.option(
    "--allow-pickle/--no-allow-pickle",
    default=None,
    help="Allow loading a model whose files are unpickled (trusted models only). "
    "Default: $MODELYARD_ALLOW_PICKLE, then false.",
)
@click.option(
    "--no-progress",
    is_flag=True,
    help="No progress bar (it is shown on stderr only when stderr is a terminal).",
)
@tracking_uri_option
def predict(
    model_uri: str,
    input_path: str,
    output_path: str,
    content_type: str | None,
    output_format: str | None,
    chunk_size: int,
    params_json: str | None,
    env_manager: str,
    allow_pickle: bool | None,
    no_progress: bool,
    tracking_uri: str | None,
) -> None:
    """Score a file with a model, in chunks, so files larger than memory go through."""
    from modelyard.errors import InvalidInput

    params: dict[str, Any] | None = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise InvalidInput(f"--params is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise InvalidInput("--params must be a JSON object.")
    _set_tracking_uri(tracking_uri)
    if env_manager != "local":
        from modelyard.serving.environments import reexec_in_model_env

        argv = ["models", "predict", "-m", model_uri, "-i", input_path, "-o", output_path,
                "--chunk-size", str(chunk_size), "--env-manager", env_manager]  # fmt: skip
        for flag, value in (
            ("-t", content_type),
            ("--output-format", output_format),
            ("--params", params_json),
            ("--tracking-uri", tracking_uri),
        ):
            if value is not None:
                argv += [flag, value]
        if allow_pickle is not None:
            argv.append("--allow-pickle" if allow_pickle else "--no-allow-pickle")
        if no_progress:
            argv.append("--no-progress")
        reexec_in_model_env(model_uri, env_manager, argv)
        return

    from modelyard.serving.batch import predict_file

    progress = _Progress() if not no_progress and sys.stderr.isatty() else None
    try:
        predict_file(
            model_uri,
            input_path,
            output_path,
            content_type=content_type,
            output_format=output_format,
            chunk_size=chunk_size,
            params=params,
            on_progress=progress,
            allow_pickle=allow_pickle,
        )
    finally:
        if progress is not None:
            progress.finish()


def _write_context(model_uri: str, directory: str, tracking_uri: str | None) -> str:
    from modelyard.pyfunc import resolve_model_uri
    from modelyard.serving.docker import write_context
    from modelyard.settings import load_settings

    _set_tracking_uri(tracking_uri)
    model_dir = resolve_model_uri(model_uri)
    cache = os.path.join(os.path.expanduser(load_settings().env_cache_dir), "wheels")
    return str(write_context(model_dir, directory, wheel_cache=cache, source=model_uri))


@click.command("generate-dockerfile")
@model_uri_option
@click.option(
    "-d",
    "--output-directory",
    metavar="DIR",
    default="modelyard-dockerfile",
    show_default=True,
    help="Where the build context goes: a new or empty directory.",
)
@tracking_uri_option
def generate_dockerfile(model_uri: str, output_directory: str, tracking_uri: str | None) -> None:
    """Write a Dockerfile and build context that serve the model on port 8080."""
    dockerfile = _write_context(model_uri, output_directory, tracking_uri)
    click.echo(f"Wrote {dockerfile}; build it with: docker build -t NAME {output_directory}")


@click.command("build-docker")
@model_uri_option
@click.option("-n", "--name", metavar="NAME", required=True, help="The image name (and tag).")
@tracking_uri_option
def build_docker(model_uri: str, name: str, tracking_uri: str | None) -> None:
    """Build a Docker image that serves the model on port 8080 (needs a running Docker engine)."""
    from modelyard.serving.docker import build_image, temporary_context_dir

    directory = temporary_context_dir()
    _write_context(model_uri, directory, tracking_uri)
    build_image(directory, name)
    click.echo(f"Built the image {name}; run it with: docker run -p 8080:8080 {name}")
